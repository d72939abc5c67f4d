package taskmanager

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	weirv1 "github.com/weirstream/weir/api/proto/weir/v1"
	"github.com/weirstream/weir/internal/checkpoint"
	"github.com/weirstream/weir/internal/checkpoint/objstore"
	"github.com/weirstream/weir/internal/keygroup"
	"github.com/weirstream/weir/internal/statebackend"
	"github.com/weirstream/weir/internal/statebackend/heap"
	"github.com/weirstream/weir/internal/statebackend/pebble"
	"github.com/weirstream/weir/internal/task"
	"github.com/weirstream/weir/stream"
)

// uploadTimeout bounds persisting one subtask's snapshot.
const uploadTimeout = 10 * time.Minute

// checkpointer persists one subtask's snapshots and reports them to the
// jobmanager, off the task goroutine.
type checkpointer struct {
	tm    *TaskManager
	id    *weirv1.ExecutionID
	local bool // keep a local copy of each checkpoint's state (local recovery)
	stats *subtaskStats
	log   *slog.Logger // with the subtask's job, task, subtask and attempt
	// buffer is the state object of the subtask's last persisted
	// checkpoint, for the next to be built in: a large heap state is
	// then encoded without allocating its size anew every checkpoint,
	// which would bring on garbage collections that scan the whole
	// state.
	buffer objectBuffer
}

// objectBuffer holds one buffer to reuse, safe for concurrent use.
type objectBuffer struct {
	mu  sync.Mutex
	buf []byte
}

// take returns the buffer held, nil if none; no one else gets it until it
// is given back.
func (o *objectBuffer) take() []byte {
	o.mu.Lock()
	defer o.mu.Unlock()
	b := o.buf
	o.buf = nil
	return b
}

// giveBack makes b, which no one reads or writes any more, the buffer
// held, unless the one held is larger.
func (o *objectBuffer) giveBack(b []byte) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if cap(b) > cap(o.buf) {
		o.buf = b
	}
}

var _ task.Checkpointer = (*checkpointer)(nil)

// async runs f in a goroutine the taskmanager waits for on shutdown, with a
// context that ends at shutdown or after uploadTimeout.
func (tm *TaskManager) async(f func(ctx context.Context)) {
	tm.wg.Add(1)
	go func() {
		defer tm.wg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), uploadTimeout)
		defer cancel()
		go func() {
			select {
			case <-tm.stopping:
				cancel()
			case <-ctx.Done():
			}
		}()
		f(ctx)
	}()
}

