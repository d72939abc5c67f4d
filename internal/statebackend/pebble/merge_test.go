package pebble

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"
)

// The merger must produce the operands oldest first, whatever order Pebble
// hands them over in: it starts from any operand and adds newer and older
// ones in any interleaving, keeping none of the slices it was given.
func TestListMergerConcatenatesInAgeOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	for trial := range 500 {
		n := 1 + rng.IntN(12)
		ops := make([][]byte, n) // oldest first
		var want []byte
		for i := range ops {
			ops[i] = fmt.Appendf(nil, "<%d:%s>", i, bytes.Repeat([]byte{'x'}, rng.IntN(5)))
			want = append(want, ops[i]...)
		}
		first := rng.IntN(n)
		arg := bytes.Clone(ops[first])
		vm, err := listMerger.Merge([]byte("k"), arg)
		if err != nil {
			t.Fatal(err)
		}
		clear(arg)
		lo, hi := first-1, first+1
		for lo >= 0 || hi < n {
			var v []byte
			if hi < n && (lo < 0 || rng.IntN(2) == 0) {
				v = bytes.Clone(ops[hi])
				err = vm.MergeNewer(v)
				hi++
			} else {
				v = bytes.Clone(ops[lo])
				err = vm.MergeOlder(v)
				lo--
			}
			if err != nil {
				t.Fatal(err)
			}
			clear(v)
		}
		got, closer, err := vm.Finish(true)
		if err != nil || closer != nil {
			t.Fatalf("Finish: %v, closer %v", err, closer)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("trial %d, starting at operand %d of %d: merged %q; want %q", trial, first, n, got, want)
		}
	}
}
