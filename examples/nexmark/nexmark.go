// Package nexmark holds the Nexmark benchmark queries q0, q1, q2, q3, q4,
// q5, q7 and q8 as built-in programs over the weir.nexmark source, with
// nexmark-flink's semantics (github.com/nexmark/nexmark,
// nexmark-flink/src/main/resources/queries):
//
//	weir run -p 2 nexmark-q5 --events 10000000 [--output DIR]
//
// Every program takes the source's parameters as flags (--events, --rate,
// --seed, --base-time, --throttle) and --output: empty discards the results
// (nexmark-flink's blackhole sink), - prints them, anything else is a
// directory for part files of CSV lines. docs/nexmark.md describes each
// query and how it maps onto Weir's operators.
package nexmark

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"

	"github.com/weirstream/weir/connector/file"
	"github.com/weirstream/weir/connector/nexmark"
	"github.com/weirstream/weir/connector/print"
	"github.com/weirstream/weir/stream"
)

// DefaultEvents is the number of events a program generates without
// --events.
const DefaultEvents = 10_000_000

// options are the flags every query takes.
type options struct {
	source nexmark.Source
	output string
}

func parseFlags(name string, args []string) (*options, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	o := &options{}
	fs.Int64Var(&o.source.Events, "events", DefaultEvents, "events to generate across all subtasks; 0 = unbounded")
	fs.Float64Var(&o.source.Rate, "rate", nexmark.DefaultRate, "event-time rate in events per second across all subtasks")
	fs.Int64Var(&o.source.Seed, "seed", 0, "seed of the random fields")
	fs.Int64Var(&o.source.BaseTime, "base-time", 0, "event time of the first event, in milliseconds since the epoch")
	fs.BoolVar(&o.source.Throttle, "throttle", false, "emit events at --rate in wall-clock time instead of as fast as possible")
	fs.StringVar(&o.output, "output", "", "directory for part files (a path or file:// URI); - prints; empty discards")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if o.source.Rate == 0 {
		return nil, errors.New("--rate must be positive")
	}
	if err := o.source.Validate(); err != nil {
		return nil, err
	}
	return o, nil
}

// query is one registered Nexmark program.
type query struct {
	name, description string
	build             func(events stream.DataStream[nexmark.Event], o *options)
}

func register(q query) {
	stream.RegisterProgram(stream.Program{
		Name:        "nexmark-" + q.name,
		Description: q.description,
		Usage:       "[--events N] [--rate EVENTS_PER_SECOND] [--seed N] [--base-time MILLIS] [--throttle] [--output DIR|-]",
		Build: func(env *stream.Env, args []string) error {
			o, err := parseFlags("nexmark-"+q.name, args)
			if err != nil {
				return err
			}
			q.build(stream.FromSource[nexmark.Event](env, o.source, "nexmark"), o)
			return nil
		},
	})
}

// Blackhole discards every record, as nexmark-flink's blackhole sink: the
// benchmark measures the query, not an output system.
type Blackhole[T any] struct{}

func (Blackhole[T]) CreateWriter(*stream.SinkContext) (stream.SinkWriter[T], error) {
	return blackholeWriter[T]{}, nil
}

type blackholeWriter[T any] struct{}

func (blackholeWriter[T]) Write(T) error  { return nil }
func (blackholeWriter[T]) Finish() error  { return nil }
func (blackholeWriter[T]) Close() error   { return nil }
func (blackholeWriter[T]) Flush() error   { return nil }
func (blackholeWriter[T]) String() string { return "blackhole" }

// csvRecord is a query result that renders itself as a CSV line.
type csvRecord interface{ AppendCSV(dst []byte) []byte }

// Format renders a result as a CSV line.
type Format[T csvRecord] struct{}

func (Format[T]) Map(v T) (string, error) { return string(v.AppendCSV(nil)), nil }

// registerOutput registers the sinks and formatter of result type T.
func registerOutput[T csvRecord](name string) {
	stream.RegisterSink[T]("nexmark.blackhole."+name, Blackhole[T]{})
	stream.RegisterMap[T, string]("nexmark.format."+name, Format[T]{})
}

// sinkTo writes the results as o.output says.
func sinkTo[T csvRecord](s stream.DataStream[T], o *options) {
	switch o.output {
	case "":
		s.SinkTo(Blackhole[T]{}, "blackhole")
	case "-":
		stream.Map[string](s, Format[T]{}).SinkTo(print.Sink{}, "print")
	default:
		stream.Map[string](s, Format[T]{}).SinkTo(file.Sink{Path: o.output}, "files")
	}
}

func appendInt(dst []byte, v int64) []byte { return strconv.AppendInt(dst, v, 10) }

// appendCSVString appends s quoted if it holds a comma or a quote.
func appendCSVString(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == ',' || c == '"' || c == '\n' {
			return strconv.AppendQuote(dst, s)
		}
	}
	return append(dst, s...)
}
