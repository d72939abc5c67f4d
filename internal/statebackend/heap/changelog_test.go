package heap

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"weak"

	"github.com/weirstream/weir/internal/keygroup"
	"github.com/weirstream/weir/internal/statebackend"
)

// memStore is checkpoint storage for shared objects, in memory.
type memStore struct {
	scope string
	mu    sync.Mutex
	objs  map[string][]byte
}

func newMemStore() *memStore { return &memStore{scope: "mem", objs: map[string][]byte{}} }

func (s *memStore) Scope() string { return s.scope }

func (s *memStore) PutShared(_ context.Context, data []byte) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	name := fmt.Sprintf("shared/%d", len(s.objs))
	s.objs[name] = slices.Clone(data)
	return name, nil
}

func (s *memStore) PutSharedFile(ctx context.Context, path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	return s.PutShared(ctx, data)
}

// objects returns the objects of a persisted native snapshot.
func (s *memStore) objects(t testing.TB, p statebackend.Persisted) (Chain, [][]byte) {
	t.Helper()
	c, err := DecodeNative(p.Keyed)
	if err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var out [][]byte
	for i, o := range c.Objects {
		b, ok := s.objs[o.Name]
		if !ok || int64(len(b)) != o.Size || o.Name != p.Shared[i] {
			t.Fatalf("object %d of the chain, %+v, is not as stored (%d bytes)", i, o, len(b))
		}
		out = append(out, b)
	}
	return c, out
}

func newIncrementalTwin(t *testing.T) *twin {
	t.Helper()
	return newIncrementalTwinIn(t, "")
}

// newIncrementalTwinIn is newIncrementalTwin with the backend's full
// snapshots encoded into files in dir, unless it is "".
func newIncrementalTwinIn(t *testing.T, dir string) *twin {
	t.Helper()
	tw := newTwin(t)
	// The same writes, logged: a fresh incremental backend restored from
	// the twin's state, as after a restore, then written like the oracle.
	b := NewIncremental(cowRange, dir)
	snap, err := tw.b.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Restore(snap); err != nil {
		t.Fatal(err)
	}
	tw.b = b
	return tw
}

// checkpoint takes native snapshot id with base, persists it on another
// goroutine while the task writes on, and returns what was persisted and
// the state at the capture.
func (tw *twin) checkpoint(t *testing.T, st *memStore, id, base int64) (statebackend.Persisted, []string) {
	t.Helper()
	return tw.checkpointKept(t, st, id, base, "")
}

// checkpointKept is checkpoint, keeping a local copy in dst unless it is "".
func (tw *twin) checkpointKept(t *testing.T, st *memStore, id, base int64, dst string) (statebackend.Persisted, []string) {
	t.Helper()
	want := tw.want(t)
	ns, err := tw.b.NativeSnapshot(id, base)
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		p   statebackend.Persisted
		err error
	}
	done := make(chan result)
	go func() {
		p, err := ns.Persist(context.Background(), st, base)
		done <- result{p, err}
	}()
	tw.mutate(500)
	r := <-done
	if r.err != nil {
		t.Fatalf("persisting checkpoint %d: %v", id, r.err)
	}
	if dst != "" {
		if err := ns.Keep(dst); err != nil {
			t.Fatal(err)
		}
	}
	if err := ns.Discard(); err != nil {
		t.Fatal(err)
	}
	return r.p, want
}

// restored returns the entries of a fresh backend restored from p.
func restored(t *testing.T, st *memStore, id int64, p statebackend.Persisted) (*Backend, []string) {
	t.Helper()
	c, objs := st.objects(t, p)
	b := NewIncremental(cowRange, "")
	if err := b.RestoreNative(id, c, Objects(objs)); err != nil {
		t.Fatal(err)
	}
	snap, err := b.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	return b, snapshotEntries(t, snap)
}

// Each checkpoint of a chain restores the state at its barrier, whatever
// was written, overwritten and deleted in between; deltas upload only the
// keys written, and the chain turns full again once its deltas outgrow
// their budget. So with full snapshots encoded into files.
func TestIncrementalChainRestoresEachCheckpoint(t *testing.T) {
	t.Run("memory", func(t *testing.T) { testChainRestoresEachCheckpoint(t, newIncrementalTwin(t)) })
	t.Run("files", func(t *testing.T) { testChainRestoresEachCheckpoint(t, newIncrementalTwinIn(t, t.TempDir())) })
}