func (c *checkpointer) Acknowledge(b *weirv1.Barrier, snap []stream.OperatorSnapshot, m *weirv1.CheckpointMetrics) {
	c.tm.async(func(ctx context.Context) {
		start := c.tm.opts.Clock.Now()
		sub := int(c.id.GetSubtaskIndex())
		name := checkpoint.ObjectName(c.id.GetVertexId(), sub, c.id.GetAttempt())
		ob := checkpoint.NewObjectBuilder(name, c.buffer.take())
		// After the object is written and its local copy kept: Put and
		// put do not retain it.
		defer func() { c.buffer.giveBack(ob.Bytes()) }()
		shared := map[string][]string{} // by operator uid
		var uploaded int64
		persisted := false
		defer func() {
			// Native snapshots not persisted are dropped with a declined
			// checkpoint; persisted ones become the local copy or go.
			// Captured state not encoded is dropped likewise.
			for _, s := range snap {
				if s.Captured != nil {
					s.Captured.Discard()
				}
				if s.Native == nil {
					continue
				}
				if persisted && c.local {
					dst := c.tm.local.path(c.id.GetJobId(), c.id.GetVertexId(), sub, b.GetCheckpointId(), nativeCopy)
					err := c.tm.local.keep(c.id.GetJobId(), c.id.GetVertexId(), sub, dst, s.Native.Keep)
					if err == nil {
						continue
					}
					// A secondary copy, as below.
					c.log.Warn("keeping a local copy of the state failed", "checkpoint", b.GetCheckpointId(), "err", err)
				}
				if err := s.Native.Discard(); err != nil {
					c.log.Warn("removing a native snapshot's local files failed", "checkpoint", b.GetCheckpointId(), "err", err)
				}
			}
		}()
		// The operators' syncs first: the state they make durable is
		// what the checkpoint's object describes.
		for _, s := range snap {
			if s.Sync == nil {
				continue
			}
			if err := s.Sync(); err != nil {
				c.decline(ctx, b, fmt.Errorf("syncing the state of %q: %w", s.UID, err))
				return
			}
		}
		var st objstore.Store
		if len(snap) > 0 {
			var err error
			if st, err = c.tm.stores.Open(ctx, b.GetStorage()); err != nil {
				c.decline(ctx, b, fmt.Errorf("persisting state: %w", err))
				return
			}
		}
		for i := range snap {
			s := &snap[i]
			if s.Captured != nil {
				// The asynchronous part of a canonical snapshot.
				n, err := ob.AddEncoded(s.UID, sub, s.AppendKeyed, s.Elements)
				if err != nil {
					c.decline(ctx, b, fmt.Errorf("persisting state: %w", err))
					return
				}
				m.StateSize += int64(n)
				continue
			}
			keyed := s.Keyed
			if s.Native != nil {
				p, err := s.Native.Persist(ctx, sharedStore{st: st, storage: b.GetStorage(), dir: b.GetDirectory()}, b.GetBaseCheckpointId())
				if err != nil {
					c.decline(ctx, b, fmt.Errorf("persisting state: %w", err))
					return
				}
				keyed, shared[s.UID], uploaded = p.Keyed, p.Shared, uploaded+p.Uploaded
				m.StateSize += p.Full
				if p.Whole != "" {
					c.log.Info(MsgWholeUpload, "checkpoint", b.GetCheckpointId(),
						"operator", s.UID, "bytes", p.Uploaded, "reason", p.Whole)
				}
			}
			ob.Add(s.UID, sub, checkpoint.Section{Keyed: keyed, Elements: s.Elements})
		}
		if len(snap) > 0 {
			err := st.Put(ctx, checkpoint.Join(b.GetDirectory(), name), ob.Bytes())
			if err != nil {
				c.decline(ctx, b, fmt.Errorf("persisting state: %w", err))
				return
			}
			persisted = true
			uploaded += int64(len(ob.Bytes()))
			if c.local && b.GetKind() == weirv1.SnapshotKind_SNAPSHOT_KIND_CHECKPOINT {
				// A secondary copy: failing to keep it costs a download
				// on recovery, not the checkpoint.
				if err := c.tm.local.put(c.id.GetJobId(), c.id.GetVertexId(), sub, b.GetCheckpointId(), name, ob.Bytes()); err != nil {
					c.log.Warn("keeping a local copy of the state failed", "checkpoint", b.GetCheckpointId(), "err", err)
				}
			}
		}
		handles := ob.Handles()
		for _, h := range handles {
			h.Handle.SharedObjects = shared[h.GetOperatorUid()]
		}
		m.AsyncDurationMillis = c.tm.opts.Clock.Now().Sub(start).Milliseconds()
		m.UploadedBytes = uploaded
		c.stats.setStateSize(m.GetStateSize())
		c.log.Debug("checkpoint persisted", "checkpoint", b.GetCheckpointId(), "state_size", m.GetStateSize(), "uploaded_bytes", uploaded)
		_, err := c.tm.rm.AcknowledgeCheckpoint(ctx, &weirv1.AcknowledgeCheckpointRequest{
			Execution: c.id, CheckpointId: b.GetCheckpointId(), Operators: handles, Metrics: m})
		if err != nil {
			c.log.Warn("acknowledging a checkpoint failed", "checkpoint", b.GetCheckpointId(), "err", err)
		}
	})
}

// MsgWholeUpload is the message of the record the taskmanager logs, with
// the reason, when a checkpoint uploaded an operator's keyed state whole
// rather than as a delta.
const MsgWholeUpload = "keyed state uploaded whole rather than as a delta"

