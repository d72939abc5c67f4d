package checkpoint_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	weirv1 "github.com/weirstream/weir/api/proto/weir/v1"
	"github.com/weirstream/weir/internal/checkpoint"
	"github.com/weirstream/weir/internal/checkpoint/objstore"
	"github.com/weirstream/weir/internal/checkpoint/objstore/memory"
	"github.com/weirstream/weir/internal/checkpoint/objstore/objstoretest"
	"github.com/weirstream/weir/internal/coordinator"
)

const job = "job"

var subtasks = []coordinator.SubtaskID{{Vertex: 0, Subtask: 0}, {Vertex: 0, Subtask: 1}}

// driver takes checkpoints the way the runtime does: each subtask writes
// its state object and acknowledges (or declines if the write failed); when
// all have acknowledged, the coordinator's metadata write publishes
// _metadata last; then it discards what the coordinator gives up (aborted
// checkpoints, and completed ones beyond retention) and collects garbage.
type driver struct {
	c *coordinator.Coordinator
}

func newDriver() *driver {
	return &driver{c: coordinator.New(coordinator.Config{Interval: 1, Timeout: 100, NumRetained: 1, TolerableFailures: 10},
		1, subtasks, subtasks, 1)}
}

func (d *driver) checkpoint(ctx context.Context, st objstore.Store) {
	d.c.Tick()
	eff := d.c.Ready()
	for _, trig := range eff.Trigger {
		dir := checkpoint.CheckpointDir(job, int64(trig.ID))
		for _, s := range subtasks {
			name := checkpoint.ObjectName(s.Vertex, int(s.Subtask), 1)
			ob := checkpoint.NewObjectBuilder(name, nil)
			ob.Add("op", int(s.Subtask), checkpoint.Section{Elements: [][]byte{[]byte(fmt.Sprintf("state of %d at %d", s.Subtask, trig.ID))}})
			if err := st.Put(ctx, checkpoint.Join(dir, name), ob.Bytes()); err != nil {
				d.c.Decline(trig.ID, s, 1, err.Error())
				continue
			}
			d.c.Ack(trig.ID, s, 1, ob.Handles())
		}
	}
	for range 3 { // effects lead to more effects: writes to Persisted
		eff = d.c.Ready()
		for _, w := range eff.Write {
			meta := &weirv1.CheckpointMetadata{JobId: job, CheckpointId: int64(w.ID)}
			op := &weirv1.OperatorState{OperatorUid: "op", Parallelism: 2}
			for _, s := range subtasks {
				if h, ok := w.Acks[s]; ok {
					op.Subtasks = append(op.Subtasks, h.([]*weirv1.OperatorSubtaskState)...)
				}
			}
			meta.Operators = []*weirv1.OperatorState{op}
			d.c.Persisted(w.ID, checkpoint.WriteMetadata(ctx, st, checkpoint.CheckpointDir(job, int64(w.ID)), meta))
		}
		for _, id := range eff.Discard {
			_ = st.DeletePrefix(ctx, checkpoint.CheckpointDir(job, int64(id))+"/")
		}
		for _, done := range eff.Completed {
			_ = checkpoint.Garbage(ctx, st, job, int64(done.ID))
		}
	}
}

// recover returns the checkpoint recovery would use: the newest with a
// _metadata. Every checkpoint with a _metadata must verify: a torn one
// fails the test.
func recoverLatest(t *testing.T, st objstore.Store) int64 {
	t.Helper()
	ctx := context.Background()
	ids, err := checkpoint.Completed(ctx, st, job)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		dir := checkpoint.CheckpointDir(job, id)
		meta, err := checkpoint.ReadMetadata(ctx, st, dir)
		if err != nil {
			t.Fatalf("checkpoint %d has an unreadable _metadata: %v", id, err)
		}
		if err := checkpoint.Verify(ctx, st, dir, meta); err != nil {
			t.Fatalf("checkpoint %d is torn: %v", id, err)
		}
	}
	if len(ids) == 0 {
		t.Fatal("no complete checkpoint left")
	}
	return ids[0]
}

