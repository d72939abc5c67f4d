package keygroup

import (
	"testing"
	"testing/quick"
)

// RangeOf must agree with Subtask for every key group: the ranges partition
// [0, maxParallelism) and each key group lands in the range of its subtask.
func TestRangeOfMatchesSubtask(t *testing.T) {
	f := func(p16, m16 uint16) bool {
		m := int(m16)%UpperBound + 1
		p := int(p16)%m + 1
		next := 0
		for s := range p {
			r := RangeOf(s, p, m)
			if r.Start != next {
				return false
			}
			for kg := r.Start; kg < r.End; kg++ {
				if Subtask(kg, p, m) != s {
					return false
				}
			}
			next = r.End
		}
		return next == m
	}
	if err := quick.Check(f, &quick.Config{MaxCount: 300}); err != nil {
		t.Fatal(err)
	}
}

// The hash is part of the persisted format: key groups of checkpointed state
// depend on it. Pin it.
func TestHashIsStable(t *testing.T) {
	if got, want := Hash([]byte("weir")), uint64(0x25cb98be5b82688e); got != want {
		t.Fatalf("Hash(weir) = %#x, want %#x: changing the hash moves every key to another key group", got, want)
	}
}

func TestValidate(t *testing.T) {
	for _, c := range []struct {
		p, m int
		ok   bool
	}{{1, 128, true}, {128, 128, true}, {0, 128, false}, {129, 128, false}, {1, 0, false}, {1, UpperBound + 1, false}} {
		if err := Validate(c.p, c.m); (err == nil) != c.ok {
			t.Errorf("Validate(%d, %d) = %v", c.p, c.m, err)
		}
	}
}
