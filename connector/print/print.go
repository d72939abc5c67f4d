package print

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"

	"github.com/weirstream/weir/stream"
)

// bufferSize is how much output a writer collects before writing it.
const bufferSize = 64 << 10

func init() { stream.RegisterSink[string]("weir.print", Sink{}) }

// Sink prints records. Its fields are the job parameters.
type Sink struct {
	// Prefix starts every line, followed by "> " (see the package doc).
	Prefix string `json:"prefix,omitempty"`
	// Target is "stdout" (the default when empty) or "stderr".
	Target string `json:"target,omitempty"`
}

var (
	_ stream.Sink[string]       = Sink{}
	_ stream.Validator          = Sink{}
	_ stream.SinkWriter[string] = (*writer)(nil)
)

// Validate checks Target.
func (s Sink) Validate() error {
	switch s.Target {
	case "", "stdout", "stderr":
		return nil
	}
	return fmt.Errorf("print sink: target %q must be \"stdout\" or \"stderr\"", s.Target)
}

// CreateWriter returns the writer of subtask ctx.SubtaskIndex.
func (s Sink) CreateWriter(ctx *stream.SinkContext) (stream.SinkWriter[string], error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	out := os.Stdout
	if s.Target == "stderr" {
		out = os.Stderr
	}
	return newWriter(out, linePrefix(s.Prefix, ctx.SubtaskIndex, ctx.Parallelism)), nil
}

// linePrefix returns what starts every line of a subtask, as Flink's
// PrintSinkOutputWriter does.
func linePrefix(prefix string, subtask, parallelism int) string {
	if parallelism > 1 {
		if prefix != "" {
			prefix += ":"
		}
		prefix += strconv.Itoa(subtask + 1)
	}
	if prefix != "" {
		prefix += "> "
	}
	return prefix
}

// outMu serialises the writes of all print writers in the process, which
// share stdout and stderr.
var outMu sync.Mutex

// writer buffers a subtask's lines. Only the task goroutine uses it.
type writer struct {
	out    io.Writer
	prefix string
	buf    []byte
}

func newWriter(out io.Writer, prefix string) *writer {
	return &writer{out: out, prefix: prefix, buf: make([]byte, 0, bufferSize)}
}

// Write appends v as a line, writing the buffer out when it is full.
func (w *writer) Write(v string) error {
	if len(w.buf) > 0 && len(w.buf)+len(w.prefix)+len(v)+1 > bufferSize {
		if err := w.Flush(); err != nil {
			return err
		}
	}
	w.buf = append(w.buf, w.prefix...)
	w.buf = append(w.buf, v...)
	w.buf = append(w.buf, '\n')
	if len(w.buf) >= bufferSize { // a line longer than the buffer
		return w.Flush()
	}
	return nil
}

// Flush writes out the buffered lines.
func (w *writer) Flush() error {
	if len(w.buf) == 0 {
		return nil
	}
	outMu.Lock()
	_, err := w.out.Write(w.buf)
	outMu.Unlock()
	if cap(w.buf) > bufferSize {
		w.buf = make([]byte, 0, bufferSize) // drop a buffer grown by a long line
	} else {
		w.buf = w.buf[:0]
	}
	if err != nil {
		return fmt.Errorf("print sink: %w", err)
	}
	return nil
}

func (w *writer) Finish() error { return w.Flush() }

// Close writes out what is buffered: printed output is for people, who
// want to see the last lines before a failure too.
func (w *writer) Close() error { return w.Flush() }
