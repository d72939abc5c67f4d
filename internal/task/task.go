// Package task runs one subtask: it builds the subtask's operator chain,
// wires its input gate and outputs, and drives everything from a single
// goroutine (DESIGN invariant 2). Records, in-band events and control
// actions are all handled on that goroutine, so operators and their state
// need no locks.
package task

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	weirv1 "github.com/weirstream/weir/api/proto/weir/v1"
	"github.com/weirstream/weir/internal/clock"
	"github.com/weirstream/weir/internal/keygroup"
	"github.com/weirstream/weir/internal/network"
	"github.com/weirstream/weir/internal/plan"
	"github.com/weirstream/weir/internal/statebackend"
	"github.com/weirstream/weir/internal/statebackend/heap"
	"github.com/weirstream/weir/stream"
)

// Location is where a subtask runs.
type Location struct {
	TaskManagerID string
	Address       string
}

// Config describes one subtask to run.
type Config struct {
	JobID   string
	Attempt int32
	Graph   *weirv1.JobGraph
	Plan    *plan.Plan
	Vertex  *plan.Vertex
	Subtask int
	// Locate returns where subtask i of vertex v runs.
	Locate func(vertex int32, subtask int) (Location, error)
	// TaskManagerID is the taskmanager running this task: channels to
	// consumers on it stay in process.
	TaskManagerID string
	Endpoints     *network.Endpoints
	Dialer        *network.Dialer
	Clock         clock.Clock
	Logger        *slog.Logger
	// BufferTimeout bounds how long a record may wait in a partly filled
	// output buffer (Flink's execution.buffer-timeout).
	BufferTimeout time.Duration
	// Checkpointing is nil when the job takes no checkpoints.
	Checkpointing *Checkpointing
	// NewBackend opens the keyed state backend for the subtask's key
	// groups; nil means the heap backend.
	NewBackend func(r keygroup.Range) (statebackend.KeyedBackend, error)
	// LoadRestore, if set, returns the state to resume from, by operator
	// uid. Run calls it before building the chain.
	LoadRestore func(ctx context.Context) (map[string]stream.OperatorSnapshot, error)
}

// Checkpointing configures a task of a job that takes checkpoints.
type Checkpointing struct {
	// ExactlyOnce aligns barriers: an input that delivered barrier n is held
	// until every input has. Otherwise (at least once) inputs are never
	// held, and records after a barrier may be counted in its snapshot.
	ExactlyOnce bool
	// Incremental takes checkpoints (not savepoints) as native snapshots
	// where the backend can (state.backend.incremental).
	Incremental  bool
	Checkpointer Checkpointer
}

// Mode names the checkpointing mode as TaskInfo.Checkpointing does; "" for
// a nil receiver.
func (c *Checkpointing) Mode() string {
	switch {
	case c == nil:
		return ""
	case c.ExactlyOnce:
		return "EXACTLY_ONCE"
	}
	return "AT_LEAST_ONCE"
}

// Checkpointer takes a task's snapshots off its goroutine: it persists them
// and reports to the jobmanager. Its methods must not block.
type Checkpointer interface {
	// Acknowledge persists the state captured for barrier b and then
	// acknowledges the checkpoint; if persisting fails it declines. It
	// owns snap: keyed state captured in it must be encoded or discarded
	// (stream.OperatorSnapshot), and m.StateSize does not count it yet.
	Acknowledge(b *weirv1.Barrier, snap []stream.OperatorSnapshot, m *weirv1.CheckpointMetrics)
	// Decline reports that the task could not take its part of b.
	Decline(b *weirv1.Barrier, err error)
	// EndOfInput reports that a source subtask has read all its input; it
	// finishes after the job's final checkpoint completes.
	EndOfInput()
}

// Task is one running subtask.
type Task struct {
	cfg Config

	recordsIn, recordsOut atomic.Int64
	metrics               stream.MetricGroup // the functions' counters
	remoteBytesOut        atomic.Int64
	backpressuredNanos    atomic.Int64
	bytesIn, bytesOut     atomic.Int64 // all channels, local and remote
	// gate is set once by Run; Metrics reads it from other goroutines.
	gate    atomic.Pointer[network.InputGate]
	outputs []*network.Output // owned by the task goroutine

	// The mailbox: control actions from other goroutines, run by the task
	// goroutine between records.
	mail struct {
		sync.Mutex
		actions []action
	}
	kick chan struct{} // size 1: actions are waiting
}

// action is a control action for the task goroutine: exactly one field set.
type action struct {
	trigger  *weirv1.Barrier
	complete int64
	abort    int64
}

// New returns a task; Run runs it.
func New(cfg Config) *Task { return &Task{cfg: cfg, kick: make(chan struct{}, 1)} }

