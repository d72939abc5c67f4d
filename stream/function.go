package stream

// Collector receives the records an operator emits.
type Collector[T any] interface {
	Collect(v T)
}

// MapFunction turns each record into exactly one record.
type MapFunction[In, Out any] interface {
	Map(in In) (Out, error)
}

// FlatMapFunction turns each record into zero or more records.
type FlatMapFunction[In, Out any] interface {
	FlatMap(in In, out Collector[Out]) error
}

// FilterFunction keeps the records for which it returns true.
type FilterFunction[T any] interface {
	Filter(in T) (bool, error)
}

// KeySelector extracts the key a keyed stream partitions by. It must be
// deterministic: the same record always has the same key.
type KeySelector[T, K any] interface {
	Key(in T) K
}

// ReduceFunction combines two values into one. In a keyed Reduce, acc is the
// running value for the key and in the new record.
type ReduceFunction[T any] interface {
	Reduce(acc, in T) (T, error)
}

// AggregateFunction incrementally aggregates values of In into an
// accumulator, read out as Out.
type AggregateFunction[In, Acc, Out any] interface {
	CreateAccumulator() Acc
	Add(in In, acc Acc) Acc
	GetResult(acc Acc) Out
	Merge(a, b Acc) Acc
}

// KeyedProcessFunction handles each record of a keyed stream with access to
// keyed state scoped to the record's key.
type KeyedProcessFunction[K, In, Out any] interface {
	// Open runs once per subtask before the first record; declare state here.
	Open(ctx *OpenContext) error
	ProcessElement(ctx *KeyedContext[K], in In, out Collector[Out]) error
}

// Opener is implemented by map, flat-map, filter and reduce functions that
// need set-up in their subtask (Flink's RichFunction.open): Open runs once
// before the first record.
type Opener interface {
	Open(ctx *OpenContext) error
}

// Checkpointed is implemented by source readers, sink writers and functions
// that keep state outside keyed state: a source's read position, a sink's
// pending transactions. The state is a list of opaque elements, so that it
// can be redistributed when a job resumes at another parallelism (Flink's
// operator list state).
type Checkpointed interface {
	// SnapshotState returns the state as of the checkpoint barrier. It runs
	// on the task goroutine and should be quick; the returned slices must
	// not be modified afterwards.
	SnapshotState(checkpointID int64) ([][]byte, error)
	// RestoreState loads the state saved by a checkpoint or savepoint,
	// before the first record. It is not called on a fresh start.
	RestoreState(elements [][]byte) error
}

// SnapshotSyncer is implemented by Checkpointed objects whose snapshot
// becomes durable only after slow I/O: an exactly-once file sink's
// pre-commit is only safe once the part files it closed and the
// directory they were renamed in are synced. SnapshotState then does the
// quick part at the barrier, and the task runs SyncSnapshot off its
// goroutine before it acknowledges the checkpoint, so that the task does
// not stop processing records for a disk's sync. A checkpoint completes
// only if its SyncSnapshot succeeded.
type SnapshotSyncer interface {
	Checkpointed
	// SyncSnapshot makes durable what SnapshotState(checkpointID), and
	// every SnapshotState before it, returned. It runs on another
	// goroutine than the task's, at the same time as the object's other
	// methods, and may run for a checkpoint that is abandoned
	// meanwhile. An error declines the checkpoint; the object should
	// also fail its next call on the task goroutine when the error means
	// that what it wrote can no longer be trusted.
	SyncSnapshot(checkpointID int64) error
}

// UnionRedistributed is implemented by Checkpointed objects that must see
// the elements of every old subtask when a job resumes at another
// parallelism, and keep what they own (Flink's union list state): a Kafka
// source keeps the offsets of its partitions, a sink publishes every
// pending file or transaction. Other Checkpointed objects get an even
// share: the old subtasks' elements in subtask order, element j to new
// subtask j % parallelism; a subtask whose share is empty is restored with
// no elements.
type UnionRedistributed interface {
	Checkpointed
	// UnionRedistribution marks the type; it is never called.
	UnionRedistribution()
}

// CheckpointListener is implemented by those that act when a checkpoint
// completes, such as sinks that commit transactions pre-committed at the
// barrier (DESIGN invariant 6).
type CheckpointListener interface {
	// NotifyCheckpointComplete is called when checkpoint checkpointID, and
	// with it every earlier one, is durable. It may be called more than
	// once for the same checkpoint and must be idempotent.
	NotifyCheckpointComplete(checkpointID int64) error
}

// Closer is implemented by functions, readers and writers that hold resources.
type Closer interface {
	Close() error
}

// Validator is implemented by functions, sources and sinks that can check
// their parameters. The jobmanager calls Validate when a job is submitted, so
// a bad parameter is rejected before anything runs.
type Validator interface {
	Validate() error
}
