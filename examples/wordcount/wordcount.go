// Package wordcount is the WordCount example with Flink's semantics: each
// line is lowercased and split on every character that is not a Unicode
// letter or digit; empty tokens are dropped; the words are keyed and counted,
// and for every input word the job emits `word,count` with the updated
// running count.
//
// It registers the program "wordcount":
//
//	weir run -p 2 wordcount --input file:///data/text.txt --output file:///tmp/out
//
// data/hamlet.txt (Hamlet's soliloquy, public domain) is the bundled input
// that `make run` counts.
package wordcount

import (
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/weirstream/weir/connector/file"
	"github.com/weirstream/weir/connector/kafka"
	"github.com/weirstream/weir/connector/print"
	"github.com/weirstream/weir/stream"
)

// WordCount is a word and its count.
type WordCount struct {
	Word  string
	Count int64
}

// Codec encodes a WordCount as a length-prefixed word and a varint count.
type Codec struct{}

func (Codec) Append(dst []byte, v WordCount) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(v.Word)))
	dst = append(dst, v.Word...)
	return binary.AppendVarint(dst, v.Count)
}

func (Codec) Decode(src []byte) (WordCount, error) {
	n, w := binary.Uvarint(src)
	if w <= 0 || uint64(len(src)-w) < n {
		return WordCount{}, stream.ErrShortBuffer
	}
	word := string(src[w : w+int(n)])
	c, w2 := binary.Varint(src[w+int(n):])
	if w2 <= 0 {
		return WordCount{}, stream.ErrShortBuffer
	}
	return WordCount{Word: word, Count: c}, nil
}

// Tokenizer splits lines into words, each counted once.
type Tokenizer struct{}

func (Tokenizer) FlatMap(line string, out stream.Collector[WordCount]) error {
	Tokenize(line, func(w string) { out.Collect(WordCount{Word: w, Count: 1}) })
	return nil
}

// Tokenize calls emit for every word of line: lowercased, split on every
// rune that is not a letter or digit, empty tokens dropped.
func Tokenize(line string, emit func(string)) {
	line = lower(line)
	start := -1
	for i := 0; i < len(line); {
		r, size := rune(line[i]), 1
		if r >= utf8.RuneSelf {
			r, size = utf8.DecodeRuneInString(line[i:])
		}
		word := r < utf8.RuneSelf && (r >= 'a' && r <= 'z' || r >= '0' && r <= '9') ||
			r >= utf8.RuneSelf && (unicode.IsLetter(r) || unicode.IsDigit(r))
		switch {
		case word && start < 0:
			start = i
		case !word && start >= 0:
			emit(line[start:i])
			start = -1
		}
		i += size
	}
	if start >= 0 {
		emit(line[start:])
	}
}

// lower is strings.ToLower without the copy for lines that have no
// upper-case letters.
func lower(s string) string {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= utf8.RuneSelf || ('A' <= c && c <= 'Z') {
			return strings.ToLower(s)
		}
	}
	return s
}

// WordKey keys a WordCount by its word.
type WordKey struct{}

func (WordKey) Key(v WordCount) string { return v.Word }

// Sum adds counts.
type Sum struct{}

func (Sum) Reduce(acc, in WordCount) (WordCount, error) {
	acc.Count += in.Count
	return acc, nil
}

// Format renders `word,count`.
type Format struct{}

func (Format) Map(v WordCount) (string, error) {
	return v.Word + "," + strconv.FormatInt(v.Count, 10), nil
}

func init() {
	stream.RegisterCodec[WordCount](Codec{})
	stream.RegisterFlatMap[string, WordCount]("wordcount.tokenize", Tokenizer{})
	stream.RegisterKeySelector[WordCount, string]("wordcount.word", WordKey{})
	stream.RegisterReduce[WordCount]("wordcount.sum", Sum{})
	stream.RegisterMap[WordCount, string]("wordcount.format", Format{})
	stream.RegisterProgram(stream.Program{
		Name:        "wordcount",
		Description: "counts words in text files; emits word,count for every word with its running count",
		Usage:       "--input URI [--output URI] [--rate LINES_PER_SECOND]  (URIs: a path, file://, or kafka://BROKERS/TOPIC)",
		Build:       Build,
	})
}

// Build adds the WordCount job to env.
func Build(env *stream.Env, args []string) error {
	fs := flag.NewFlagSet("wordcount", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	input := fs.String("input", "", "file or directory to count (a path or file:// URI), or a topic (kafka://BROKERS/TOPIC)")
	output := fs.String("output", "", "directory for part files (a path or file:// URI), or a topic (kafka://BROKERS/TOPIC); - or empty prints")
	rate := fs.Float64("rate", 0, "at most this many input lines per second in total; 0 = unthrottled")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if *input == "" {
		return errors.New("--input is required: the file or directory to count")
	}
	if *rate < 0 {
		return fmt.Errorf("--rate %v must be at least 0", *rate)
	}
	var lines stream.DataStream[string]
	if strings.HasPrefix(*input, kafka.Scheme+"://") {
		if *rate != 0 {
			return errors.New("--rate applies to file input only")
		}
		src, err := kafka.ParseSource(*input)
		if err != nil {
			return fmt.Errorf("--input: %w", err)
		}
		lines = stream.FromSource[string](env, src, "lines")
	} else {
		lines = stream.FromSource[string](env, file.Source{Path: *input, Rate: *rate}, "lines")
	}
	words := stream.FlatMap[WordCount](lines, Tokenizer{})
	counts := stream.KeyBy[string](words, WordKey{}).Reduce(Sum{})
	out := stream.Map[string](counts, Format{})
	switch {
	case *output == "" || *output == "-":
		out.SinkTo(print.Sink{}, "print")
	case strings.HasPrefix(*output, kafka.Scheme+"://"):
		sink, err := kafka.ParseSink(*output)
		if err != nil {
			return fmt.Errorf("--output: %w", err)
		}
		out.SinkTo(sink, "kafka")
	default:
		out.SinkTo(file.Sink{Path: *output}, "files")
	}
	return nil
}