func (t *Task) post(a action) {
	t.mail.Lock()
	t.mail.actions = append(t.mail.actions, a)
	t.mail.Unlock()
	select {
	case t.kick <- struct{}{}:
	default:
	}
}

func (t *Task) takeMail() []action {
	t.mail.Lock()
	defer t.mail.Unlock()
	a := t.mail.actions
	t.mail.actions = nil
	return a
}

// TriggerCheckpoint asks a source subtask to snapshot and emit barrier b.
func (t *Task) TriggerCheckpoint(b *weirv1.Barrier) { t.post(action{trigger: b}) }

// NotifyCheckpointComplete tells the task checkpoint id is complete.
func (t *Task) NotifyCheckpointComplete(id int64) { t.post(action{complete: id}) }

// AbortCheckpoint tells the task checkpoint id failed.
func (t *Task) AbortCheckpoint(id int64) { t.post(action{abort: id}) }

// Metrics returns the task's current counters. Safe from any goroutine.
func (t *Task) Metrics() *weirv1.TaskMetrics {
	m := &weirv1.TaskMetrics{
		RecordsIn:           t.recordsIn.Load(),
		RecordsOut:          t.recordsOut.Load(),
		RemoteBytesOut:      t.remoteBytesOut.Load(),
		BackpressuredMillis: time.Duration(t.backpressuredNanos.Load()).Milliseconds(),
		Counters:            t.metrics.Counts(),
	}
	if g := t.gate.Load(); g != nil {
		m.RemoteBytesIn = g.RemoteBytesIn.Load()
	}
	return m
}

// FunctionCounters returns the counters of the task's functions
// (stream.MetricGroup) by name; nil when there are none. Safe from any
// goroutine.
func (t *Task) FunctionCounters() map[string]int64 { return t.metrics.Counts() }

// Counters are a task's totals since it started, as published by its
// loop at batch boundaries.
type Counters struct {
	RecordsIn, RecordsOut int64
	BytesIn, BytesOut     int64 // buffers read from and sent on channels, local or remote
	Backpressured         time.Duration
}

// Counters returns the task's current totals. Safe from any goroutine.
func (t *Task) Counters() Counters {
	return Counters{
		RecordsIn: t.recordsIn.Load(), RecordsOut: t.recordsOut.Load(),
		BytesIn: t.bytesIn.Load(), BytesOut: t.bytesOut.Load(),
		Backpressured: time.Duration(t.backpressuredNanos.Load()),
	}
}

// ErrSubsumed marks a checkpoint a task declines because a newer one
// overtook it: not a failure of checkpointing.
var ErrSubsumed = errors.New("subsumed by a newer checkpoint")

// ErrCanceled is returned by Run when the task was cancelled.
var ErrCanceled = errors.New("task: canceled")

// Run runs the subtask until its input ends (nil), it fails (the error), or
// ctx is cancelled (ErrCanceled).
func (t *Task) Run(ctx context.Context) (err error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	v := t.cfg.Vertex
	var gate *network.InputGate
	if len(v.Inputs) > 0 {
		gate = t.registerInputs()
		t.gate.Store(gate)
		defer func() {
			t.cfg.Endpoints.Unregister(gate)
			gate.Close()
		}()
	}
	outputs, err := t.openOutputs(ctx)
	if err != nil {
		if ctx.Err() != nil { // cancelled while waiting for a consumer
			return fmt.Errorf("%w: %v", ErrCanceled, context.Cause(ctx))
		}
		return err
	}
	t.outputs = outputs
	defer func() {
		if err != nil {
			for _, o := range t.outputs {
				o.Abort(err)
			}
		}
	}()

	// The state is loaded first: a native restore prepares the files the
	// backend opens.
	var restore map[string]stream.OperatorSnapshot
	if t.cfg.LoadRestore != nil {
		if restore, err = t.cfg.LoadRestore(ctx); err != nil {
			return fmt.Errorf("loading the state to restore: %w", err)
		}
	}
	var backend statebackend.KeyedBackend
	head := t.cfg.Graph.GetOperators()[v.ID]
	if k := head.GetKind(); k == weirv1.OperatorKind_OPERATOR_KIND_REDUCE || k == weirv1.OperatorKind_OPERATOR_KIND_PROCESS ||
		k == weirv1.OperatorKind_OPERATOR_KIND_WINDOW {
		r := keygroup.RangeOf(t.cfg.Subtask, v.Parallelism, int(t.cfg.Graph.GetMaxParallelism()))
		if t.cfg.NewBackend != nil {
			if backend, err = t.cfg.NewBackend(r); err != nil {
				return fmt.Errorf("opening the state backend: %w", err)
			}
		} else {
			backend = heap.New(r)
		}
		defer backend.Close()
	}
	chain, err := stream.BuildChain(t.cfg.Graph, v, stream.ChainOptions{
		Info: stream.TaskInfo{
			JobID: t.cfg.JobID, TaskName: v.Name, SubtaskIndex: t.cfg.Subtask, Parallelism: v.Parallelism,
			MaxParallelism: int(t.cfg.Graph.GetMaxParallelism()), Clock: t.cfg.Clock, Logger: t.cfg.Logger,
			Checkpointing: t.cfg.Checkpointing.Mode(), Metrics: &t.metrics,
		},
		Backend: backend,
		Writer:  t.writerFor,
		Restore: restore,
	})
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, chain.Close()) }()

	l := loop{t: t, chain: chain, gate: gate, cp: t.cfg.Checkpointing, lastFlush: t.cfg.Clock.Now()}
	if e, ok := backend.(interface{ Err() error }); ok {
		l.backendErr = e.Err
	}
	if chain.IsSource() {
		err = l.runSource(ctx)
	} else {
		err = l.runInputs(ctx)
	}
	l.publish()
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("%w: %v", ErrCanceled, context.Cause(ctx))
		}
		return err
	}
	if err := chain.Finish(); err != nil {
		return fmt.Errorf("finishing: %w", err)
	}
	for _, o := range t.outputs {
		if err := o.Finish(); err != nil {
			return fmt.Errorf("finishing outputs: %w", err)
		}
	}
	l.publish()
	return nil
}

