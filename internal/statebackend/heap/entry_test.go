package heap

import (
	"bytes"
	"fmt"
	"runtime"
	"testing"

	"github.com/weirstream/weir/internal/keygroup"
	"github.com/weirstream/weir/internal/statebackend"
)

// A key and value kept in the room allocated with their entry stay what
// was written, whatever the value's updates in place: growing within the
// room, outgrowing it, shrinking again, copied on write under a snapshot.
func TestEntryRoomKeepsKeyAndValue(t *testing.T) {
	r := keygroup.Range{Start: 0, End: keygroup.DefaultMaxParallelism}
	for _, keyLen := range []int{0, 1, 8, 15, 16, 17, 31, 32, 33, 47, 48, 49, 64} {
		t.Run(fmt.Sprint(keyLen), func(t *testing.T) {
			b := New(r)
			s, err := b.Register("v", statebackend.KindValue)
			if err != nil {
				t.Fatal(err)
			}
			key := bytes.Repeat([]byte{'k'}, keyLen)
			kg := keygroup.Of(keygroup.Hash(key), r.End)
			var snaps []statebackend.CapturedSnapshot
			for i, n := range []int{0, 1, 8, 16, 31, 32, 33, 48, 49, 70, 3, 48, 0, 20} {
				value := bytes.Repeat([]byte{byte('a' + i)}, n)
				b.SetCurrentKey(key, kg)
				b.Put(s, value)
				if i%3 == 0 {
					// Copy on write for the next update.
					snaps = append(snaps, b.SnapshotAsync())
				}
				// Another key's write must not reach this one's room.
				b.SetCurrentKey([]byte("other"), 0)
				b.Put(s, bytes.Repeat([]byte{'o'}, n))
				b.SetCurrentKey(key, kg)
				if got, ok := b.Get(s); !ok || !bytes.Equal(got, value) {
					t.Fatalf("after putting %d bytes: Get = %q, %v; want %q", n, got, ok, value)
				}
				e := b.states[s].values[kg][string(key)]
				if e.key != string(key) {
					t.Fatalf("after putting %d bytes: the entry's key is %q, want %q", n, e.key, key)
				}
				for k := range b.states[s].values[kg] {
					if k != "other" && k != string(key) {
						t.Fatalf("after putting %d bytes: the map holds key %q", n, k)
					}
				}
			}
			for _, snap := range snaps {
				snap.Discard()
			}
			snap, err := b.Snapshot()
			if err != nil {
				t.Fatal(err)
			}
			found := false
			err = statebackend.DecodeSnapshot(snap, func([]statebackend.StateDesc) error { return nil }, func(e statebackend.Entry) error {
				if string(e.Key) == string(key) {
					found = true
					if string(e.Value) != "nnnnnnnnnnnnnnnnnnnn" {
						return fmt.Errorf("the snapshot holds %q for the key, want the last value put, 20 n's", e.Value)
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if !found {
				t.Errorf("the snapshot holds no entry for the key")
			}
		})
	}
}

// A new key of a short key and value is one allocation, its entry, where
// the key, the entry and the value were three; and so is the copy a write
// makes of an entry a snapshot may read. (The map's growth adds a little.)
func TestShortEntriesAllocateOnce(t *testing.T) {
	const n = 50_000
	r := keygroup.Range{Start: 0, End: keygroup.DefaultMaxParallelism}
	b := New(r)
	s, err := b.Register("count", statebackend.KindValue)
	if err != nil {
		t.Fatal(err)
	}
	keys := make([][]byte, n)
	kgs := make([]int, n)
	for i := range keys {
		// WordCount's: a 16-byte word, and the word and its count.
		keys[i] = fmt.Appendf(nil, "w%015d", i)
		kgs[i] = keygroup.Of(keygroup.Hash(keys[i]), r.End)
	}
	value := make([]byte, 19)
	put := func() {
		for i, k := range keys {
			b.SetCurrentKey(k, kgs[i])
			copy(value[1:], k)
			b.Put(s, value)
		}
	}
	if objects, _ := allocated(put); float64(objects)/n > 1.2 {
		t.Errorf("%.2f allocations per new key; want 1", float64(objects)/n)
	}
	snap := b.SnapshotAsync()
	defer snap.Discard()
	// Each key group's overlay is made at its first write and grows: a
	// few allocations per key group.
	if objects, _ := allocated(put); float64(objects)/n > 1.2 {
		t.Errorf("%.2f allocations per write copied for a snapshot; want 1", float64(objects)/n)
	}
}

// allocated returns the heap objects and bytes fn allocates.
func allocated(fn func()) (objects, bytes uint64) {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.Mallocs - before.Mallocs, after.TotalAlloc - before.TotalAlloc
}
