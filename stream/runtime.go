package stream

import (
	"errors"
	"fmt"

	weirv1 "github.com/weirstream/weir/api/proto/weir/v1"
	"github.com/weirstream/weir/internal/plan"
	"github.com/weirstream/weir/internal/statebackend"
)

// This file is the runtime's side of the package: internal/task builds the
// operator chain of a deployed task with BuildChain and drives it. User code
// does not call it.

// EdgeWriter receives the encoded records an operator sends over a network
// edge. keyHash is the key's hash for key-group partitioned edges, else 0.
// rec is valid only during the call.
type EdgeWriter interface {
	WriteRecord(rec []byte, keyHash uint64) error
}

// Chain is the instantiated operator chain of one subtask. It is driven by
// the task goroutine only.
type Chain struct {
	source interface {
		poll() (PollStatus, error)
		available() <-chan struct{}
	}
	input     func([]byte) bool
	fail      failure
	finishers []func() error
	flushers  []func() error
	closers   []func() error
	stateful  []statefulOp
	listeners []CheckpointListener
	backend   statebackend.KeyedBackend
	headUID   string

	recordsIn, recordsOut int64
}

type statefulOp struct {
	uid string
	cp  Checkpointed
}

// OperatorSnapshot is one operator's part of a subtask's snapshot.
type OperatorSnapshot struct {
	UID string
	// Keyed is the keyed state in the canonical format (statebackend);
	// nil for operators without keyed state.
	Keyed []byte
	// Elements is the operator's list state (Checkpointed).
	Elements [][]byte
	// Rescaled marks state saved at another parallelism: Keyed holds the
	// subtask's key groups gathered from every old subtask, and Elements
	// is the union of every old subtask's elements, in old subtask order,
	// which the chain redistributes (see UnionRedistributed).
	Rescaled bool
}

type buildContext struct {
	uid     string // operator being built
	info    TaskInfo
	backend statebackend.KeyedBackend
	fail    *failure
	chain   *Chain
	keyer   any // func(In) []byte for a keyed head
}

// ChainOptions are what BuildChain needs besides the graph.
type ChainOptions struct {
	Info TaskInfo
	// Backend holds the subtask's keyed state; nil if the chain is not keyed.
	Backend statebackend.KeyedBackend
	// Writer returns the writer for the network edge e out of the chain.
	Writer func(e plan.Edge) EdgeWriter
	// Restore holds the state to resume from, by operator uid; nil on a
	// fresh start.
	Restore map[string]OperatorSnapshot
}