func testChainRestoresEachCheckpoint(t *testing.T, tw *twin) {
	st := newMemStore()
	var base int64
	var fulls, deltas int
	for id := int64(1); id <= 30; id++ {
		p, want := tw.checkpoint(t, st, id, base)
		if _, got := restored(t, st, id, p); !slices.Equal(got, want) {
			t.Fatalf("checkpoint %d (%d objects) restores %d entries, not the %d at its barrier:\n got %q\nwant %q",
				id, len(p.Shared), len(got), len(want), got, want)
		}
		if len(p.Shared) == 1 {
			fulls++
		} else {
			deltas++
			if p.Uploaded >= p.Full/int64(len(p.Shared)) && p.Uploaded*2 > p.Full {
				t.Errorf("checkpoint %d uploaded %d of its %d bytes: a delta should upload less than its chain", id, p.Uploaded, p.Full)
			}
		}
		base = id
	}
	tw.checkState(t)
	if fulls < 2 || deltas < 10 {
		t.Errorf("30 checkpoints took %d full snapshots and %d deltas; want deltas, and a full one again once they outgrow the budget", fulls, deltas)
	}
}

// A checkpoint whose base is not the backend's previous snapshot (that one
// failed or was aborted) is full; so is the first after a restore from a
// canonical snapshot. After a native restore, the next checkpoint based on
// the restored one is a delta of its chain.
func TestIncrementalFallsBackToFull(t *testing.T) {
	tw := newIncrementalTwin(t)
	st := newMemStore()
	if p, _ := tw.checkpoint(t, st, 1, 0); len(p.Shared) != 1 || !strings.Contains(p.Whole, "restored") {
		t.Fatalf("the first checkpoint after a restore references %d objects, whole because %q; want a full snapshot", len(p.Shared), p.Whole)
	}
	if p, _ := tw.checkpoint(t, st, 2, 1); len(p.Shared) != 2 || p.Whole != "" {
		t.Fatalf("checkpoint 2 based on 1 references %d objects, whole because %q; want a delta of 1", len(p.Shared), p.Whole)
	}
	// Checkpoint 3 fails after its capture; 4 is based on 2.
	ns, err := tw.b.NativeSnapshot(3, 2)
	if err != nil {
		t.Fatal(err)
	}
	if err := ns.Discard(); err != nil {
		t.Fatal(err)
	}
	tw.mutate(300)
	p4, want := tw.checkpoint(t, st, 4, 2)
	if len(p4.Shared) != 1 || !strings.Contains(p4.Whole, "checkpoint 2, is not the previous one taken here, 3") {
		t.Fatalf("checkpoint 4 based on 2, after 3 failed, references %d objects, whole because %q; want a full snapshot", len(p4.Shared), p4.Whole)
	}
	if n := tw.b.inflight.Load(); n != 0 {
		t.Errorf("%d snapshots in flight after all were persisted or discarded", n)
	}
	p5, _ := tw.checkpoint(t, st, 5, 4)
	if len(p5.Shared) != 2 {
		t.Fatalf("checkpoint 5 based on 4 references %d objects; want a delta", len(p5.Shared))
	}

	// A restore continues the chain.
	b, got := restored(t, st, 4, p4)
	if !slices.Equal(got, want) {
		t.Fatalf("checkpoint 4 restores %d entries, not %d", len(got), len(want))
	}
	b.SetCurrentKey([]byte("after-restore"), cowRange.Start)
	b.Put(0, []byte("x"))
	ns, err = b.NativeSnapshot(6, 4)
	if err != nil {
		t.Fatal(err)
	}
	p6, err := ns.Persist(context.Background(), st, 4)
	if err != nil {
		t.Fatal(err)
	}
	if len(p6.Shared) != 2 || p6.Shared[0] != p4.Shared[0] {
		t.Errorf("the first checkpoint after restoring 4 references %q; want a delta of 4's chain %q", p6.Shared, p4.Shared)
	}
	// A delta persisted against another base or storage is refused.
	ns, err = b.NativeSnapshot(7, 6)
	if err != nil {
		t.Fatal(err)
	}
	other := newMemStore()
	other.scope = "elsewhere"
	if _, err := ns.Persist(context.Background(), other, 6); err == nil {
		t.Error("a delta of a chain in one storage was persisted in another")
	}
	if n := b.inflight.Load(); n != 0 {
		t.Errorf("%d snapshots in flight after a refused one", n)
	}
}