// sharedStore puts a native snapshot's shared objects in the job's
// checkpoint directory, under shared/ with random names: two attempts
// restored from one checkpoint may write different files of one name.
type sharedStore struct {
	st      objstore.Store
	storage string
	dir     string // the snapshot's directory
}

func (s sharedStore) Scope() string { return sharedScope(s.storage, s.dir) }

func (s sharedStore) PutShared(ctx context.Context, data []byte) (string, error) {
	name := checkpoint.NewSharedObject()
	return name, s.st.Put(ctx, checkpoint.SharedObjectPath(s.dir, name), data)
}

func (s sharedStore) PutSharedFile(ctx context.Context, path string) (string, error) {
	name := checkpoint.NewSharedObject()
	return name, objstore.PutFile(ctx, s.st, checkpoint.SharedObjectPath(s.dir, name), path)
}

// sharedScope is the scope of the shared objects a snapshot in dir of
// storage may reference: its job's checkpoint directory.
func sharedScope(storage, dir string) string { return storage + "|" + path.Dir(dir) }

func (c *checkpointer) Decline(b *weirv1.Barrier, err error) {
	c.tm.async(func(ctx context.Context) { c.decline(ctx, b, err) })
}

func (c *checkpointer) decline(ctx context.Context, b *weirv1.Barrier, cause error) {
	c.log.Warn("declining a checkpoint", "checkpoint", b.GetCheckpointId(), "err", cause)
	if _, err := c.tm.rm.DeclineCheckpoint(ctx, &weirv1.DeclineCheckpointRequest{
		Execution: c.id, CheckpointId: b.GetCheckpointId(), Reason: cause.Error(),
		Subsumed: errors.Is(cause, task.ErrSubsumed)}); err != nil {
		c.log.Warn("declining a checkpoint failed", "checkpoint", b.GetCheckpointId(), "err", err)
	}
}

func (c *checkpointer) EndOfInput() {
	c.tm.async(func(ctx context.Context) {
		if _, err := c.tm.rm.UpdateTaskExecutionState(ctx, &weirv1.UpdateTaskExecutionStateRequest{
			Execution: c.id, State: weirv1.ExecutionState_EXECUTION_STATE_RUNNING, EndOfInput: true}); err != nil {
			c.log.Warn("reporting end of input failed", "err", err)
		}
	})
}

