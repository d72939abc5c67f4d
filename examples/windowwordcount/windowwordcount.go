// Package windowwordcount counts words per tumbling event-time window.
// Each input line is `epoch_millis,text`: the first field is the line's
// event time, the rest is split into words as WordCount does. When a
// window fires (the watermark, trailing the highest timestamp seen by
// --out-of-orderness, passes its end) the job emits
// `window_start_millis,word,count` for every word in it, exactly once per
// window and word; at the end of the input every window fires.
//
// It registers the program "window-wordcount":
//
//	weir run -p 2 window-wordcount --input file:///data/lines.txt --output file:///tmp/out --window 10s --out-of-orderness 2s
package windowwordcount

import (
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/weirstream/weir/connector/file"
	"github.com/weirstream/weir/connector/kafka"
	"github.com/weirstream/weir/connector/print"
	"github.com/weirstream/weir/examples/wordcount"
	"github.com/weirstream/weir/stream"
)

// Word is a word with the event time of its line.
type Word struct {
	Word string
	TS   int64
}

// WordCodec encodes a Word as a varint timestamp and the word.
type WordCodec struct{}

func (WordCodec) Append(dst []byte, v Word) []byte {
	dst = binary.AppendVarint(dst, v.TS)
	return append(dst, v.Word...)
}

func (WordCodec) Decode(src []byte) (Word, error) {
	ts, n := binary.Varint(src)
	if n <= 0 {
		return Word{}, stream.ErrShortBuffer
	}
	return Word{TS: ts, Word: string(src[n:])}, nil
}

// Count is the count of a word in a window.
type Count struct {
	WindowStart int64
	Word        string
	Count       int64
}

// CountCodec encodes a Count.
type CountCodec struct{}

func (CountCodec) Append(dst []byte, v Count) []byte {
	dst = binary.AppendVarint(dst, v.WindowStart)
	dst = binary.AppendVarint(dst, v.Count)
	return append(dst, v.Word...)
}

func (CountCodec) Decode(src []byte) (Count, error) {
	start, n := binary.Varint(src)
	if n <= 0 {
		return Count{}, stream.ErrShortBuffer
	}
	c, m := binary.Varint(src[n:])
	if m <= 0 {
		return Count{}, stream.ErrShortBuffer
	}
	return Count{WindowStart: start, Count: c, Word: string(src[n+m:])}, nil
}

// Parse splits a line `epoch_millis,text` into its words. A line whose
// first field is not a number of milliseconds fails the job with an error
// that quotes it; empty lines are skipped.
type Parse struct{}

func (Parse) FlatMap(line string, out stream.Collector[Word]) error {
	if strings.TrimSpace(line) == "" {
		return nil
	}
	field, text, ok := strings.Cut(line, ",")
	ts, err := strconv.ParseInt(strings.TrimSpace(field), 10, 64)
	if !ok || err != nil {
		return fmt.Errorf("window-wordcount: line %q: want epoch_millis,text", truncate(line))
	}
	wordcount.Tokenize(text, func(w string) { out.Collect(Word{Word: w, TS: ts}) })
	return nil
}

func truncate(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}

// EventTime is a word's timestamp.
type EventTime struct{}

func (EventTime) ExtractTimestamp(v Word, _ int64) int64 { return v.TS }

// ByWord keys words by themselves.
type ByWord struct{}

func (ByWord) Key(v Word) string { return v.Word }

// CountWords counts the words of a window.
type CountWords struct{}

func (CountWords) CreateAccumulator() int64    { return 0 }
func (CountWords) Add(_ Word, acc int64) int64 { return acc + 1 }
func (CountWords) GetResult(acc int64) Count   { return Count{Count: acc} }
func (CountWords) Merge(a, b int64) int64      { return a + b }
func (CountWords) WindowResult(ctx *stream.WindowContext[string], acc int64) (Count, error) {
	return Count{WindowStart: ctx.Window().Start, Word: ctx.Key(), Count: acc}, nil
}

// Format renders `window_start_millis,word,count`.
type Format struct{}

func (Format) Map(v Count) (string, error) {
	return strconv.FormatInt(v.WindowStart, 10) + "," + v.Word + "," + strconv.FormatInt(v.Count, 10), nil
}

func init() {
	stream.RegisterCodec[Word](WordCodec{})
	stream.RegisterCodec[Count](CountCodec{})
	stream.RegisterFlatMap[string, Word]("window-wordcount.parse", Parse{})
	stream.RegisterTimestampAssigner[Word]("window-wordcount.event-time", EventTime{})
	stream.RegisterKeySelector[Word, string]("window-wordcount.word", ByWord{})
	stream.RegisterWindowAggregate[string, Word, int64, Count]("window-wordcount.count", CountWords{})
	stream.RegisterMap[Count, string]("window-wordcount.format", Format{})
	stream.RegisterProgram(stream.Program{
		Name:        "window-wordcount",
		Description: "counts words per tumbling event-time window; input lines epoch_millis,text; emits window_start_millis,word,count when a window fires",
		Usage:       "--input URI [--output URI] [--window DURATION] [--out-of-orderness DURATION] [--rate LINES_PER_SECOND]",
		Build:       Build,
	})
}

// Build adds the window-wordcount job to env.
func Build(env *stream.Env, args []string) error {
	fs := flag.NewFlagSet("window-wordcount", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	input := fs.String("input", "", "file or directory of epoch_millis,text lines (a path or file:// URI), or a topic (kafka://BROKERS/TOPIC)")
	output := fs.String("output", "", "directory for part files (a path or file:// URI), or a topic (kafka://BROKERS/TOPIC); - or empty prints")
	window := fs.Duration("window", time.Minute, "length of the tumbling windows")
	ooo := fs.Duration("out-of-orderness", 0, "how far event times may arrive out of order")
	rate := fs.Float64("rate", 0, "at most this many input lines per second in total; 0 = unthrottled")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	switch {
	case *input == "":
		return errors.New("--input is required: the file or directory to count")
	case *window < time.Millisecond:
		return fmt.Errorf("--window %v: must be at least 1ms", *window)
	case *ooo < 0:
		return fmt.Errorf("--out-of-orderness %v: must not be negative", *ooo)
	case *rate < 0:
		return fmt.Errorf("--rate %v: must be at least 0", *rate)
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
	words := stream.AssignTimestampsAndWatermarks(stream.FlatMap[Word](lines, Parse{}),
		stream.ForBoundedOutOfOrderness[Word](EventTime{}, *ooo))
	windows := stream.KeyBy[string](words, ByWord{}).Window(stream.TumblingEventTimeWindows(*window))
	out := stream.Map[string](stream.AggregateWindow[Count](windows, CountWords{}), Format{})
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
