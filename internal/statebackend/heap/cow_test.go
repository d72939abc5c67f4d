package heap

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/weirstream/weir/internal/keygroup"
	"github.com/weirstream/weir/internal/statebackend"
)

// cowRange is the key groups of the copy-on-write tests' backends: it does
// not start at 0, and mutations also reach key groups no snapshot saw.
var cowRange = keygroup.Range{Start: 4, End: 12}

// twin is a backend under test and an oracle that receives the same writes
// but is never snapshotted asynchronously, so its synchronous snapshot is
// what the backend's state must be.
type twin struct {
	b, oracle *Backend
	ids       []statebackend.StateID // value, list, map; the same in both
	rng       *rand.Rand
}

func newTwin(t *testing.T) *twin {
	t.Helper()
	tw := &twin{b: New(cowRange), oracle: New(cowRange), rng: rand.New(rand.NewPCG(1, 2))}
	for _, s := range []struct {
		name string
		kind statebackend.Kind
	}{{"v", statebackend.KindValue}, {"l", statebackend.KindList}, {"m", statebackend.KindMap}} {
		id, err := tw.b.Register(s.name, s.kind)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tw.oracle.Register(s.name, s.kind); err != nil {
			t.Fatal(err)
		}
		tw.ids = append(tw.ids, id)
	}
	// Some key groups stay empty until mutate reaches them.
	for i := range 200 {
		tw.at(fmt.Sprintf("k%d", i%50), cowRange.Start+i%(cowRange.Len()/2))
		tw.both(func(b *Backend) {
			b.Put(tw.ids[0], fmt.Appendf(nil, "v%d", i))
			b.Append(tw.ids[1], fmt.Appendf(nil, "e%d", i))
			b.MapPut(tw.ids[2], fmt.Appendf(nil, "uk%d", i%7), fmt.Appendf(nil, "mv%d", i))
		})
	}
	return tw
}

func (tw *twin) both(f func(b *Backend)) {
	f(tw.b)
	f(tw.oracle)
}

func (tw *twin) at(key string, kg int) {
	tw.both(func(b *Backend) { b.SetCurrentKey([]byte(key), kg) })
}

// mutate applies n random writes of every kind: overwrites, appends,
// deletes, new keys and new key groups.
func (tw *twin) mutate(n int) {
	for i := range n {
		tw.at(fmt.Sprintf("k%d", tw.rng.IntN(80)), cowRange.Start+tw.rng.IntN(cowRange.Len()))
		v := fmt.Appendf(nil, "w%d", i)
		uk := fmt.Appendf(nil, "uk%d", tw.rng.IntN(10))
		switch tw.rng.IntN(8) {
		case 0:
			tw.both(func(b *Backend) { b.Put(tw.ids[0], v) })
		case 1:
			tw.both(func(b *Backend) { b.Append(tw.ids[1], v) })
		case 2:
			tw.both(func(b *Backend) { b.Put(tw.ids[1], statebackend.AppendListElement(nil, v)) })
		case 3:
			tw.both(func(b *Backend) { b.MapPut(tw.ids[2], uk, v) })
		case 4:
			tw.both(func(b *Backend) { b.MapDelete(tw.ids[2], uk) })
		default:
			id := tw.ids[tw.rng.IntN(len(tw.ids))]
			tw.both(func(b *Backend) { b.Delete(id) })
		}
	}
}