// Whatever single storage call fails while checkpoint 2 is taken —
// including a write that lands although the caller sees an error —
// recovery finds checkpoint 1 or 2, complete, never a torn one.
func TestCheckpointSurvivesAnySingleFault(t *testing.T) {
	ctx := context.Background()
	for _, applied := range []bool{false, true} {
		for i := 0; ; i++ {
			mem := memory.New()
			faulty := objstoretest.Wrap(mem, nil)
			d := newDriver()
			d.checkpoint(ctx, faulty)
			if got := recoverLatest(t, mem); got != 1 {
				t.Fatalf("seeding: latest %d", got)
			}
			start := faulty.Calls()
			faulty.SetRule(objstoretest.FailAt(start+i, objstoretest.ErrInjected, applied))
			d.checkpoint(ctx, faulty)
			got := recoverLatest(t, mem)
			if got != 1 && got != 2 {
				t.Fatalf("fault at call %d (applied %t): recovery uses checkpoint %d", i, applied, got)
			}
			if faulty.Calls() <= start+i {
				t.Logf("applied=%t: swept %d storage calls", applied, i)
				break
			}
		}
	}
}

// Recovery skips a checkpoint whose _metadata is gone, and detects a
// flipped byte in a state object.
func TestDamagedCheckpoints(t *testing.T) {
	ctx := context.Background()
	mem := memory.New()
	d := newDriver()
	d.checkpoint(ctx, mem)
	// Retention discards checkpoint 1 when 2 completes; put it back.
	keep, _ := mem.List(ctx, checkpoint.CheckpointDir(job, 1)+"/")
	saved := map[string][]byte{}
	for _, k := range keep {
		saved[k], _ = mem.Get(ctx, k)
	}
	d.checkpoint(ctx, mem)
	for k, v := range saved {
		if err := mem.Put(ctx, k, v); err != nil {
			t.Fatal(err)
		}
	}
	if err := mem.Delete(ctx, checkpoint.Join(checkpoint.CheckpointDir(job, 2), checkpoint.MetadataName)); err != nil {
		t.Fatal(err)
	}
	if got := recoverLatest(t, mem); got != 1 {
		t.Fatalf("without checkpoint 2's _metadata recovery uses %d", got)
	}
	key := checkpoint.Join(checkpoint.CheckpointDir(job, 1), checkpoint.ObjectName(0, 1, 1))
	obj, err := mem.Get(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	obj[len(obj)/2] ^= 0x10
	if err := mem.Put(ctx, key, obj); err != nil {
		t.Fatal(err)
	}
	meta, err := checkpoint.ReadMetadata(ctx, mem, checkpoint.CheckpointDir(job, 1))
	if err != nil {
		t.Fatal(err)
	}
	if err := checkpoint.Verify(ctx, mem, checkpoint.CheckpointDir(job, 1), meta); !errors.Is(err, checkpoint.ErrCorrupt) {
		t.Fatalf("Verify of a flipped byte: %v", err)
	}
}

// Verify does not follow a handle out of the snapshot directory, even to
// an intact object of another checkpoint of the same job.
func TestVerifyConfinesObjects(t *testing.T) {
	ctx := context.Background()
	mem := memory.New()
	d := newDriver()
	d.checkpoint(ctx, mem)
	dir := checkpoint.CheckpointDir(job, 1)
	meta, err := checkpoint.ReadMetadata(ctx, mem, dir)
	if err != nil {
		t.Fatal(err)
	}
	h := meta.GetOperators()[0].GetSubtasks()[0].GetHandle()
	// The same object, reached through a detour that leaves the directory.
	h.Object = "../chk-1/" + h.GetObject()
	if err := checkpoint.Verify(ctx, mem, dir, meta); !errors.Is(err, checkpoint.ErrCorrupt) || !strings.Contains(err.Error(), "../chk-1/") {
		t.Fatalf("Verify of an escaping handle: %v", err)
	}
}