// A log that outgrows its bound is dropped, and the next checkpoint is full.
func TestIncrementalLogBounded(t *testing.T) {
	defer func(n int) { maxLogged = n }(maxLogged)
	maxLogged = 100
	tw := newIncrementalTwin(t)
	st := newMemStore()
	tw.checkpoint(t, st, 1, 0)
	tw.mutate(1000)
	if n := logged(tw.b); n > maxLogged {
		t.Errorf("the log holds %d changes, past its bound %d", n, maxLogged)
	}
	p, want := tw.checkpoint(t, st, 2, 1)
	if len(p.Shared) != 1 || !strings.Contains(p.Whole, "more than 100 writes") {
		t.Errorf("the checkpoint after the log overflowed references %d objects, whole because %q; want a full snapshot", len(p.Shared), p.Whole)
	}
	if _, got := restored(t, st, 2, p); !slices.Equal(got, want) {
		t.Errorf("checkpoint 2 restores %d entries, not %d", len(got), len(want))
	}
}

// A manifest counts the keys of each state in each key group at the
// barrier, and a restore makes room for them before it applies the
// objects, so that its maps do not grow key by key: it allocates less. A
// manifest written before the counts ("WKH1") restores the same state, and
// counts beyond the chain's bytes are corrupt.
func TestManifestCountsTheKeys(t *testing.T) {
	const n = 100_000
	c, objs := wordCountChain(t, n, 2)
	if len(c.Keys) != 1 || c.Keys[0].Name != "count" || c.Keys[0].Kind != statebackend.KindValue ||
		c.Keys[0].Start != 0 || len(c.Keys[0].Keys) != keygroup.DefaultMaxParallelism {
		t.Fatalf("the manifest counts %+v, want the count state's keys in each of %d key groups", c.Keys, keygroup.DefaultMaxParallelism)
	}
	var total int64
	for _, k := range c.Keys[0].Keys {
		total += k
	}
	if total != n {
		t.Errorf("the manifest counts %d keys, want %d", total, n)
	}

	v1 := Chain{Scope: c.Scope, Objects: c.Objects}.appendManifest(nil)
	v1 = append([]byte("WKH1"), v1[len(nativeMagic):len(v1)-1]...) // no key counts
	old, err := DecodeNative(v1)
	if err != nil {
		t.Fatalf("a manifest without key counts: %v", err)
	}
	if old.Keys != nil || !slices.Equal(old.Objects, c.Objects) {
		t.Fatalf("a manifest without key counts decodes as %+v", old)
	}

	restore := func(c Chain) (uint64, []string) {
		b := NewIncremental(keygroup.Range{Start: 0, End: keygroup.DefaultMaxParallelism}, "")
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		if err := b.RestoreNative(2, c, Objects(objs)); err != nil {
			t.Fatal(err)
		}
		runtime.ReadMemStats(&after)
		snap, err := b.Snapshot()
		if err != nil {
			t.Fatal(err)
		}
		return after.TotalAlloc - before.TotalAlloc, snapshotEntries(t, snap)
	}
	with, got := restore(c)
	without, want := restore(old)
	if !slices.Equal(got, want) || len(got) != n {
		t.Fatalf("restored with key counts, %d entries; without, %d; want the same %d", len(got), len(want), n)
	}
	if float64(with) > 0.9*float64(without) {
		t.Errorf("a restore that made room for the keys allocated %d bytes, one that did not %d: want at least a tenth less", with, without)
	}

	bad := Chain{Scope: c.Scope, Objects: c.Objects, Keys: []StateKeys{{Name: "count", Kind: statebackend.KindValue, Keys: []int64{c.bytes() + 1}}}}
	if _, err := DecodeNative(bad.appendManifest(nil)); !errors.Is(err, ErrCorrupt) {
		t.Errorf("a manifest counting more keys than its chain has bytes: %v, want ErrCorrupt", err)
	}
	bad.Keys = []StateKeys{{Name: "count", Kind: 9, Keys: []int64{1}}}
	if _, err := DecodeNative(bad.appendManifest(nil)); !errors.Is(err, ErrCorrupt) {
		t.Errorf("a manifest counting the keys of a state of kind 9: %v, want ErrCorrupt", err)
	}
}