// snapshotEntries decodes a snapshot into sorted strings, one an entry.
func snapshotEntries(t *testing.T, snap []byte) []string {
	t.Helper()
	var out []string
	err := statebackend.DecodeSnapshot(snap, func([]statebackend.StateDesc) error { return nil }, func(e statebackend.Entry) error {
		out = append(out, fmt.Sprintf("kg=%d state=%d key=%q uk=%q value=%q", e.KeyGroup, e.State, e.Key, e.UserKey, e.Value))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

// want returns the entries of the oracle's state now.
func (tw *twin) want(t *testing.T) []string {
	t.Helper()
	snap, err := tw.oracle.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	return snapshotEntries(t, snap)
}

func checkEncoded(t *testing.T, what string, s statebackend.CapturedSnapshot, want []string) {
	t.Helper()
	snap, err := s.AppendEncoded(nil)
	if err != nil {
		t.Fatalf("encoding %s: %v", what, err)
	}
	if got := snapshotEntries(t, snap); !slices.Equal(got, want) {
		t.Errorf("%s holds %d entries, not the %d of the state at its capture:\n got %q\nwant %q", what, len(got), len(want), got, want)
	}
}

// checkState checks that the backend's state is the oracle's.
func (tw *twin) checkState(t *testing.T) {
	t.Helper()
	snap, err := tw.b.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := snapshotEntries(t, snap), tw.want(t); !slices.Equal(got, want) {
		t.Errorf("the state holds %d entries, not the %d written:\n got %q\nwant %q", len(got), len(want), got, want)
	}
}

// A snapshot encoded after heavy writes holds the state at its capture,
// and the writes are all in the state.
func TestSnapshotAsyncHoldsTheStateAtCapture(t *testing.T) {
	tw := newTwin(t)
	want := tw.want(t)
	s := tw.b.SnapshotAsync()
	tw.mutate(2000)
	checkEncoded(t, "the snapshot", s, want)
	tw.checkState(t)
}

// Snapshots in flight together each hold the state at their own capture,
// whichever is encoded first.
func TestOverlappingSnapshots(t *testing.T) {
	tw := newTwin(t)
	want1 := tw.want(t)
	s1 := tw.b.SnapshotAsync()
	tw.mutate(500)
	want2 := tw.want(t)
	s2 := tw.b.SnapshotAsync()
	tw.mutate(500)
	checkEncoded(t, "the second snapshot", s2, want2)
	tw.mutate(500)
	want3 := tw.want(t)
	s3 := tw.b.SnapshotAsync()
	tw.mutate(500)
	checkEncoded(t, "the first snapshot", s1, want1)
	tw.mutate(500)
	checkEncoded(t, "the third snapshot", s3, want3)
	tw.checkState(t)
}

// A discarded snapshot costs nothing more, and a later one is still held
// intact; a discarded snapshot cannot be encoded.
func TestDiscardedSnapshot(t *testing.T) {
	tw := newTwin(t)
	dropped := tw.b.SnapshotAsync()
	tw.mutate(300)
	dropped.Discard()
	dropped.Discard()
	if n := tw.b.inflight.Load(); n != 0 {
		t.Errorf("%d snapshots in flight after the only one was discarded; want 0", n)
	}
	if _, err := dropped.AppendEncoded(nil); err == nil {
		t.Error("a discarded snapshot was encoded")
	}
	want := tw.want(t)
	s := tw.b.SnapshotAsync()
	tw.mutate(1000)
	checkEncoded(t, "the snapshot after a discarded one", s, want)
	tw.checkState(t)
}

// The checkpointer encodes on its own goroutine while the task goroutine
// goes on writing; under -race this checks that they never touch a map or
// value at once.
func TestSnapshotEncodedConcurrentlyWithWrites(t *testing.T) {
	tw := newTwin(t)
	for round := range 5 {
		want := tw.want(t)
		s := tw.b.SnapshotAsync()
		done := make(chan []byte)
		go func() {
			snap, err := s.AppendEncoded(nil)
			if err != nil {
				t.Error(err)
			}
			done <- snap
		}()
		tw.mutate(2000)
		if got := snapshotEntries(t, <-done); !slices.Equal(got, want) {
			t.Errorf("round %d: the snapshot holds %d entries, not the %d at its capture", round, len(got), len(want))
		}
	}
	tw.checkState(t)
}

// oneKeyPerGroup returns a key of each key group of b's first state that
// has one.
func oneKeyPerGroup(b *Backend) []string {
	var keys []string
	for kg := range b.states[0].values {
		for k := range b.states[0].values[kg] {
			keys = append(keys, k)
			break
		}
	}
	return keys
}

// updateOrDelete puts "updated" under every other key of keys and deletes
// the rest, in b's first state.
func updateOrDelete(b *Backend, keys []string) {
	for i, k := range keys {
		b.SetCurrentKey([]byte(k), keygroup.Of(keygroup.Hash([]byte(k)), keygroup.DefaultMaxParallelism))
		if i%2 == 0 {
			b.Put(0, []byte("updated"))
		} else {
			b.Delete(0)
		}
	}
}

// Writes under a snapshot copy no key group's map, only the entries they
// write: they go to the key group's overlay, which the first access after
// the snapshot settles into the map. Copying each map at its first write
// would copy the whole state when the writes reach every key group.
func TestWritesUnderASnapshotCopyNoMap(t *testing.T) {
	b := wordCounts(t, 100_000)
	st := b.states[0]
	keys := oneKeyPerGroup(b)
	snap := b.SnapshotAsync()
	if _, n := allocated(func() { updateOrDelete(b, keys) }); n > 1<<20 {
		t.Errorf("a write and a delete in each of %d key groups of 100,000 keys allocated %d bytes under a snapshot; want under 1 MiB", len(keys), n)
	}
	snap.Discard()
	for i, k := range keys {
		b.SetCurrentKey([]byte(k), keygroup.Of(keygroup.Hash([]byte(k)), keygroup.DefaultMaxParallelism))
		v, ok := b.Get(0)
		if want := i%2 == 0; ok != want || (ok && string(v) != "updated") {
			t.Fatalf("key %q: Get = %q, %v after the snapshot", k, v, ok)
		}
		b.Put(0, []byte("settled"))
		if o := st.over[b.kg]; o != nil {
			t.Fatalf("key group %d's overlay holds %d keys after a write with no snapshot in flight", b.kg, len(o))
		}
	}
}

// A capture while another snapshot is in flight copies no key group's map
// either: it freezes the overlays on the maps the other snapshot reads and
// captures them with the maps, so that its pause stays proportional to the
// number of key groups. It holds the writes of the overlays.
func TestOverlappingCaptureCopiesNoMap(t *testing.T) {
	b := wordCounts(t, 100_000)
	keys := oneKeyPerGroup(b)
	first := b.SnapshotAsync()
	defer first.Discard()
	updateOrDelete(b, keys)
	var second statebackend.CapturedSnapshot
	if _, n := allocated(func() { second = b.SnapshotAsync() }); n > 256<<10 {
		t.Errorf("a capture with overlays in %d key groups of 100,000 keys and another snapshot in flight allocated %d bytes; want under 256 KiB", len(keys), n)
	}
	snap, err := second.AppendEncoded(nil)
	if err != nil {
		t.Fatal(err)
	}
	values := map[string]string{}
	err = statebackend.DecodeSnapshot(snap, func([]statebackend.StateDesc) error { return nil }, func(e statebackend.Entry) error {
		if _, ok := values[string(e.Key)]; ok {
			return fmt.Errorf("key %q twice in the snapshot", e.Key)
		}
		values[string(e.Key)] = string(e.Value)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := 100_000 - len(keys)/2; len(values) != want {
		t.Errorf("the snapshot holds %d keys, want %d", len(values), want)
	}
	for i, k := range keys {
		if v, ok := values[k]; i%2 == 0 && v != "updated" || i%2 == 1 && ok {
			t.Errorf("key %q is %q, %v in the snapshot", k, v, ok)
		}
	}
}

// A key group the snapshot has encoded is written in place again at once,
// while the snapshot goes on encoding the others: under a full snapshot
// of a large state, the task's lookups through overlays and its copies of
// entries last for the key groups not yet encoded only.
func TestEncodedKeyGroupsAreReleased(t *testing.T) {
	b := wordCounts(t, 10_000)
	st := b.states[0]
	keyIn := map[int]string{}
	for _, k := range oneKeyPerGroup(b) {
		keyIn[keygroup.Of(keygroup.Hash([]byte(k)), keygroup.DefaultMaxParallelism)] = k
	}
	first, second := 0, 1
	snap := b.SnapshotAsync().(*capture)
	defer snap.Discard()
	var batch [encodeBatchLen]*entry
	e := statebackend.AppendSnapshot(nil, []statebackend.StateDesc{snap.states[0].desc})
	if _, err := snap.encodeGroup(e, first, &batch, nil); err != nil {
		t.Fatal(err)
	}
	snap.release(first)
	for _, kg := range []int{first, second} {
		b.SetCurrentKey([]byte(keyIn[kg]), kg)
		before := st.values[kg][keyIn[kg]]
		b.Put(0, []byte("written"))
		inPlace := st.values[kg][keyIn[kg]] == before && st.over[kg] == nil
		if want := kg == first; inPlace != want {
			t.Errorf("a write to key group %d, encoded: %v, was in place: %v", kg, want, inPlace)
		}
	}
}
