package taskmanager

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"

	"google.golang.org/grpc"

	weirv1 "github.com/weirstream/weir/api/proto/weir/v1"
	"github.com/weirstream/weir/internal/checkpoint"
	"github.com/weirstream/weir/internal/checkpoint/objstore"
	"github.com/weirstream/weir/internal/clock"
	"github.com/weirstream/weir/internal/keygroup"
	"github.com/weirstream/weir/internal/statebackend"
	"github.com/weirstream/weir/internal/statebackend/heap"
	"github.com/weirstream/weir/stream"
)

// reports is a resource manager that records the checkpoints acknowledged
// and declined.
type reports struct {
	weirv1.ResourceManagerServiceClient
	mu       sync.Mutex
	acks     []*weirv1.AcknowledgeCheckpointRequest
	declines []*weirv1.DeclineCheckpointRequest
	acked    chan *weirv1.AcknowledgeCheckpointRequest // if not nil, gets every acknowledgement as well
}

func (r *reports) AcknowledgeCheckpoint(_ context.Context, in *weirv1.AcknowledgeCheckpointRequest, _ ...grpc.CallOption) (*weirv1.AcknowledgeCheckpointResponse, error) {
	r.mu.Lock()
	r.acks = append(r.acks, in)
	r.mu.Unlock()
	if r.acked != nil {
		r.acked <- in
	}
	return &weirv1.AcknowledgeCheckpointResponse{}, nil
}

func (r *reports) DeclineCheckpoint(_ context.Context, in *weirv1.DeclineCheckpointRequest, _ ...grpc.CallOption) (*weirv1.DeclineCheckpointResponse, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.declines = append(r.declines, in)
	return &weirv1.DeclineCheckpointResponse{}, nil
}

// captured is a statebackend.CapturedSnapshot that records what was done
// with it.
type captured struct {
	keyed     []byte
	err       error
	encoded   int
	discarded int
}

func (c *captured) AppendEncoded(dst []byte) ([]byte, error) {
	c.encoded++
	return append(dst, c.keyed...), c.err
}

func (c *captured) Discard() { c.discarded++ }

// The checkpointer runs the operators' syncs, then encodes the keyed state
// a task captured at the barrier and counts it in the checkpoint's state
// size; when the checkpoint is declined before or while encoding, every
// captured snapshot not encoded is discarded, so that the backend stops
// copying on write.
func TestCheckpointerEncodesOrDiscardsCapturedState(t *testing.T) {
	const job = "0123456789abcdef0123456789abcdef"
	for _, c := range []struct {
		name     string
		storage  string
		errs     []error // of each operator's Encode
		syncErr  error   // of the second operator's Sync
		declined bool
	}{
		{name: "encoded", storage: "memory://checkpointer-captured", errs: []error{nil, nil}},
		{name: "storage fails", storage: "nosuch://bucket", errs: []error{nil, nil}, declined: true},
		{name: "encoding fails", storage: "memory://checkpointer-captured", errs: []error{errors.New("bad state"), nil}, declined: true},
		{name: "sync fails", storage: "memory://checkpointer-captured", errs: []error{nil, nil}, syncErr: errors.New("disk gone"), declined: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			rm := &reports{}
			tm := &TaskManager{opts: Options{Clock: clock.Real{}}, rm: rm, stopping: make(chan struct{}),
				stores: checkpoint.NewStores(objstore.Options{}, clock.Real{})}
			defer tm.stores.Close()
			cp := &checkpointer{tm: tm, id: &weirv1.ExecutionID{JobId: job, VertexId: 1, Attempt: 1},
				stats: newSubtaskStats("heap"), log: slog.New(slog.NewTextHandler(io.Discard, nil))}
			var caps []*captured
			var snap []stream.OperatorSnapshot
			for i, err := range c.errs {
				cs := &captured{keyed: []byte{byte(i), 1, 2, 3}, err: err}
				caps = append(caps, cs)
				snap = append(snap, stream.OperatorSnapshot{UID: string(rune('a' + i)), Captured: cs})
			}
			syncs := 0
			snap[1].Sync = func() error {
				syncs++
				if caps[0].encoded > 0 {
					t.Error("synced after encoding: the syncs come first")
				}
				return c.syncErr
			}
			b := &weirv1.Barrier{CheckpointId: 3, Storage: c.storage, Directory: checkpoint.CheckpointDir(job, 3),
				Kind: weirv1.SnapshotKind_SNAPSHOT_KIND_CHECKPOINT}
			cp.Acknowledge(b, snap, &weirv1.CheckpointMetrics{StateSize: 10})
			tm.wg.Wait()

			if c.declined != (len(rm.declines) == 1) || c.declined == (len(rm.acks) == 1) {
				t.Fatalf("%d acknowledged, %d declined; want declined %v", len(rm.acks), len(rm.declines), c.declined)
			}
			for i, cs := range caps {
				if cs.encoded+cs.discarded != 1 {
					t.Errorf("operator %d's captured state: encoded %d times, discarded %d; want either once", i, cs.encoded, cs.discarded)
				}
			}
			if syncs != 1 {
				t.Errorf("synced %d times, want once", syncs)
			}
			if c.syncErr != nil {
				if r := rm.declines[0].GetReason(); r != `syncing the state of "b": disk gone` {
					t.Errorf("declined with %q, want the failed sync named", r)
				}
				if caps[0].encoded+caps[1].encoded != 0 {
					t.Error("state encoded after a failed sync")
				}
			}
			if c.declined {
				return
			}
			if got, want := rm.acks[0].GetMetrics().GetStateSize(), int64(10+4+4); got != want {
				t.Errorf("state size %d, want %d: the synchronous part's and the encoded keyed state", got, want)
			}
			if n := len(rm.acks[0].GetOperators()); n != 2 {
				t.Errorf("%d operator handles, want 2", n)
			}
		})
	}
}

