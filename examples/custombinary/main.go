// Command custombinary is what a user with their own functions builds: one
// binary that registers them and runs as either process,
//
//	custombinary jobmanager [flags]
//	custombinary taskmanager [flags]
//
// Go cannot ship code to a running cluster, so the functions a job names
// must be compiled into the jobmanager and taskmanagers that run it. This
// example registers a paced sink (standing in for a slow external system)
// and a program that uses it, slow-wordcount:
//
//	weir run -p 2 slow-wordcount --lines 100000 --records-per-second 50000 --output /tmp/out
package main

import (
	"errors"
	"flag"
	"io"
	"time"

	"github.com/weirstream/weir/connector/file"
	"github.com/weirstream/weir/connector/generator"
	"github.com/weirstream/weir/entrypoint"
	"github.com/weirstream/weir/examples/wordcount"
	"github.com/weirstream/weir/stream"
)

func main() { entrypoint.Main() }

func init() {
	stream.RegisterSink[string]("example.paced-files", PacedSink{})
	stream.RegisterProgram(stream.Program{
		Name:        "slow-wordcount",
		Description: "WordCount over generated lines into a sink that accepts a limited number of records per second",
		Usage:       "--lines N --records-per-second R --output DIR",
		Build:       buildSlowWordCount,
	})
}

// PacedSink writes part files like the file sink, but accepts at most
// RecordsPerSecond records per second per subtask, like a slow database.
type PacedSink struct {
	Path             string  `json:"path"`
	RecordsPerSecond float64 `json:"records_per_second"`
}

// Validate checks the parameters.
func (s PacedSink) Validate() error {
	if s.RecordsPerSecond <= 0 {
		return errors.New("paced sink: records_per_second must be positive")
	}
	return file.Sink{Path: s.Path}.Validate()
}

// CreateWriter wraps a file sink writer.
func (s PacedSink) CreateWriter(ctx *stream.SinkContext) (stream.SinkWriter[string], error) {
	w, err := file.Sink{Path: s.Path}.CreateWriter(ctx)
	if err != nil {
		return nil, err
	}
	return &pacedWriter{SinkWriter: w, ctx: ctx, every: time.Duration(float64(time.Second) / s.RecordsPerSecond)}, nil
}

type pacedWriter struct {
	stream.SinkWriter[string]
	ctx   *stream.SinkContext
	every time.Duration
	start time.Time
	n     int64
}

func (w *pacedWriter) Write(v string) error {
	if w.n == 0 {
		w.start = w.ctx.Clock.Now()
	}
	w.n++
	due := w.start.Add(time.Duration(w.n) * w.every)
	if ahead := due.Sub(w.ctx.Clock.Now()); ahead > time.Millisecond {
		<-w.ctx.Clock.After(ahead) // the external system is slow: hold the task
	}
	return w.SinkWriter.Write(v)
}

func buildSlowWordCount(env *stream.Env, args []string) error {
	fs := flag.NewFlagSet("slow-wordcount", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	lines := fs.Int64("lines", 100000, "generated input lines")
	words := fs.Int("words", 1000, "vocabulary size of the generated lines")
	rate := fs.Float64("records-per-second", 10000, "records the sink accepts per second per subtask")
	output := fs.String("output", "", "output directory")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *output == "" {
		return errors.New("--output is required")
	}
	src := stream.FromSource[string](env, generator.Source{Count: *lines, Seed: 1, Words: *words}, "lines")
	counts := stream.KeyBy[string](stream.FlatMap[wordcount.WordCount](src, wordcount.Tokenizer{}), wordcount.WordKey{}).Reduce(wordcount.Sum{})
	stream.Map[string](counts, wordcount.Format{}).SinkTo(PacedSink{Path: *output, RecordsPerSecond: *rate}, "paced-files")
	return nil
}