// BuildChain instantiates the operators of vertex v of graph g.
func BuildChain(g *weirv1.JobGraph, v *plan.Vertex, opts ChainOptions) (_ *Chain, err error) {
	c := &Chain{}
	rt := &buildContext{info: opts.Info, backend: opts.Backend, chain: c, fail: &c.fail}
	defer func() {
		if err != nil {
			err = errors.Join(err, c.Close())
		}
	}()
	ops := g.GetOperators()
	head := ops[v.ID]
	c.backend, c.headUID = opts.Backend, head.GetUid()
	if r, ok := opts.Restore[head.GetUid()]; ok && r.Keyed != nil {
		if opts.Backend == nil {
			return nil, fmt.Errorf("operator %q: the snapshot has keyed state but the operator is not keyed", head.GetName())
		}
		if err := opts.Backend.Restore(r.Keyed); err != nil {
			return nil, fmt.Errorf("operator %q: restoring keyed state: %w", head.GetName(), err)
		}
	}
	for _, in := range v.Inputs {
		if in.Partitioning == weirv1.Partitioning_PARTITIONING_KEY_GROUP {
			e, fn, err := lookupFunction(in.Key)
			if err != nil {
				return nil, fmt.Errorf("operator %q: key selector: %w", head.GetName(), err)
			}
			if opts.Backend != nil {
				rt.keyer = e.keyer(fn, rt)
			}
			break
		}
	}
	var next any // input of the operator after the current one in the chain
	for i := len(v.Ops) - 1; i >= 0; i-- {
		op := ops[v.Ops[i]]
		e, fn, err := lookupFunction(op.GetFunction())
		if err != nil {
			return nil, fmt.Errorf("operator %q: %w", op.GetName(), err)
		}
		var outs []any
		if next != nil {
			outs = append(outs, next)
		}
		for _, out := range v.Outputs {
			if out.From != op.GetId() {
				continue
			}
			w := opts.Writer(out)
			if out.Partitioning == weirv1.Partitioning_PARTITIONING_KEY_GROUP {
				ke, sel, err := lookupFunction(out.Key)
				if err != nil {
					return nil, fmt.Errorf("operator %q: key selector: %w", op.GetName(), err)
				}
				outs = append(outs, ke.keyedEncoder(sel, w, rt))
			} else {
				outs = append(outs, e.out.encoder(w, rt))
			}
		}
		var out any
		switch {
		case e.out == nil: // a sink
		case len(outs) == 0:
			return nil, fmt.Errorf("operator %q: output goes nowhere", op.GetName())
		default:
			out = e.out.fanout(outs)
		}
		switch e.kind {
		case weirv1.OperatorKind_OPERATOR_KIND_MAP, weirv1.OperatorKind_OPERATOR_KIND_FLAT_MAP,
			weirv1.OperatorKind_OPERATOR_KIND_FILTER, weirv1.OperatorKind_OPERATOR_KIND_REDUCE:
			if o, ok := fn.(Opener); ok {
				if err := o.Open(&OpenContext{TaskInfo: rt.info}); err != nil {
					return nil, fmt.Errorf("operator %q: open: %w", op.GetName(), err)
				}
			}
		}
		rt.uid = op.GetUid()
		if e.kind != weirv1.OperatorKind_OPERATOR_KIND_SOURCE && e.kind != weirv1.OperatorKind_OPERATOR_KIND_SINK {
			rt.addStateful(fn)
		}
		in, err := e.build(rt, fn, out)
		if err != nil {
			return nil, fmt.Errorf("operator %q: %w", op.GetName(), err)
		}
		if err := c.restore(op.GetUid(), opts.Restore, opts.Info); err != nil {
			return nil, fmt.Errorf("operator %q: restoring state: %w", op.GetName(), err)
		}
		if cl, ok := fn.(Closer); ok && e.kind != weirv1.OperatorKind_OPERATOR_KIND_SOURCE &&
			e.kind != weirv1.OperatorKind_OPERATOR_KIND_SINK && e.kind != weirv1.OperatorKind_OPERATOR_KIND_PROCESS {
			c.closers = append(c.closers, cl.Close)
		}
		next = in
	}
	e, _ := lookupName(head.GetFunction().GetName())
	if e.kind == weirv1.OperatorKind_OPERATOR_KIND_SOURCE {
		c.source = next.(interface {
			poll() (PollStatus, error)
			available() <-chan struct{}
		})
	} else {
		c.input = e.in.decoder(next, rt)
	}
	// Finish runs head first so records a finishing operator flushes reach
	// the operators after it before they finish; the build ran tail first.
	for i, j := 0, len(c.finishers)-1; i < j; i, j = i+1, j-1 {
		c.finishers[i], c.finishers[j] = c.finishers[j], c.finishers[i]
	}
	return c, nil
}

// addStateful records obj's state and checkpoint hooks for the operator
// being built.
func (rt *buildContext) addStateful(obj any) {
	if cp, ok := obj.(Checkpointed); ok {
		rt.chain.stateful = append(rt.chain.stateful, statefulOp{uid: rt.uid, cp: cp})
	}
	if l, ok := obj.(CheckpointListener); ok {
		rt.chain.listeners = append(rt.chain.listeners, l)
	}
}

