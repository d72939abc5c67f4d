//go:build !race

// The race detector allocates on its own account, so allocation counts are
// only checked without it.

package heap

import (
	"testing"

	"github.com/weirstream/weir/internal/statebackend"
)

// Updating the state of an existing key must not allocate: it is the per-record
// path of every keyed aggregation. Nor once the snapshots taken are encoded
// or discarded: copy-on-write ends with the last snapshot in flight.
func TestExistingKeyUpdatesDoNotAllocate(t *testing.T) {
	const numKeys = 1000
	for _, before := range []struct {
		name string
		take func(b *Backend)
	}{
		{"NoSnapshot", func(*Backend) {}},
		{"AfterEncodedSnapshots", func(b *Backend) {
			s1, s2 := b.SnapshotAsync(), b.SnapshotAsync()
			for _, s := range []statebackend.CapturedSnapshot{s2, s1} {
				if _, err := s.AppendEncoded(nil); err != nil {
					t.Fatal(err)
				}
			}
		}},
		{"AfterDiscardedSnapshot", func(b *Backend) { b.SnapshotAsync().Discard() }},
	} {
		c := newCounters(t, numKeys)
		before.take(c.b)
		for _, tc := range []struct {
			name string
			inc  func(i int)
		}{
			{"Value", c.incValue},
			{"Map", c.incMapped},
		} {
			t.Run(before.name+"/"+tc.name, func(t *testing.T) {
				i := 0
				if n := testing.AllocsPerRun(numKeys, func() {
					tc.inc(i % numKeys)
					i++
				}); n != 0 {
					t.Errorf("%v allocations per update; want 0", n)
				}
			})
		}
	}
}