// loadRestore reads and verifies the state subtask (of a vertex at
// parallelism) resumes from. State saved at another parallelism arrives as
// every old subtask's handle of an operator: the keyed state of the old
// subtasks is merged, keeping the subtask's key groups, and their elements
// are concatenated in old subtask order for the chain to redistribute.
//
// With local recovery, objects this taskmanager kept a copy of are read
// from the copy (see localstate.go) and verified like downloaded ones; a
// damaged copy is replaced by a download.
//
// A native (incremental) snapshot restored at the same parallelism on
// Pebble is materialised in the subtask's database directory, dbDir, for
// the backend to open (nr records it); any other native snapshot is
// materialised in a temporary directory and converted to the canonical
// format, then restored like one. A native heap snapshot's objects are
// read a few ahead of their apply (chainFetch): at the same parallelism
// by the backend, which logs "restored state" once it has read them all.
func (tm *TaskManager) loadRestore(r *weirv1.RestoreState, id *weirv1.ExecutionID, parallelism, maxParallelism int, local bool, nr *nativeRestore) func(ctx context.Context) (map[string]stream.OperatorSnapshot, error) {
	if r == nil {
		return nil
	}
	subtask := int(id.GetSubtaskIndex())
	return func(ctx context.Context) (_ map[string]stream.OperatorSnapshot, err error) {
		st, err := tm.stores.Open(ctx, r.GetStorage())
		if err != nil {
			return nil, err
		}
		objects := map[string][]byte{}
		fromCopy := map[string]bool{}
		// Added to by a heap chain's reads too, which go on until the
		// backend has applied the chain.
		var localBytes, downloaded atomic.Int64
		download := func(object string) ([]byte, error) {
			obj, err := st.Get(ctx, checkpoint.Join(r.GetDirectory(), object))
			if err != nil {
				return nil, fmt.Errorf("checkpoint %d: reading %s: %w", r.GetCheckpointId(), object, err)
			}
			downloaded.Add(int64(len(obj)))
			return obj, nil
		}
		logRestored := func() {
			tm.opts.Logger.Info("restored state", "job", id.GetJobId(), "vertex", id.GetVertexId(), "subtask", subtask,
				"checkpoint", r.GetCheckpointId(), "local_copy_bytes", localBytes.Load(), "downloaded_bytes", downloaded.Load())
		}
		defer func() {
			switch {
			case nr.fetch != nil && err != nil:
				nr.fetch.close()
				nr.fetch = nil
				logRestored()
			case nr.fetch != nil:
				// Logged once the backend has read the chain.
				nr.fetch.done = logRestored
			default:
				logRestored()
			}
		}()
		type parts struct {
			keyed    [][]byte
			subtasks []int
			elements [][]byte
			rescaled bool
		}
		byUID := map[string]*parts{}
		var uids []string
		for _, op := range r.GetOperators() {
			h := op.GetHandle()
			// The name comes from a _metadata object: it must not lead
			// out of the snapshot directory, nor out of the local copies.
			if err := checkpoint.ValidateObjectName(h.GetObject()); err != nil {
				return nil, fmt.Errorf("checkpoint %d, operator %s: %w: %v", r.GetCheckpointId(), op.GetOperatorUid(), checkpoint.ErrCorrupt, err)
			}
			obj, ok := objects[h.GetObject()]
			if !ok {
				if local {
					obj, ok = tm.local.get(id.GetJobId(), id.GetVertexId(), int(op.GetSubtaskIndex()), r.GetCheckpointId(), h.GetObject())
					fromCopy[h.GetObject()] = ok
					if ok {
						localBytes.Add(int64(len(obj)))
					}
				}
				if !ok {
					if obj, err = download(h.GetObject()); err != nil {
						return nil, err
					}
				}
				objects[h.GetObject()] = obj
			}
			sec, err := checkpoint.ReadSection(obj, h)
			if err != nil && fromCopy[h.GetObject()] {
				tm.opts.Logger.Warn("the local copy of a state object is damaged; downloading it", "object", h.GetObject(), "err", err)
				fromCopy[h.GetObject()] = false
				if obj, err = download(h.GetObject()); err != nil {
					return nil, err
				}
				objects[h.GetObject()] = obj
				sec, err = checkpoint.ReadSection(obj, h)
			}
			if err != nil {
				return nil, fmt.Errorf("checkpoint %d, operator %s: %w", r.GetCheckpointId(), op.GetOperatorUid(), err)
			}
			p, ok := byUID[op.GetOperatorUid()]
			if !ok {
				p = &parts{}
				byUID[op.GetOperatorUid()] = p
				uids = append(uids, op.GetOperatorUid())
			}
			p.keyed = append(p.keyed, sec.Keyed)
			p.subtasks = append(p.subtasks, int(op.GetSubtaskIndex()))
			p.elements = append(p.elements, sec.Elements...)
			p.rescaled = p.rescaled || int(op.GetSubtaskIndex()) != subtask || len(p.keyed) > 1
		}
		own := keygroup.RangeOf(subtask, parallelism, maxParallelism)
		fetch := func(ctx context.Context, object string) ([]byte, error) {
			if err := checkpoint.ValidateSharedObjectName(object); err != nil {
				return nil, fmt.Errorf("%w: %v", checkpoint.ErrCorrupt, err)
			}
			b, err := st.Get(ctx, checkpoint.SharedObjectPath(r.GetDirectory(), object))
			if errors.Is(err, objstore.ErrNotExist) {
				err = fmt.Errorf("%w: shared object %s is missing: %w", checkpoint.ErrCorrupt, object, err)
			}
			return b, err
		}
		materialize := func(keyed []byte, dir string, old int) (*pebble.Native, error) {
			n, err := pebble.DecodeNative(keyed)
			if err != nil {
				return nil, fmt.Errorf("%w: %w", checkpoint.ErrCorrupt, err)
			}
			src := pebble.Source{Fetch: fetch}
			if local && old == subtask {
				copyDir := tm.local.path(id.GetJobId(), id.GetVertexId(), old, r.GetCheckpointId(), nativeCopy)
				src.Local = func(name string) (string, bool) {
					p := filepath.Join(copyDir, name)
					_, err := os.Stat(p)
					return p, err == nil
				}
			}
			ms, err := n.Materialize(ctx, dir, src)
			localBytes.Add(ms.LocalBytes)
			downloaded.Add(ms.Downloaded)
			if errors.Is(err, pebble.ErrDamaged) {
				err = fmt.Errorf("%w: %w", checkpoint.ErrCorrupt, err)
			}
			if err != nil {
				return nil, fmt.Errorf("checkpoint %d: %w", r.GetCheckpointId(), errors.Join(err, os.RemoveAll(dir)))
			}
			return n, nil
		}
		// chain starts reading the objects of old's native heap snapshot
		// for its restore, from the local copy where it has them.
		chain := func(keyed []byte, old int) (heap.Chain, *chainFetch, error) {
			c, err := heap.DecodeNative(keyed)
			if err != nil {
				return c, nil, fmt.Errorf("checkpoint %d: %w: %w", r.GetCheckpointId(), checkpoint.ErrCorrupt, err)
			}
			copyDir := tm.local.path(id.GetJobId(), id.GetVertexId(), old, r.GetCheckpointId(), nativeCopy)
			read := func(ctx context.Context, i int) ([]byte, string, error) {
				o := c.Objects[i]
				if local && old == subtask {
					f := filepath.Join(copyDir, heap.LocalName(o.Name))
					if b, err := os.ReadFile(f); err == nil && c.Verify(i, b) == nil {
						localBytes.Add(int64(len(b)))
						return b, f, nil
					}
				}
				b, err := fetch(ctx, o.Name)
				if err != nil {
					return nil, "", fmt.Errorf("checkpoint %d: %w", r.GetCheckpointId(), err)
				}
				downloaded.Add(int64(len(b)))
				return b, "", nil
			}
			return c, fetchChain(ctx, len(c.Objects), read), nil
		}
		out := map[string]stream.OperatorSnapshot{}
		for _, uid := range uids {
			p := byUID[uid]
			s := stream.OperatorSnapshot{UID: uid, Elements: p.elements, Rescaled: p.rescaled}
			if !p.rescaled && nr.heap && heap.IsNative(p.keyed[0]) {
				// Restored by the backend, whose next checkpoint may
				// be a delta of this one.
				if nr.chain, nr.fetch, err = chain(p.keyed[0], p.subtasks[0]); err != nil {
					return nil, err
				}
				nr.checkpoint = r.GetCheckpointId()
				out[uid] = s
				continue
			}
			if !p.rescaled && nr.pebble && pebble.IsNative(p.keyed[0]) {
				// Restored in place: the backend opens the files.
				n, err := materialize(p.keyed[0], nr.dir, p.subtasks[0])
				if err != nil {
					return nil, err
				}
				nr.native, nr.checkpoint, nr.scope = n, r.GetCheckpointId(), sharedScope(r.GetStorage(), r.GetDirectory())
				out[uid] = s
				continue
			}
			for i, k := range p.keyed {
				if heap.IsNative(k) {
					// Another parallelism or backend: the chain
					// applied and encoded canonically.
					c, f, err := chain(k, p.subtasks[i])
					if err != nil {
						return nil, err
					}
					p.keyed[i], err = heap.Canonical(own, c, f.object)
					f.close()
					if err != nil {
						return nil, fmt.Errorf("checkpoint %d, operator %s: converting a native snapshot: %w", r.GetCheckpointId(), uid, corrupt(err))
					}
					continue
				}
				if !pebble.IsNative(k) {
					continue
				}
				// Another parallelism or backend: converted to canonical
				// (a full read of the old database).
				dir := fmt.Sprintf("%s.convert-%d", nr.dir, i)
				n, err := materialize(k, dir, p.subtasks[i])
				if err != nil {
					return nil, err
				}
				if p.keyed[i], err = pebble.Canonical(dir, n, pebble.Options{Logger: tm.opts.Logger}); err != nil {
					return nil, fmt.Errorf("checkpoint %d, operator %s: converting a native snapshot: %w", r.GetCheckpointId(), uid, err)
				}
			}
			if !p.rescaled {
				s.Keyed = p.keyed[0]
			} else if s.Keyed, err = statebackend.MergeSnapshots(p.keyed, own.Contains); err != nil {
				return nil, fmt.Errorf("checkpoint %d, operator %s: %w", r.GetCheckpointId(), uid, err)
			}
			out[uid] = s
		}
		return out, nil
	}
}