// restore hands the restored list state of operator uid to its
// Checkpointed object. State saved at another parallelism goes whole to
// objects that are UnionRedistributed and in an even share to the others.
func (c *Chain) restore(uid string, from map[string]OperatorSnapshot, info TaskInfo) error {
	r, ok := from[uid]
	if !ok {
		return nil
	}
	for _, s := range c.stateful {
		if s.uid != uid {
			continue
		}
		if _, union := s.cp.(UnionRedistributed); r.Rescaled && !union {
			return s.cp.RestoreState(EvenShare(r.Elements, info.SubtaskIndex, info.Parallelism))
		}
		return s.cp.RestoreState(r.Elements)
	}
	if len(r.Elements) > 0 {
		return fmt.Errorf("the snapshot has operator state for %q, which keeps none", uid)
	}
	return nil
}

// EvenShare returns subtask's share of elements, the union of the old
// subtasks' operator state, when a job resumes at parallelism: element j
// goes to subtask j % parallelism (Flink's even-split redistribution).
func EvenShare(elements [][]byte, subtask, parallelism int) [][]byte {
	var out [][]byte
	for j := subtask; j < len(elements); j += parallelism {
		out = append(out, elements[j])
	}
	return out
}

// Snapshot captures the state of every operator of the chain for
// checkpoint id: the synchronous part of a checkpoint.
func (c *Chain) Snapshot(id int64) ([]OperatorSnapshot, error) {
	var out []OperatorSnapshot
	if c.backend != nil {
		keyed, err := c.backend.Snapshot()
		if err != nil {
			return nil, fmt.Errorf("snapshotting keyed state: %w", err)
		}
		out = append(out, OperatorSnapshot{UID: c.headUID, Keyed: keyed})
	}
	for _, s := range c.stateful {
		elems, err := s.cp.SnapshotState(id)
		if err != nil {
			return nil, fmt.Errorf("snapshotting %q: %w", s.uid, err)
		}
		if len(out) > 0 && out[0].UID == s.uid {
			out[0].Elements = elems
			continue
		}
		out = append(out, OperatorSnapshot{UID: s.uid, Elements: elems})
	}
	return out, c.fail.err
}

// NotifyCheckpointComplete tells every listener that checkpoint id is
// complete.
func (c *Chain) NotifyCheckpointComplete(id int64) error {
	for _, l := range c.listeners {
		if err := l.NotifyCheckpointComplete(id); err != nil {
			return err
		}
	}
	return nil
}

func lookupFunction(f *weirv1.Function) (*entry, any, error) {
	e, ok := lookupName(f.GetName())
	if !ok {
		return nil, nil, fmt.Errorf("unknown function %q", f.GetName())
	}
	fn, err := e.decodeFunction(f.GetParams())
	if err != nil {
		return nil, nil, err
	}
	return e, fn, nil
}

// IsSource reports whether the chain starts with a source.
func (c *Chain) IsSource() bool { return c.source != nil }

// Poll asks the source for its next batch of records.
func (c *Chain) Poll() (PollStatus, error) {
	st, err := c.source.poll()
	if err == nil {
		err = c.fail.err
	}
	return st, err
}

// Available is ready when an idle source may have records again.
func (c *Chain) Available() <-chan struct{} { return c.source.available() }

// Process runs one encoded input record through the chain.
func (c *Chain) Process(rec []byte) error {
	c.recordsIn++
	c.input(rec)
	return c.fail.err
}

// Flush pushes out what buffering sinks hold; the task calls it when its
// input goes idle.
func (c *Chain) Flush() error {
	for _, f := range c.flushers {
		if err := f(); err != nil {
			return err
		}
	}
	return nil
}

// Finish completes the chain's output at end of input.
func (c *Chain) Finish() error {
	for _, f := range c.finishers {
		if err := f(); err != nil {
			return err
		}
	}
	return c.fail.err
}

// Close releases every operator's resources, tail first.
func (c *Chain) Close() error {
	var errs []error
	for i := len(c.closers) - 1; i >= 0; i-- {
		errs = append(errs, c.closers[i]())
	}
	c.closers = nil
	return errors.Join(errs...)
}

// Counts returns the records that entered the chain over the network and the
// records it wrote to the network or to sinks.
func (c *Chain) Counts() (in, out int64) { return c.recordsIn, c.recordsOut }
