package jobmanager

import (
	"context"
	"log/slog"
	"slices"
	"testing"

	"github.com/weirstream/weir/internal/checkpoint/objstore/memory"
	"github.com/weirstream/weir/internal/coordinator"
)

// The shared objects of a discarded checkpoint are deleted once no
// retained checkpoint references them and no pending checkpoint is based
// on it; an object a retained checkpoint references stays.
func TestCollectSharedObjects(t *testing.T) {
	ctx := context.Background()
	st := memory.New()
	for _, o := range []string{"a", "b", "c", "d"} {
		if err := st.Put(ctx, "job/shared/"+o, []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	m := &jobMaster{log: slog.New(slog.DiscardHandler)}
	c := &checkpointing{jobID: "job", store: st, records: map[coordinator.ID]*record{},
		refs: map[int64][]string{2: {"shared/a", "shared/b"}, 3: {"shared/b", "shared/c"}}, discarded: map[int64][]string{}}
	stored := func() []string {
		c.wg.Wait()
		keys, err := st.List(ctx, "job/shared/")
		if err != nil {
			t.Fatal(err)
		}
		return keys
	}
	// Checkpoint 4 is pending, based on 3, and 3 is discarded: nothing
	// goes while 4 may reference 3's objects.
	c.records[4] = &record{base: 3}
	c.discarded[3] = c.refs[3]
	delete(c.refs, 3)
	c.collect(m)
	if got := stored(); len(got) != 4 {
		t.Fatalf("deleted while a pending checkpoint is based on the discarded one: %v", got)
	}
	// 4 completed referencing b and d; now 3's c goes, b stays (2 and 4).
	delete(c.records, 4)
	c.refs[4] = []string{"shared/b", "shared/d"}
	c.collect(m)
	if got, want := stored(), []string{"job/shared/a", "job/shared/b", "job/shared/d"}; !slices.Equal(got, want) {
		t.Fatalf("after collecting 3: %v, want %v", got, want)
	}
	// 2 discarded with nothing pending: a goes.
	c.discarded[2] = c.refs[2]
	delete(c.refs, 2)
	c.collect(m)
	if got, want := stored(), []string{"job/shared/b", "job/shared/d"}; !slices.Equal(got, want) {
		t.Fatalf("after collecting 2: %v, want %v", got, want)
	}
	if len(c.discarded) != 0 {
		t.Fatalf("discarded left: %v", c.discarded)
	}
}