// corrupt marks an error of state that does not parse as
// checkpoint.ErrCorrupt, so that the jobmanager gives up the checkpoint.
func corrupt(err error) error {
	if errors.Is(err, statebackend.ErrCorruptSnapshot) {
		return fmt.Errorf("%w: %w", checkpoint.ErrCorrupt, err)
	}
	return err
}

// nativeRestore carries a native snapshot from loadRestore, which
// materialises it in dir (Pebble) or starts reading its objects (the
// heap), to the backend factory, which opens it or applies the objects as
// they are read.
type nativeRestore struct {
	dir        string // the subtask attempt's database directory
	pebble     bool   // the subtask's backend is Pebble
	heap       bool   // the subtask's backend is the heap, incremental
	native     *pebble.Native
	chain      heap.Chain
	fetch      *chainFetch // reading the chain's objects
	checkpoint int64
	scope      string
}

func (tm *TaskManager) running(id *weirv1.ExecutionID) (*running, error) {
	tm.mu.Lock()
	r, ok := tm.mu.tasks[execKey{id.GetJobId(), id.GetVertexId(), id.GetSubtaskIndex()}]
	tm.mu.Unlock()
	if !ok || r.id.GetAttempt() != id.GetAttempt() {
		return nil, status.Errorf(codes.NotFound, "no attempt %d of subtask %d of vertex %d of job %s runs here",
			id.GetAttempt(), id.GetSubtaskIndex(), id.GetVertexId(), id.GetJobId())
	}
	return r, nil
}