// writerFor returns the output of edge e; outputs were opened in the order
// of Vertex.Outputs.
func (t *Task) writerFor(e plan.Edge) stream.EdgeWriter {
	for i, out := range t.cfg.Vertex.Outputs {
		if out == e {
			return t.outputs[i]
		}
	}
	panic(fmt.Sprintf("task: no output for edge %d -> %d", e.From, e.To))
}

// registerInputs creates the input gate: one channel per producer subtask
// of every input edge, registered so producers can find it.
func (t *Task) registerInputs() *network.InputGate {
	v := t.cfg.Vertex
	var keys []network.ChannelKey
	for _, e := range v.Inputs {
		from := t.cfg.Plan.Vertex(e.FromVertex)
		first, n := 0, from.Parallelism
		if e.Partitioning == weirv1.Partitioning_PARTITIONING_FORWARD {
			first, n = t.cfg.Subtask, 1
		}
		for i := first; i < first+n; i++ {
			keys = append(keys, network.ChannelKey{JobID: t.cfg.JobID, Attempt: t.cfg.Attempt,
				ProducerVertex: from.ID, ProducerSubtask: int32(i), ConsumerVertex: v.ID, ConsumerSubtask: int32(t.cfg.Subtask)})
		}
	}
	g := network.NewInputGate(len(keys))
	for i, k := range keys {
		t.cfg.Endpoints.Register(k, g, i)
	}
	return g
}

// openOutputs opens a channel to every consumer subtask of every output edge.
func (t *Task) openOutputs(ctx context.Context) ([]*network.Output, error) {
	v := t.cfg.Vertex
	var outs []*network.Output
	for _, e := range v.Outputs {
		to := t.cfg.Plan.Vertex(e.ToVertex)
		first, n := 0, to.Parallelism
		if e.Partitioning == weirv1.Partitioning_PARTITIONING_FORWARD {
			first, n = t.cfg.Subtask, 1
		}
		var chans []network.ChannelWriter
		for j := first; j < first+n; j++ {
			key := network.ChannelKey{JobID: t.cfg.JobID, Attempt: t.cfg.Attempt,
				ProducerVertex: v.ID, ProducerSubtask: int32(t.cfg.Subtask), ConsumerVertex: to.ID, ConsumerSubtask: int32(j)}
			loc, err := t.cfg.Locate(to.ID, j)
			if err != nil {
				return nil, err
			}
			var ch network.ChannelWriter
			if loc.TaskManagerID == t.cfg.TaskManagerID {
				ch, err = network.OpenLocal(ctx, t.cfg.Endpoints, key)
			} else {
				conn, derr := t.cfg.Dialer.Conn(loc.Address)
				if err = derr; err == nil {
					ch, err = network.OpenRemote(ctx, conn, key, &t.remoteBytesOut)
				}
			}
			if err != nil {
				for _, c := range chans {
					c.Abort(err)
				}
				return nil, err
			}
			chans = append(chans, ch)
		}
		outs = append(outs, network.NewOutput(e.Partitioning, int(t.cfg.Graph.GetMaxParallelism()), chans, t.cfg.Clock, t.cfg.Subtask))
	}
	return outs, nil
}
