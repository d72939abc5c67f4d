package stream

import (
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/weirstream/weir/internal/clock"
	"github.com/weirstream/weir/internal/keygroup"
	"github.com/weirstream/weir/internal/statebackend"
	"github.com/weirstream/weir/internal/statebackend/heap"
	"github.com/weirstream/weir/internal/statebackend/pebble"
)

const ttlTest = 10 * time.Second

// ttlBackends runs f on the heap and on Pebble, with a manual clock, an
// OpenContext over a chain (so snapshots are cleaned), and a function that
// sets the current key.
func ttlBackends(t *testing.T, f func(t *testing.T, m *clock.Manual, ctx *OpenContext, key func(string))) {
	r := keygroup.Range{Start: 0, End: keygroup.DefaultMaxParallelism}
	for _, name := range []string{"heap", "pebble"} {
		t.Run(name, func(t *testing.T) {
			var be statebackend.KeyedBackend = heap.New(r)
			if name == "pebble" {
				pb, err := pebble.Open("db", r, pebble.Options{FS: vfs.NewMem()})
				if err != nil {
					t.Fatal(err)
				}
				be = pb
			}
			t.Cleanup(func() { be.Close() })
			m := clock.NewManual(time.Unix(1_700_000_000, 0))
			ctx := &OpenContext{TaskInfo: TaskInfo{Clock: m}, backend: be, chain: &Chain{backend: be, headUID: "op"}}
			f(t, m, ctx, func(key string) {
				k := []byte(key)
				be.SetCurrentKey(k, keygroup.Of(keygroup.Hash(k), r.End))
			})
		})
	}
}

// A value expires TTL after its last write; reads do not renew it with
// OnCreateAndWrite and do with OnReadAndWrite. An expired value is never
// returned and is removed when a read meets it.
func TestTTLValueState(t *testing.T) {
	ttlBackends(t, func(t *testing.T, m *clock.Manual, ctx *OpenContext, key func(string)) {
		w := stateMust(NewValueState[string](ctx, "w", WithTTL(StateTTL{TTL: ttlTest})))
		r := stateMust(NewValueState[string](ctx, "r", WithTTL(StateTTL{TTL: ttlTest, Update: OnReadAndWrite})))
		key("k")
		w.Update("a")
		r.Update("a")
		m.Advance(ttlTest - time.Millisecond)
		wantStateValue(t, w, "a")
		wantStateValue(t, r, "a") // renews r
		m.Advance(time.Millisecond)
		wantStateUnset(t, w)
		if _, ok := ctx.backend.Get(w.id); ok {
			t.Error("the expired value is still stored after a read met it")
		}
		m.Advance(ttlTest - 2*time.Millisecond)
		wantStateValue(t, r, "a")
		m.Advance(ttlTest)
		wantStateUnset(t, r)

		w.Update("b") // a write after expiry starts afresh
		m.Advance(ttlTest / 2)
		w.Update("c") // and a write renews
		m.Advance(ttlTest/2 + time.Millisecond)
		wantStateValue(t, w, "c")

		red := stateMust(NewReducingState[int64](ctx, "sum", sumReducer{}, WithTTL(StateTTL{TTL: ttlTest})))
		if err := red.Add(2); err != nil {
			t.Fatal(err)
		}
		m.Advance(ttlTest)
		if err := red.Add(3); err != nil {
			t.Fatal(err)
		}
		if v, ok, err := red.Get(); err != nil || !ok || v != 3 {
			t.Errorf("reducing state after the first value expired = %v, %v, %v; want 3", v, ok, err)
		}
	})
}

type sumReducer struct{}

func (sumReducer) Reduce(a, b int64) (int64, error) { return a + b, nil }

// List elements expire one by one; a read leaves the expired ones out and
// removes them.
func TestTTLListState(t *testing.T) {
	ttlBackends(t, func(t *testing.T, m *clock.Manual, ctx *OpenContext, key func(string)) {
		l := stateMust(NewListState[string](ctx, "l", WithTTL(StateTTL{TTL: ttlTest})))
		key("k")
		l.Add("a")
		m.Advance(ttlTest / 2)
		l.Add("b")
		m.Advance(ttlTest / 2)
		if got := stateMust(l.Get()); len(got) != 1 || got[0] != "b" {
			t.Fatalf("Get() = %q, want [b]", got)
		}
		raw, _ := ctx.backend.Get(l.id)
		if n := countList(t, raw); n != 1 {
			t.Fatalf("%d elements stored after the read, want 1", n)
		}
		m.Advance(ttlTest)
		if got := stateMust(l.Get()); got != nil {
			t.Fatalf("Get() = %q, want nothing", got)
		}
		if _, ok := ctx.backend.Get(l.id); ok {
			t.Fatal("an empty list is still stored")
		}
		l.Update([]string{"x", "y"})
		if got := stateMust(l.Get()); strings.Join(got, ",") != "x,y" {
			t.Fatalf("Get() = %q", got)
		}
	})
}