// heapSubtask is a subtask with its keyed state on the heap, whose
// checkpoints a test starts and checks.
type heapSubtask struct {
	t     *testing.T
	tm    *TaskManager
	rm    *reports
	c     *checkpointer
	st    objstore.Store
	b     *heap.Backend
	sum   statebackend.StateID
	wants map[int64][]string // keyed state entries by checkpoint
}

const heapSubtaskStorage = "memory://checkpointer-heap-subtask"

func newHeapSubtask(t *testing.T) *heapSubtask {
	ctx := context.Background()
	h := &heapSubtask{t: t, rm: &reports{}, b: heap.New(keygroup.Range{Start: 0, End: 8}), wants: map[int64][]string{}}
	h.tm = &TaskManager{opts: Options{Clock: clock.Real{}}, rm: h.rm, stopping: make(chan struct{}),
		stores: checkpoint.NewStores(objstore.Options{}, clock.Real{}), local: localState{root: t.TempDir()}}
	t.Cleanup(func() { h.tm.stores.Close() })
	var err error
	if h.st, err = h.tm.stores.Open(ctx, heapSubtaskStorage); err != nil {
		t.Fatal(err)
	}
	h.c = &checkpointer{tm: h.tm, id: &weirv1.ExecutionID{JobId: "0123456789abcdef0123456789abcdef", VertexId: 1, Attempt: 1},
		stats: newSubtaskStats("heap"), log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if h.sum, err = h.b.Register("sum", statebackend.KindValue); err != nil {
		t.Fatal(err)
	}
	return h
}

// write gives every key a new value.
func (h *heapSubtask) write(round int) {
	for i := range 1000 {
		h.b.SetCurrentKey(fmt.Appendf(nil, "key-%d", i), i%8)
		h.b.Put(h.sum, fmt.Appendf(nil, "round %d value %d", round, i))
	}
}

// start starts checkpoint n of the state as it is.
func (h *heapSubtask) start(n int64) {
	want, err := h.b.Snapshot()
	if err != nil {
		h.t.Fatal(err)
	}
	h.wants[n] = entries(h.t, want)
	barrier := &weirv1.Barrier{CheckpointId: n, Storage: heapSubtaskStorage, Directory: fmt.Sprintf("chk-%d", n),
		Kind: weirv1.SnapshotKind_SNAPSHOT_KIND_CHECKPOINT}
	h.c.Acknowledge(barrier, []stream.OperatorSnapshot{{UID: "sum", Captured: h.b.SnapshotAsync()}}, &weirv1.CheckpointMetrics{})
}

// object returns checkpoint n's state object.
func (h *heapSubtask) object(n int64) []byte {
	obj, err := h.st.Get(context.Background(), checkpoint.Join(fmt.Sprintf("chk-%d", n), checkpoint.ObjectName(1, 0, 1)))
	if err != nil {
		h.t.Fatal(err)
	}
	return obj
}

// check checks that the object of an acknowledged checkpoint, as written
// to storage or its local copy, holds the keyed state captured.
func (h *heapSubtask) check(req *weirv1.AcknowledgeCheckpointRequest, obj []byte) {
	h.t.Helper()
	sec, err := checkpoint.ReadSection(obj, req.GetOperators()[0].GetHandle())
	if err != nil {
		h.t.Fatalf("checkpoint %d: %v", req.GetCheckpointId(), err)
	}
	if got, want := entries(h.t, sec.Keyed), h.wants[req.GetCheckpointId()]; !slices.Equal(got, want) {
		h.t.Fatalf("checkpoint %d wrote %d entries of keyed state, not the %d captured", req.GetCheckpointId(), len(got), len(want))
	}
}

// persisted waits for the checkpoints started and checks their objects.
func (h *heapSubtask) persisted() {
	h.t.Helper()
	h.tm.wg.Wait()
	if len(h.rm.declines) > 0 {
		h.t.Fatalf("checkpoint %d declined: %s", h.rm.declines[0].GetCheckpointId(), h.rm.declines[0].GetReason())
	}
	for _, req := range h.rm.acks {
		h.check(req, h.object(req.GetCheckpointId()))
	}
	h.rm.acks = nil
}

// A subtask's heap snapshots are encoded into the buffer of its last
// persisted state object, and every object written holds the state as
// captured, with checkpoints in flight together.
func TestCheckpointerReusesObjectBuffer(t *testing.T) {
	h := newHeapSubtask(t)
	h.write(0)
	h.start(1)
	h.persisted()
	held := h.c.buffer.buf[:cap(h.c.buffer.buf)]
	if len(held) == 0 {
		t.Fatal("no buffer kept after a checkpoint")
	}
	clear(held)
	h.write(1)
	h.start(2)
	h.persisted()
	if obj := h.object(2); !bytes.Equal(held[:min(len(obj), len(held))], obj) {
		t.Fatal("the second checkpoint's object was not built in the first's buffer")
	}
	for round := 2; round < 10; round += 2 {
		h.write(round)
		h.start(int64(round + 1))
		h.write(round + 1)
		h.start(int64(round + 2))
		h.persisted()
	}
}

// entries lists the entries of a canonical snapshot, sorted: their order
// in the snapshot is not defined.
func entries(t *testing.T, snap []byte) []string {
	t.Helper()
	var out []string
	err := statebackend.DecodeSnapshot(snap, func([]statebackend.StateDesc) error { return nil }, func(e statebackend.Entry) error {
		out = append(out, fmt.Sprintf("%d %d %q %q %q", e.KeyGroup, e.State, e.Key, e.UserKey, e.Value))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}