// TriggerCheckpoint starts a checkpoint at a source subtask.
func (tm *TaskManager) TriggerCheckpoint(ctx context.Context, req *weirv1.TriggerCheckpointRequest) (*weirv1.TriggerCheckpointResponse, error) {
	r, err := tm.running(req.GetExecution())
	if err != nil {
		return nil, err
	}
	r.task.TriggerCheckpoint(req.GetBarrier())
	return &weirv1.TriggerCheckpointResponse{}, nil
}

// NotifyCheckpointComplete tells a subtask a checkpoint is complete.
func (tm *TaskManager) NotifyCheckpointComplete(ctx context.Context, req *weirv1.NotifyCheckpointCompleteRequest) (*weirv1.NotifyCheckpointCompleteResponse, error) {
	r, err := tm.running(req.GetExecution())
	if err != nil {
		return nil, err
	}
	r.task.NotifyCheckpointComplete(req.GetCheckpointId())
	return &weirv1.NotifyCheckpointCompleteResponse{}, nil
}

// AbortCheckpoint tells a subtask a checkpoint failed.
func (tm *TaskManager) AbortCheckpoint(ctx context.Context, req *weirv1.AbortCheckpointRequest) (*weirv1.AbortCheckpointResponse, error) {
	r, err := tm.running(req.GetExecution())
	if err != nil {
		return nil, err
	}
	r.task.AbortCheckpoint(req.GetCheckpointId())
	return &weirv1.AbortCheckpointResponse{}, nil
}
