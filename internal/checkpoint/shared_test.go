package checkpoint

import (
	"context"
	"errors"
	"slices"
	"testing"

	weirv1 "github.com/weirstream/weir/api/proto/weir/v1"
	"github.com/weirstream/weir/internal/checkpoint/objstore/memory"
)

// SweepShared keeps exactly the shared objects a completed checkpoint
// references, and leaves checkpoints alone.
func TestSweepShared(t *testing.T) {
	ctx := context.Background()
	st := memory.New()
	put := func(k string) {
		if err := st.Put(ctx, k, []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	for _, o := range []string{"shared/a", "shared/b", "shared/c", "shared/d"} {
		put("job/" + o)
	}
	put("job/chk-3/1-0-a1")
	meta := func(id int64, shared ...string) {
		m := &weirv1.CheckpointMetadata{JobId: "job", CheckpointId: id, Operators: []*weirv1.OperatorState{{OperatorUid: "op",
			Subtasks: []*weirv1.OperatorSubtaskState{{Handle: &weirv1.StateHandle{Object: "1-0-a1", SharedObjects: shared}}}}}}
		if err := WriteMetadata(ctx, st, CheckpointDir("job", id), m); err != nil {
			t.Fatal(err)
		}
	}
	meta(3, "shared/a", "shared/b")
	meta(4, "shared/b", "shared/d")
	if err := SweepShared(ctx, st, "job"); err != nil {
		t.Fatal(err)
	}
	keys, err := st.List(ctx, "job/")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"job/chk-3/1-0-a1", "job/chk-3/_metadata", "job/chk-4/_metadata", "job/shared/a", "job/shared/b", "job/shared/d"}
	if !slices.Equal(keys, want) {
		t.Fatalf("after the sweep: %v, want %v", keys, want)
	}
	m4, err := ReadMetadata(ctx, st, "job/chk-4")
	if err != nil {
		t.Fatal(err)
	}
	if err := VerifyShared(ctx, st, "job/chk-4", m4); err != nil {
		t.Fatalf("VerifyShared of an intact checkpoint: %v", err)
	}
	if err := st.Delete(ctx, "job/shared/d"); err != nil {
		t.Fatal(err)
	}
	if err := VerifyShared(ctx, st, "job/chk-4", m4); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("VerifyShared with a shared object missing: %v, want ErrCorrupt", err)
	}
	if got := SharedObjectPath("job/chk-4", "shared/a"); got != "job/shared/a" {
		t.Fatalf("SharedObjectPath = %q", got)
	}
	if got := SharedObjectPath("chk-4", "shared/a"); got != "shared/a" {
		t.Fatalf("SharedObjectPath of a snapshot at the storage's root = %q", got)
	}
}