// fourCheckpoints takes checkpoints 1 to 4 of an incremental twin, each
// based on the one before, and returns the chain of checkpoint 4, its
// objects (a full snapshot and three deltas) and the state at its barrier.
func fourCheckpoints(t *testing.T) (Chain, [][]byte, []string) {
	t.Helper()
	tw := newIncrementalTwin(t)
	st := newMemStore()
	var p statebackend.Persisted
	var want []string
	for id := int64(1); id <= 4; id++ {
		p, want = tw.checkpoint(t, st, id, id-1)
	}
	c, objs := st.objects(t, p)
	return c, objs, want
}

// A restore reads a chain's objects in order and is done with each before
// it reads the next: the object is unreachable by then (the backend copies
// what it keeps), so a restore holds the state and one object rather than
// the whole chain.
func TestRestoreHoldsOneObjectAtATime(t *testing.T) {
	c, objs, want := fourCheckpoints(t)
	if len(objs) != 4 {
		t.Fatalf("the chain of checkpoint 4 is %d objects, want a full snapshot and 3 deltas", len(objs))
	}
	var asked []int
	var prev weak.Pointer[byte]
	b := NewIncremental(cowRange, "")
	err := b.RestoreNative(4, c, func(i int) ([]byte, string, error) {
		asked = append(asked, i)
		if i > 0 {
			runtime.GC()
			if prev.Value() != nil {
				return nil, "", fmt.Errorf("object %d read while object %d is still held", i+1, i)
			}
		}
		// A copy of its own, which only the restore holds.
		o := bytes.Clone(objs[i])
		prev = weak.Make(&o[0])
		return o, "", nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(asked, []int{0, 1, 2, 3}) {
		t.Errorf("the restore read objects %v, want each once in order", asked)
	}
	snap, err := b.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if got := snapshotEntries(t, snap); !slices.Equal(got, want) {
		t.Errorf("the restore holds %d entries, not the %d at checkpoint 4's barrier", len(got), len(want))
	}
}

// A chain restores at another parallelism as a canonical snapshot of the
// new range's key groups.
func TestIncrementalCanonical(t *testing.T) {
	c, objs, want := fourCheckpoints(t)
	half := keygroup.Range{Start: cowRange.Start, End: cowRange.Start + cowRange.Len()/2}
	snap, err := Canonical(half, c, Objects(objs))
	if err != nil {
		t.Fatal(err)
	}
	var wantHalf []string
	for _, e := range want {
		var kg int
		if _, err := fmt.Sscanf(e, "kg=%d", &kg); err != nil {
			t.Fatal(err)
		}
		if half.Contains(kg) {
			wantHalf = append(wantHalf, e)
		}
	}
	if got := snapshotEntries(t, snap); !slices.Equal(got, wantHalf) || len(got) == 0 {
		t.Errorf("the canonical snapshot of %s holds %d entries, not %d", half, len(got), len(wantHalf))
	}
}

// A damaged manifest or object is refused with ErrCorrupt, never applied
// in part as if it were the state.
func TestIncrementalCorrupt(t *testing.T) {
	tw := newIncrementalTwin(t)
	st := newMemStore()
	tw.checkpoint(t, st, 1, 0)
	p, _ := tw.checkpoint(t, st, 2, 1)
	c, objs := st.objects(t, p)
	for _, keyed := range [][]byte{nil, []byte("WKH1"), p.Keyed[:len(p.Keyed)-1], append(slices.Clone(p.Keyed), 0)} {
		if _, err := DecodeNative(keyed); !errors.Is(err, ErrCorrupt) {
			t.Errorf("DecodeNative(%q) = %v; want ErrCorrupt", keyed, err)
		}
	}
	delta := objs[1]
	for _, bad := range [][]byte{delta[:len(delta)-1], delta[:len(delta)/2], append(slices.Clone(delta), 7), []byte("WKS1")} {
		err := NewIncremental(cowRange, "").RestoreNative(2, c, Objects([][]byte{objs[0], bad}))
		if !errors.Is(err, ErrCorrupt) {
			t.Errorf("restoring a chain with a damaged delta (%d bytes) = %v; want ErrCorrupt", len(bad), err)
		}
	}
	// A flipped bit, in a local copy or in storage, fails the CRC-32C.
	for i := range objs {
		bad := slices.Clone(objs[i])
		bad[len(bad)/2] ^= 1
		if err := c.Verify(i, bad); !errors.Is(err, ErrCorrupt) {
			t.Errorf("object %d with a flipped bit: Verify = %v; want ErrCorrupt", i, err)
		}
		if err := c.Verify(i, objs[i]); err != nil {
			t.Errorf("object %d as persisted: Verify = %v", i, err)
		}
	}
	bad := slices.Clone(objs[1])
	bad[len(bad)/2] ^= 1
	if err := NewIncremental(cowRange, "").RestoreNative(2, c, Objects([][]byte{objs[0], bad})); !errors.Is(err, ErrCorrupt) {
		t.Errorf("restoring a chain with a flipped bit = %v; want ErrCorrupt", err)
	}
}

// Writing a key again within an interval logs it once; a backend that
// takes no native snapshots logs nothing.
func TestIncrementalLogsOncePerInterval(t *testing.T) {
	b := NewIncremental(cowRange, "")
	id, _ := b.Register("v", statebackend.KindValue)
	m, _ := b.Register("m", statebackend.KindMap)
	for i := range 100 {
		b.SetCurrentKey([]byte("k"), cowRange.Start)
		b.Put(id, fmt.Appendf(nil, "%d", i))
		b.MapPut(m, []byte("uk"), fmt.Appendf(nil, "%d", i))
	}
	if n := logged(b); n != 2 {
		t.Errorf("100 writes of one key logged %d changes; want 2 (one a state)", n)
	}
	plain := New(cowRange)
	plain.Register("v", statebackend.KindValue)
	plain.SetCurrentKey([]byte("k"), cowRange.Start)
	plain.Put(id, []byte("v"))
	if plain.log != nil {
		t.Error("a backend made by New logs its writes")
	}
	if _, err := plain.NativeSnapshot(1, 0); err == nil {
		t.Error("a backend made by New took a native snapshot")
	}
}

// logged counts the changes in b's log.
func logged(b *Backend) int {
	n := 0
	for _, l := range b.log.changes {
		n += len(l.values) + len(l.maps)
	}
	return n
}

// The backend's estimate of its size, which decides when a chain turns
// full, follows every write and delete.
func TestIncrementalSizeEstimate(t *testing.T) {
	tw := newIncrementalTwin(t)
	st := newMemStore()
	for id := int64(1); id <= 5; id++ {
		tw.checkpoint(t, st, id, id-1)
		snap, err := tw.b.Snapshot()
		if err != nil {
			t.Fatal(err)
		}
		var want int64
		err = statebackend.DecodeSnapshot(snap, func([]statebackend.StateDesc) error { return nil }, func(e statebackend.Entry) error {
			want += int64(len(e.Key) + len(e.Value) + entryOverhead)
			if e.UserKey != nil {
				want += int64(len(e.UserKey) + 1)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if tw.b.size != want {
			t.Fatalf("after checkpoint %d the backend estimates its size at %d bytes; its entries make %d", id, tw.b.size, want)
		}
	}
}

// A backend that started empty begins its chain with a delta of every
// write: its first checkpoint encodes no full snapshot.
func TestIncrementalFirstChainFromEmpty(t *testing.T) {
	tw := newTwin(t)
	tw.b = NewIncremental(cowRange, "")
	for _, s := range []struct {
		name string
		kind statebackend.Kind
	}{{"v", statebackend.KindValue}, {"l", statebackend.KindList}, {"m", statebackend.KindMap}} {
		if _, err := tw.b.Register(s.name, s.kind); err != nil {
			t.Fatal(err)
		}
	}
	tw.oracle = New(cowRange)
	for _, s := range []string{"v", "l", "m"} {
		kind := map[string]statebackend.Kind{"v": statebackend.KindValue, "l": statebackend.KindList, "m": statebackend.KindMap}[s]
		if _, err := tw.oracle.Register(s, kind); err != nil {
			t.Fatal(err)
		}
	}
	tw.mutate(2000)
	st := newMemStore()
	p, want := tw.checkpoint(t, st, 1, 0)
	_, objs := st.objects(t, p)
	if len(objs) != 1 || !isDelta(objs[0]) {
		t.Fatalf("the first checkpoint of a backend that started empty is %d objects, delta %v; want one delta", len(objs), len(objs) == 1 && isDelta(objs[0]))
	}
	if _, got := restored(t, st, 1, p); !slices.Equal(got, want) || len(got) == 0 {
		t.Fatalf("checkpoint 1 restores %d entries, not the %d at its barrier", len(got), len(want))
	}
	p, want = tw.checkpoint(t, st, 2, 1)
	if _, got := restored(t, st, 2, p); len(p.Shared) != 2 || !slices.Equal(got, want) {
		t.Fatalf("checkpoint 2 (%d objects) restores %d entries, not %d", len(p.Shared), len(got), len(want))
	}
}

// A kept local copy holds every object of its chain, the older ones as
// hard links to the previous copy's files, and restores the checkpoint
// alone; after a restore from it the next copy links to it again. So with
// full snapshots encoded into files, which Keep moves.
func TestIncrementalLocalCopy(t *testing.T) {
	t.Run("memory", func(t *testing.T) { testLocalCopy(t, newIncrementalTwin(t)) })
	t.Run("files", func(t *testing.T) { testLocalCopy(t, newIncrementalTwinIn(t, t.TempDir())) })
}

func testLocalCopy(t *testing.T, tw *twin) {
	st := newMemStore()
	root := t.TempDir()
	dir := func(id int64) string { return filepath.Join(root, fmt.Sprintf("chk-%d", id)) }
	var p statebackend.Persisted
	var want []string
	for id := int64(1); id <= 3; id++ {
		p, want = tw.checkpointKept(t, st, id, id-1, dir(id))
	}
	c, _ := st.objects(t, p)
	if len(c.Objects) != 3 {
		t.Fatalf("checkpoint 3's chain has %d objects; want a full snapshot and two deltas", len(c.Objects))
	}
	// Only checkpoint 3's copy is left, as after pruning.
	for _, id := range []int64{1, 2} {
		if err := os.RemoveAll(dir(id)); err != nil {
			t.Fatal(err)
		}
	}
	objs := make([][]byte, len(c.Objects))
	files := map[string]string{}
	for i, o := range c.Objects {
		f := filepath.Join(dir(3), LocalName(o.Name))
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatalf("the local copy of checkpoint 3 lacks object %d: %v", i, err)
		}
		objs[i], files[o.Name] = b, f
	}
	b := NewIncremental(cowRange, "")
	if err := b.RestoreNative(3, c, func(i int) ([]byte, string, error) { return objs[i], files[c.Objects[i].Name], nil }); err != nil {
		t.Fatal(err)
	}
	snap, err := b.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if got := snapshotEntries(t, snap); !slices.Equal(got, want) {
		t.Fatalf("the local copy restores %d entries, not %d", len(got), len(want))
	}
	tw.b = b
	tw.oracle = New(cowRange)
	if err := tw.oracle.Restore(snap); err != nil {
		t.Fatal(err)
	}
	tw.mutate(200)
	p4, _ := tw.checkpointKept(t, st, 4, 3, dir(4))
	if len(p4.Shared) != 4 {
		t.Fatalf("the checkpoint after the restore references %d objects; want a delta of the restored chain", len(p4.Shared))
	}
	for _, o := range p4.Shared {
		if _, err := os.Stat(filepath.Join(dir(4), LocalName(o))); err != nil {
			t.Errorf("the local copy after the restore lacks %s: %v", o, err)
		}
	}
}

// The first writes after a restore reach the next delta: a restored
// backend writes its restored keys in a new epoch, so each is logged
// (a second failure then restores the writes, not the restored values).
func TestIncrementalWritesAfterRestore(t *testing.T) {
	b := NewIncremental(cowRange, "")
	v, _ := b.Register("v", statebackend.KindValue)
	l, _ := b.Register("l", statebackend.KindList)
	m, _ := b.Register("m", statebackend.KindMap)
	write := func(b *Backend, s string) {
		b.SetCurrentKey([]byte("k"), cowRange.Start)
		b.Put(v, []byte(s))
		b.Append(l, []byte(s))
		b.MapPut(m, []byte("uk"), []byte(s))
	}
	write(b, "old")
	st := newMemStore()
	persist := func(b *Backend, id, base int64) statebackend.Persisted {
		t.Helper()
		ns, err := b.NativeSnapshot(id, base)
		if err != nil {
			t.Fatal(err)
		}
		p, err := ns.Persist(context.Background(), st, base)
		if err != nil {
			t.Fatal(err)
		}
		if err := ns.Discard(); err != nil {
			t.Fatal(err)
		}
		return p
	}
	p1 := persist(b, 1, 0)

	for _, restore := range []string{"native", "canonical"} {
		t.Run(restore, func(t *testing.T) {
			b2 := NewIncremental(cowRange, "")
			c, objs := st.objects(t, p1)
			if restore == "native" {
				if err := b2.RestoreNative(1, c, Objects(objs)); err != nil {
					t.Fatal(err)
				}
			} else {
				snap, err := Canonical(cowRange, c, Objects(objs))
				if err != nil {
					t.Fatal(err)
				}
				if err := b2.Restore(snap); err != nil {
					t.Fatal(err)
				}
			}
			write(b2, "new")
			want, err := b2.Snapshot()
			if err != nil {
				t.Fatal(err)
			}
			p2 := persist(b2, 2, 1)
			if restore == "native" && len(p2.Shared) != 2 {
				t.Errorf("the checkpoint after a native restore references %d objects; want a delta of the restored chain", len(p2.Shared))
			}
			_, got := restored(t, st, 2, p2)
			if w := snapshotEntries(t, want); !slices.Equal(got, w) {
				t.Errorf("checkpoint 2 after a %s restore holds\n %q\nwant the writes after the restore\n %q", restore, got, w)
			}
		})
	}
}

// A delta captures no key group's map: writes while it is encoded change
// the maps in place, and clone only the entries and user maps it logged.
func TestDeltaClonesNoKeyGroupMap(t *testing.T) {
	b := NewIncremental(cowRange, "")
	v, _ := b.Register("v", statebackend.KindValue)
	m, _ := b.Register("m", statebackend.KindMap)
	for i := range 100 {
		b.SetCurrentKey(fmt.Appendf(nil, "k%d", i), cowRange.Start)
		b.Put(v, []byte("x"))
		b.MapPut(m, []byte("uk"), []byte("x"))
	}
	st := newMemStore()
	ns, err := b.NativeSnapshot(1, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := ns.(*nativeSnapshot); !ok || ns.(*nativeSnapshot).full != nil {
		t.Fatal("the first snapshot of a backend that started empty is not a delta")
	}
	valuesEpoch, mapsEpoch := b.states[v].epochs[0], b.states[m].epochs[0]
	b.SetCurrentKey([]byte("k1"), cowRange.Start)
	b.Put(v, []byte("y"))
	b.MapPut(m, []byte("uk"), []byte("y"))
	b.SetCurrentKey([]byte("new"), cowRange.Start)
	b.Put(v, []byte("y"))
	b.MapPut(m, []byte("uk"), []byte("y"))
	if b.states[v].epochs[0] != valuesEpoch || b.states[m].epochs[0] != mapsEpoch {
		t.Error("a write while a delta was being encoded cloned its key group's map")
	}
	p, err := ns.Persist(context.Background(), st, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, got := restored(t, st, 1, p)
	if len(got) != 200 || !slices.Contains(got, `kg=4 state=0 key="k1" uk="" value="x"`) || !slices.Contains(got, `kg=4 state=1 key="k1" uk="uk" value="x"`) {
		t.Errorf("the delta holds %d entries, or not k1's values at its capture: %q", len(got), got[:min(len(got), 4)])
	}
}

// Closing the backend (its task ended) stops the encode of a snapshot in
// flight, canonical or delta, so it holds the state no longer.
func TestCloseStopsEncodes(t *testing.T) {
	tw := newTwin(t)
	s := tw.b.SnapshotAsync()
	if err := tw.b.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AppendEncoded(nil); !errors.Is(err, ErrClosed) {
		t.Errorf("encoding a snapshot of a closed backend = %v; want ErrClosed", err)
	}

	b := NewIncremental(cowRange, "")
	v, _ := b.Register("v", statebackend.KindValue)
	b.SetCurrentKey([]byte("k"), cowRange.Start)
	b.Put(v, []byte("x"))
	ns, err := b.NativeSnapshot(1, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := ns.Persist(context.Background(), newMemStore(), 0); !errors.Is(err, ErrClosed) {
		t.Errorf("persisting a delta of a closed backend = %v; want ErrClosed", err)
	}
	if n := b.inflight.Load(); n != 0 {
		t.Errorf("%d snapshots in flight after the only one stopped", n)
	}
}

// While a delta is encoded, a write copies only the entries it logged:
// an entry it does not read is written in place.
func TestDeltaCopiesOnlyItsEntries(t *testing.T) {
	b := NewIncremental(cowRange, "")
	v, _ := b.Register("v", statebackend.KindValue)
	l, _ := b.Register("l", statebackend.KindList)
	at := func(i int) { b.SetCurrentKey(fmt.Appendf(nil, "k%d", i), cowRange.Start+i%cowRange.Len()) }
	entries := func() (es []*entry) {
		for i := range 100 {
			at(i)
			es = append(es, b.states[v].values[b.kg][string(b.key)], b.states[l].values[b.kg][string(b.key)])
		}
		return es
	}
	for i := range 100 {
		at(i)
		b.Put(v, []byte("x"))
		b.Append(l, []byte("x"))
	}
	st := newMemStore()
	ns, err := b.NativeSnapshot(1, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ns.Persist(context.Background(), st, 0); err != nil {
		t.Fatal(err)
	}
	for i := range 10 { // the next delta logs k0 to k9
		at(i)
		b.Put(v, []byte("y"))
		b.Append(l, []byte("y"))
	}
	ns, err = b.NativeSnapshot(2, 1)
	if err != nil {
		t.Fatal(err)
	}
	if ns.(*nativeSnapshot).full != nil {
		t.Fatal("checkpoint 2 is not a delta")
	}
	before := entries()
	for i := range 100 {
		at(i)
		b.Put(v, []byte("z"))
		b.Append(l, []byte("z"))
	}
	after := entries()
	for i := range before {
		logged := i/2 < 10
		if copied := before[i] != after[i]; copied != logged {
			t.Errorf("k%d (state %d): copied %v; the delta in flight logged it: %v", i/2, i%2, copied, logged)
		}
	}
	p2, err := ns.Persist(context.Background(), st, 1)
	if err != nil {
		t.Fatal(err)
	}
	_, got := restored(t, st, 2, p2)
	if !slices.Contains(got, `kg=4 state=0 key="k0" uk="" value="y"`) || !slices.Contains(got, `kg=4 state=0 key="k16" uk="" value="x"`) {
		t.Errorf("checkpoint 2 restores %q, not the values at its barrier", got[:min(len(got), 6)])
	}
}

// A chain turns whole once it holds maxChain objects, or three times the
// state's bytes, and the snapshot says which.
func TestWhyASnapshotIsWhole(t *testing.T) {
	for _, tc := range []struct {
		name  string
		keys  int // written before the first checkpoint, 100 bytes each
		value int // bytes written per checkpoint, to one key
		want  string
		at    int64 // the checkpoint that is whole
	}{
		{"objects", 1000, 1, "holds 128 objects", maxChain + 1},
		{"bytes", 0, 1000, "bytes, 3 times the state's", 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := NewIncremental(cowRange, "")
			st := newMemStore()
			v, err := b.Register("v", statebackend.KindValue)
			if err != nil {
				t.Fatal(err)
			}
			for i := range tc.keys {
				b.SetCurrentKey(fmt.Appendf(nil, "k%d", i), cowRange.Start)
				b.Put(v, make([]byte, 100))
			}
			b.SetCurrentKey([]byte("key"), cowRange.Start)
			for id := int64(1); id <= tc.at; id++ {
				b.Put(v, bytes.Repeat([]byte{byte(id)}, tc.value))
				ns, err := b.NativeSnapshot(id, id-1)
				if err != nil {
					t.Fatal(err)
				}
				p, err := ns.Persist(context.Background(), st, id-1)
				if err != nil {
					t.Fatal(err)
				}
				if err := ns.Discard(); err != nil {
					t.Fatal(err)
				}
				switch {
				case id < tc.at && p.Whole != "":
					t.Fatalf("checkpoint %d is whole: %s", id, p.Whole)
				case id == tc.at && !strings.Contains(p.Whole, tc.want):
					t.Fatalf("checkpoint %d is whole because %q, want %q", id, p.Whole, tc.want)
				}
			}
		})
	}
}
