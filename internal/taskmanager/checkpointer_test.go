package taskmanager

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"

	"google.golang.org/grpc"

	weirv1 "github.com/weirstream/weir/api/proto/weir/v1"
	"github.com/weirstream/weir/internal/checkpoint"
	"github.com/weirstream/weir/internal/checkpoint/objstore"
	"github.com/weirstream/weir/internal/clock"
	"github.com/weirstream/weir/stream"
)

// reports is a resource manager that records the checkpoints acknowledged
// and declined.
type reports struct {
	weirv1.ResourceManagerServiceClient
	mu       sync.Mutex
	acks     []*weirv1.AcknowledgeCheckpointRequest
	declines []*weirv1.DeclineCheckpointRequest
}

func (r *reports) AcknowledgeCheckpoint(_ context.Context, in *weirv1.AcknowledgeCheckpointRequest, _ ...grpc.CallOption) (*weirv1.AcknowledgeCheckpointResponse, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.acks = append(r.acks, in)
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

func (c *captured) Encode() ([]byte, error) {
	c.encoded++
	return c.keyed, c.err
}

func (c *captured) Discard() { c.discarded++ }

// The checkpointer encodes the keyed state a task captured at the barrier
// and counts it in the checkpoint's state size; when the checkpoint is
// declined before or while encoding, every captured snapshot not encoded
// is discarded, so that the backend stops copying on write.
func TestCheckpointerEncodesOrDiscardsCapturedState(t *testing.T) {
	const job = "0123456789abcdef0123456789abcdef"
	for _, c := range []struct {
		name     string
		storage  string
		errs     []error // of each operator's Encode
		declined bool
	}{
		{name: "encoded", storage: "memory://checkpointer-captured", errs: []error{nil, nil}},
		{name: "storage fails", storage: "nosuch://bucket", errs: []error{nil, nil}, declined: true},
		{name: "encoding fails", storage: "memory://checkpointer-captured", errs: []error{errors.New("bad state"), nil}, declined: true},
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