func countList(t *testing.T, raw []byte) int {
	t.Helper()
	n := 0
	if err := statebackend.RangeList(raw, func([]byte) bool { n++; return true }); err != nil {
		t.Fatal(err)
	}
	return n
}

// Map entries expire one by one; Get and Range never return an expired
// one, and Range removes those it skipped.
func TestTTLMapState(t *testing.T) {
	ttlBackends(t, func(t *testing.T, m *clock.Manual, ctx *OpenContext, key func(string)) {
		s := stateMust(NewMapState[string, int64](ctx, "m", WithTTL(StateTTL{TTL: ttlTest})))
		key("k")
		s.Put("old", 1)
		m.Advance(ttlTest / 2)
		s.Put("new", 2)
		m.Advance(ttlTest / 2)
		if _, ok, err := s.Get("old"); ok || err != nil {
			t.Fatalf("Get(old) = %v, %v; want expired", ok, err)
		}
		s.Put("old2", 3)
		m.Advance(ttlTest / 2)
		seen := map[string]int64{}
		if err := s.Range(func(k string, v int64) bool { seen[k] = v; return true }); err != nil {
			t.Fatal(err)
		}
		if len(seen) != 1 || seen["old2"] != 3 {
			t.Fatalf("Range saw %v, want only old2", seen)
		}
		if _, ok := ctx.backend.MapGet(s.id, []byte(s.kc.Append(nil, "new"))); ok {
			t.Fatal("Range left the expired entry stored")
		}
	})
}

// Snapshots leave expired values out, though nothing read them; live
// values restore with their timestamps and go on expiring.
func TestTTLSnapshotCleanup(t *testing.T) {
	ttlBackends(t, func(t *testing.T, m *clock.Manual, ctx *OpenContext, key func(string)) {
		v := stateMust(NewValueState[string](ctx, "v", WithTTL(StateTTL{TTL: ttlTest})))
		l := stateMust(NewListState[string](ctx, "l", WithTTL(StateTTL{TTL: ttlTest})))
		plain := stateMust(NewValueState[string](ctx, "plain"))
		for _, k := range []string{"a", "b", "c"} {
			key(k)
			v.Update(k)
			l.Add(k + "1")
			plain.Update(k)
		}
		m.Advance(ttlTest / 2)
		key("b")
		v.Update("b2")
		l.Add("b2")
		m.Advance(ttlTest / 2)
		snaps, err := ctx.chain.Snapshot(1)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]int{}
		err = statebackend.DecodeSnapshot(snaps[0].Keyed, func([]statebackend.StateDesc) error { return nil }, func(e statebackend.Entry) error {
			got[string(e.Key)]++
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		// a and c keep only plain; b keeps v, its one live list element, plain.
		if got["a"] != 1 || got["c"] != 1 || got["b"] != 3 {
			t.Fatalf("entries per key in the snapshot = %v", got)
		}

		r := keygroup.Range{Start: 0, End: keygroup.DefaultMaxParallelism}
		be := heap.New(r)
		defer be.Close()
		if err := be.Restore(snaps[0].Keyed); err != nil {
			t.Fatal(err)
		}
		ctx2 := &OpenContext{TaskInfo: TaskInfo{Clock: m}, backend: be}
		v2 := stateMust(NewValueState[string](ctx2, "v", WithTTL(StateTTL{TTL: ttlTest})))
		k := []byte("b")
		be.SetCurrentKey(k, keygroup.Of(keygroup.Hash(k), r.End))
		wantStateValue(t, v2, "b2")
		m.Advance(ttlTest / 2)
		wantStateUnset(t, v2)
	})
}

// A snapshot encoded after its barrier leaves out what had expired at the
// barrier, not what expired since.
func TestTTLSnapshotAsyncExpiresAtTheBarrier(t *testing.T) {
	ttlBackends(t, func(t *testing.T, m *clock.Manual, ctx *OpenContext, key func(string)) {
		v := stateMust(NewValueState[string](ctx, "v", WithTTL(StateTTL{TTL: ttlTest})))
		key("k")
		v.Update("a")
		m.Advance(ttlTest - time.Millisecond)
		snaps, err := ctx.chain.SnapshotAsync(1, 0, false)
		if err != nil {
			t.Fatal(err)
		}
		m.Advance(time.Millisecond)
		if err := snaps[0].EncodeKeyed(); err != nil {
			t.Fatal(err)
		}
		n := 0
		err = statebackend.DecodeSnapshot(snaps[0].Keyed, func([]statebackend.StateDesc) error { return nil }, func(statebackend.Entry) error {
			n++
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if n != 1 {
			t.Fatalf("the snapshot holds %d entries; want the value live at the barrier", n)
		}
	})
}

func TestTTLDeclaration(t *testing.T) {
	ctx, _ := newStateContext(t)
	for _, cfg := range []StateTTL{{TTL: 0}, {TTL: time.Microsecond}, {TTL: time.Second, Update: 7}} {
		if _, err := NewValueState[int64](ctx, "s", WithTTL(cfg)); err == nil || !strings.Contains(err.Error(), `state "s"`) {
			t.Errorf("TTL %+v: %v", cfg, err)
		}
	}
}
