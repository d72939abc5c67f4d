package stream

import (
	"log/slog"

	"github.com/weirstream/weir/internal/clock"
)

// Source creates one reader per subtask of a source operator. A Source value
// is a job parameter: its exported fields are encoded into the job graph, and
// every subtask decodes its own copy.
type Source[T any] interface {
	CreateReader(ctx *SourceContext) (SourceReader[T], error)
}

// PollStatus tells the task what a reader can do next.
type PollStatus int

const (
	// PollMore means more records may be available right away.
	PollMore PollStatus = iota + 1
	// PollIdle means nothing is available now; the task waits on Available.
	PollIdle
	// PollEnd means the reader is exhausted: a bounded source has finished.
	PollEnd
)

// SourceReader reads the records of one source subtask. It is driven by the
// task goroutine, which calls PollNext between handling control events
// (checkpoint barriers, cancellation), so PollNext must not block: it emits
// at most a batch of records (a few thousand) and returns.
type SourceReader[T any] interface {
	PollNext(out Collector[T]) (PollStatus, error)
	// Available returns a channel that is ready when a reader that returned
	// PollIdle may have records again.
	Available() <-chan struct{}
	Close() error
}

// SourceContext describes the subtask a reader is created for.
type SourceContext struct {
	TaskInfo
}

// TaskInfo identifies a subtask to the code running in it.
type TaskInfo struct {
	JobID          string
	TaskName       string
	SubtaskIndex   int
	Parallelism    int
	MaxParallelism int
	// Checkpointing is the job's checkpointing mode: "EXACTLY_ONCE",
	// "AT_LEAST_ONCE", or "" when the job takes no checkpoints. Sinks use it
	// to choose how they commit.
	Checkpointing string
	Clock         clock.Clock
	Logger        *slog.Logger
	// Metrics holds the subtask's counters; nil outside a runtime
	// (MetricGroup's methods accept a nil group).
	Metrics *MetricGroup
}

// Sink creates one writer per subtask of a sink operator.
type Sink[T any] interface {
	CreateWriter(ctx *SinkContext) (SinkWriter[T], error)
}

// SinkWriter writes the records of one sink subtask.
type SinkWriter[T any] interface {
	Write(v T) error
	// Finish is called once at end of input: the writer completes its
	// output (closes and publishes files) before the job reports FINISHED.
	Finish() error
	// Close releases resources. After a failure or cancellation Close is
	// called without Finish, and incomplete output stays unpublished.
	Close() error
}

// Flusher is implemented by sink writers that buffer output. The task calls
// Flush whenever its input goes idle, so buffered output does not wait for
// more input to arrive.
type Flusher interface {
	Flush() error
}

// SinkContext describes the subtask a writer is created for.
type SinkContext struct {
	TaskInfo
}
