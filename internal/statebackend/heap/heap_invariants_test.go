//go:build invariants

package heap

import (
	"testing"

	"github.com/weirstream/weir/internal/keygroup"
)

// A key group outside the backend's range means the key was routed to the
// wrong subtask; under -tags invariants SetCurrentKey must panic on the spot.
func TestSetCurrentKeyOutsideRangePanics(t *testing.T) {
	r := keygroup.Range{Start: 16, End: 48}
	for _, kg := range []int{-1, 0, r.Start - 1, r.End, keygroup.DefaultMaxParallelism} {
		b := New(r)
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("SetCurrentKey(k, %d) on a backend for %s did not panic", kg, r)
				}
			}()
			b.SetCurrentKey([]byte("k"), kg)
		}()
	}
	// The ends of the range are inside it.
	b := New(r)
	b.SetCurrentKey([]byte("k"), r.Start)
	b.SetCurrentKey([]byte("k"), r.End-1)
}
