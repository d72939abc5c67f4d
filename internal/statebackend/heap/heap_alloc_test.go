//go:build !race

// The race detector allocates on its own account, so allocation counts are
// only checked without it.

package heap

import "testing"

// Updating the state of an existing key must not allocate: it is the per-record
// path of every keyed aggregation.
func TestExistingKeyUpdatesDoNotAllocate(t *testing.T) {
	const numKeys = 1000
	c := newCounters(t, numKeys)
	for _, tc := range []struct {
		name string
		inc  func(i int)
	}{
		{"Value", c.incValue},
		{"Map", c.incMapped},
	} {
		t.Run(tc.name, func(t *testing.T) {
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
