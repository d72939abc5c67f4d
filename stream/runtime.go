package stream

import (
	"errors"
	"fmt"
	"time"

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
// ts is the record's event timestamp, NoTimestamp for none.
type EdgeWriter interface {
	WriteRecord(rec []byte, ts int64, keyHash uint64) error
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
	ttl       map[string]*ttl // keyed states with a TTL, by name

	// Event time: ts is the timestamp of the record going through the
	// chain; watermark is the chain's output watermark.
	ts         int64
	split      int // the source split of the record going through the chain, -1 for none
	kg         int // the key group the input record came with, -1 for none
	watermark  int64
	generators []*watermarkGenerator // timestamp assigners of the chain
	timers     *timerService         // the keyed head's, nil if none

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
	// Native, set instead of Keyed in an incremental checkpoint, is the
	// backend's native snapshot, for the checkpointer to persist.
	Native statebackend.NativeSnapshot
	// Captured, set instead of Keyed by SnapshotAsync on a backend that
	// snapshots asynchronously, is the keyed state captured at the
	// barrier, for the checkpointer to encode (AppendKeyed).
	Captured statebackend.CapturedSnapshot
	// Elements is the operator's list state (Checkpointed).
	Elements [][]byte
	// Sync, when the operator is a SnapshotSyncer, is the part of its
	// snapshot that runs off the task goroutine: the checkpointer runs it
	// before acknowledging the checkpoint, and declines on its error.
	Sync func() error
	// Rescaled marks state saved at another parallelism: Keyed holds the
	// subtask's key groups gathered from every old subtask, and Elements
	// is the union of every old subtask's elements, in old subtask order,
	// which the chain redistributes (see UnionRedistributed).
	Rescaled bool
}

// EncodeKeyed encodes the keyed state in Captured into Keyed.
func (s *OperatorSnapshot) EncodeKeyed() error {
	if s.Captured == nil {
		return nil
	}
	keyed, err := s.AppendKeyed(nil)
	if err != nil {
		return err
	}
	s.Keyed = keyed
	return nil
}

// AppendKeyed appends the keyed state in Captured, in the canonical
// format, to dst: the asynchronous part of a canonical snapshot, off the
// task goroutine, which the checkpointer encodes straight into the state
// object. Captured is nil after.
func (s *OperatorSnapshot) AppendKeyed(dst []byte) ([]byte, error) {
	out, err := s.Captured.AppendEncoded(dst)
	s.Captured = nil
	if err != nil {
		return nil, fmt.Errorf("encoding keyed state: %w", err)
	}
	return out, nil
}

// Discard drops the keyed state captured for a snapshot that will not be
// persisted: a native snapshot's files, and the backend's copy-on-write
// for Captured.
func (s *OperatorSnapshot) Discard() error {
	if s.Captured != nil {
		s.Captured.Discard()
		s.Captured = nil
	}
	if s.Native != nil {
		return s.Native.Discard()
	}
	return nil
}

type buildContext struct {
	uid     string // operator being built
	op      *weirv1.Operator
	info    TaskInfo
	backend statebackend.KeyedBackend
	fail    *failure
	chain   *Chain
	keyer   any      // func(In) ([]byte, int) for a keyed head: the key and its key group
	late    any      // Collector[In] of the late side output of the window being built, or nil
	inOps   *typeOps // the head's input record type
	keyOps  *typeOps // the head's key type, for a keyed head
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
	c := &Chain{ts: NoTimestamp, split: -1, kg: -1, watermark: NoTimestamp}
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
		rt.inOps = inputOps(g, in.From, in.SideOutput)
		if in.Partitioning == weirv1.Partitioning_PARTITIONING_KEY_GROUP {
			e, fn, err := lookupFunction(in.Key)
			if err != nil {
				return nil, fmt.Errorf("operator %q: key selector: %w", head.GetName(), err)
			}
			rt.keyOps = e.out
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
		var lateOuts []any
		for _, out := range v.Outputs {
			if out.From != op.GetId() {
				continue
			}
			w := opts.Writer(out)
			if out.SideOutput != "" {
				lateOps := e.in
				if e.anyInput {
					lateOps = rt.inOps
				}
				if out.SideOutput != LateSideOutput || lateOps == nil {
					return nil, fmt.Errorf("operator %q has no side output %q", op.GetName(), out.SideOutput)
				}
				if out.Partitioning == weirv1.Partitioning_PARTITIONING_KEY_GROUP {
					ke, sel, err := lookupFunction(out.Key)
					if err != nil {
						return nil, fmt.Errorf("operator %q: key selector: %w", op.GetName(), err)
					}
					lateOuts = append(lateOuts, ke.keyedEncoder(sel, w, rt))
				} else {
					lateOuts = append(lateOuts, lateOps.encoder(w, rt))
				}
				continue
			}
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
		rt.uid, rt.op, rt.late = op.GetUid(), op, nil
		if len(lateOuts) > 0 {
			lateOps := e.in
			if e.anyInput {
				lateOps = rt.inOps
			}
			rt.late = lateOps.fanout(lateOuts)
		}
		build := e.build
		if op.GetKind() == weirv1.OperatorKind_OPERATOR_KIND_WINDOW && e.window != nil {
			build = e.window
		}
		if e.kind != weirv1.OperatorKind_OPERATOR_KIND_SOURCE && e.kind != weirv1.OperatorKind_OPERATOR_KIND_SINK {
			rt.addStateful(fn)
		}
		in, err := build(rt, fn, out)
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
	if c.timers != nil {
		c.watermark = c.timers.watermark
	}
	e, _ := lookupName(head.GetFunction().GetName())
	if e.kind == weirv1.OperatorKind_OPERATOR_KIND_SOURCE {
		c.source = next.(interface {
			poll() (PollStatus, error)
			available() <-chan struct{}
		})
	} else {
		ops := e.in
		if e.anyInput {
			ops = rt.inOps
		}
		if ops == nil {
			return nil, fmt.Errorf("operator %q: cannot tell the type of its input", head.GetName())
		}
		c.input = ops.decoder(next, rt)
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
// checkpoint id, with its keyed state in the canonical format: a snapshot
// taken wholly on the calling goroutine, its SnapshotSyncers synced. A
// task takes only the synchronous part (SnapshotAsync) at a barrier.
func (c *Chain) Snapshot(id int64) ([]OperatorSnapshot, error) {
	out, err := c.SnapshotAsync(id, 0, false)
	if err != nil {
		return nil, err
	}
	for i := range out {
		if err := out[i].EncodeKeyed(); err != nil {
			return nil, err
		}
		if out[i].Sync != nil {
			if err := out[i].Sync(); err != nil {
				return nil, fmt.Errorf("syncing %q: %w", out[i].UID, err)
			}
		}
	}
	return out, nil
}

// SnapshotAsync is the synchronous part of checkpoint or savepoint id, on
// the task goroutine: it captures the state of every operator of the
// chain, leaving the keyed state to be finished off it. A backend that
// snapshots asynchronously (statebackend.AsyncSnapshotter, the heap)
// captures its state, for AppendKeyed; for an incremental checkpoint, a
// backend that takes native snapshots (statebackend.Incremental) captures
// its files, to be persisted; another backend encodes its state into Keyed
// at once. Expired TTL values are left out of canonical snapshots, as
// expired at the barrier, but stay in a native snapshot (reads drop them),
// as in Flink's incremental checkpoints. The operators' list state is
// taken at once, and a SnapshotSyncer's sync left in Sync.
//
// base is the checkpoint's base (weirv1.Barrier.base_checkpoint_id), which
// a native snapshot may build on.
func (c *Chain) SnapshotAsync(id, base int64, incremental bool) ([]OperatorSnapshot, error) {
	var out []OperatorSnapshot
	if c.backend != nil {
		if c.timers != nil {
			c.timers.persist()
		}
		s, err := c.snapshotKeyed(id, base, incremental)
		if err != nil {
			return nil, fmt.Errorf("snapshotting keyed state: %w", err)
		}
		out = append(out, s)
	}
	return c.snapshotOperators(id, out)
}

// snapshotKeyed is SnapshotAsync for the chain's keyed state.
func (c *Chain) snapshotKeyed(id, base int64, incremental bool) (OperatorSnapshot, error) {
	s := OperatorSnapshot{UID: c.headUID}
	if inc, ok := c.backend.(statebackend.Incremental); ok && incremental {
		ns, err := inc.NativeSnapshot(id, base)
		s.Native = ns
		return s, err
	}
	var now int64
	for _, t := range c.ttl {
		now = t.now()
		break
	}
	if a, ok := c.backend.(statebackend.AsyncSnapshotter); ok {
		s.Captured = a.SnapshotAsync()
		if len(c.ttl) > 0 {
			s.Captured = ttlSnapshot{CapturedSnapshot: s.Captured, ttls: c.ttl, now: now}
		}
		return s, nil
	}
	keyed, err := c.backend.Snapshot()
	if err == nil && len(c.ttl) > 0 {
		keyed, err = dropExpired(keyed, c.ttl, now)
	}
	s.Keyed = keyed
	return s, err
}

// snapshotOperators adds the list state of the chain's operators to out.
// On an error, keyed state captured in out is discarded.
func (c *Chain) snapshotOperators(id int64, out []OperatorSnapshot) (_ []OperatorSnapshot, err error) {
	defer func() {
		if err != nil && len(out) > 0 {
			_ = out[0].Discard()
		}
	}()
	for _, s := range c.stateful {
		elems, err := s.cp.SnapshotState(id)
		if err != nil {
			return nil, fmt.Errorf("snapshotting %q: %w", s.uid, err)
		}
		var sync func() error
		if sy, ok := s.cp.(SnapshotSyncer); ok {
			sync = func() error { return sy.SyncSnapshot(id) }
		}
		if len(out) > 0 && out[0].UID == s.uid {
			out[0].Elements, out[0].Sync = elems, sync
			continue
		}
		out = append(out, OperatorSnapshot{UID: s.uid, Elements: elems, Sync: sync})
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

// inputOps returns the record type of operator from's output (or of its
// side output), following built-in functions that take any type.
func inputOps(g *weirv1.JobGraph, from int32, side string) *typeOps {
	ops := g.GetOperators()
	for {
		if from < 0 || int(from) >= len(ops) {
			return nil
		}
		e, ok := lookupName(ops[from].GetFunction().GetName())
		if !ok {
			return nil
		}
		if side == "" {
			return e.out
		}
		if !e.anyInput {
			return e.in
		}
		if len(ops[from].GetInputs()) != 1 {
			return nil
		}
		in := ops[from].GetInputs()[0]
		from, side = in.GetOperatorId(), in.GetSideOutput()
	}
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

// Process runs one encoded input record with event timestamp ts
// (NoTimestamp for none) through the chain.
func (c *Chain) Process(rec []byte, ts int64) error { return c.ProcessKeyed(rec, ts, -1) }

// ProcessKeyed is Process of a record that came with its key group kg
// (negative for none) over a key-group partitioned edge: a keyed head
// uses it instead of hashing the record's key.
func (c *Chain) ProcessKeyed(rec []byte, ts int64, kg int) error {
	c.recordsIn++
	c.ts, c.kg = ts, kg
	c.input(rec)
	return c.fail.err
}

// Watermark returns the chain's output watermark: NoTimestamp before the
// first, the restored one after a restore.
func (c *Chain) Watermark() int64 { return c.watermark }

// AdvanceWatermark hands the chain the watermark of its input, and reports
// whether the chain's output watermark advanced (the task then sends
// Watermark downstream). A chain with a timestamp assigner makes its own
// watermarks and only takes MaxWatermark, the end of input, from upstream.
// A watermark never goes back.
func (c *Chain) AdvanceWatermark(wm int64) (bool, error) {
	if len(c.generators) > 0 && wm != MaxWatermark {
		return false, nil
	}
	return c.setWatermark(wm)
}

func (c *Chain) setWatermark(wm int64) (bool, error) {
	if wm <= c.watermark {
		return false, nil
	}
	c.watermark = wm
	if c.timers != nil {
		if err := c.timers.advanceWatermark(wm); err != nil {
			c.fail.set(err)
		}
	}
	return true, c.fail.err
}

// GenerateWatermark asks the chain's timestamp assigners for a watermark
// at processing time now, after a batch of records. It reports whether the
// output watermark advanced and whether the chain's input is idle (no
// record for the strategy's idleness timeout); idle is false for a chain
// without a timestamp assigner.
func (c *Chain) GenerateWatermark(now time.Time) (advanced, idle bool, err error) {
	if len(c.generators) == 0 {
		return false, false, nil
	}
	wm, idle := MaxWatermark, true
	for _, g := range c.generators {
		g.check(now)
		wm = min(wm, g.watermark())
		idle = idle && g.idle
	}
	if wm == NoTimestamp {
		return false, idle, nil
	}
	advanced, err = c.setWatermark(wm)
	return advanced, idle, err
}

// HasWatermarkGenerator reports whether the chain assigns timestamps and
// makes its own watermarks.
func (c *Chain) HasWatermarkGenerator() bool { return len(c.generators) > 0 }

// Deadline returns when the task must call FireProcessingTimers or
// GenerateWatermark next even if no input arrives: the earliest
// processing-time timer, or when the input turns idle.
func (c *Chain) Deadline() (time.Time, bool) {
	var at time.Time
	ok := false
	if c.timers != nil {
		if ts, has := c.timers.nextProcessingTimer(); has {
			at, ok = time.UnixMilli(ts), true
		}
	}
	for _, g := range c.generators {
		if d, has := g.idleDeadline(); has && (!ok || d.Before(at)) {
			at, ok = d, true
		}
	}
	return at, ok
}

// FireProcessingTimers runs the processing-time timers due at now.
func (c *Chain) FireProcessingTimers() error {
	if c.timers == nil {
		return nil
	}
	if _, ok := c.timers.nextProcessingTimer(); !ok {
		return nil
	}
	if err := c.timers.fire(ProcessingTime, c.timers.procTime()); err != nil {
		c.fail.set(err)
	}
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
