package statebackendtest

import (
	"fmt"
	"testing"

	"github.com/weirstream/weir/internal/keygroup"
	"github.com/weirstream/weir/internal/statebackend"
)

// runSnapshot checks Snapshot and Restore: a backend restored from a
// snapshot holds the same state; restored into a narrower key-group range
// it holds exactly the entries of that range.
func runSnapshot(t *testing.T, newBackend func(t *testing.T, r keygroup.Range) statebackend.KeyedBackend) {
	full := keygroup.Range{Start: 0, End: 128}
	src := newBackend(t, full)
	defer src.Close()
	v, _ := src.Register("v", statebackend.KindValue)
	l, _ := src.Register("l", statebackend.KindList)
	m, _ := src.Register("m", statebackend.KindMap)
	type key struct {
		k  string
		kg int
	}
	var keys []key
	for i := range 500 {
		k := fmt.Sprintf("key-%d", i)
		kg := keygroup.Of(keygroup.Hash([]byte(k)), 128)
		keys = append(keys, key{k, kg})
		src.SetCurrentKey([]byte(k), kg)
		src.Put(v, []byte("v"+k))
		src.Append(l, []byte("a"))
		src.Append(l, []byte(k))
		src.MapPut(m, []byte("x"), []byte(k))
		if i%3 == 0 {
			src.MapPut(m, []byte(""), nil)
		}
	}
	snap, err := src.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	// Mutations after the snapshot must not reach it.
	src.SetCurrentKey([]byte(keys[0].k), keys[0].kg)
	src.Put(v, []byte("changed"))

	for _, r := range []keygroup.Range{full, {Start: 0, End: 43}, {Start: 43, End: 86}, {Start: 127, End: 128}} {
		t.Run(r.String(), func(t *testing.T) {
			dst := newBackend(t, r)
			defer dst.Close()
			if err := dst.Restore(snap); err != nil {
				t.Fatal(err)
			}
			v, _ := dst.Register("v", statebackend.KindValue)
			l, _ := dst.Register("l", statebackend.KindList)
			m, _ := dst.Register("m", statebackend.KindMap)
			for i, k := range keys {
				if !r.Contains(k.kg) {
					continue
				}
				dst.SetCurrentKey([]byte(k.k), k.kg)
				if got, ok := dst.Get(v); !ok || string(got) != "v"+k.k {
					t.Fatalf("%s: value %q, %v", k.k, got, ok)
				}
				got, _ := dst.Get(l)
				want := statebackend.AppendListElement(statebackend.AppendListElement(nil, []byte("a")), []byte(k.k))
				if string(got) != string(want) {
					t.Fatalf("%s: list %q, want %q", k.k, got, want)
				}
				n := 0
				dst.MapRange(m, func(uk, val []byte) bool { n++; return true })
				if want := 1 + boolInt(i%3 == 0); n != want {
					t.Fatalf("%s: %d map entries, want %d", k.k, n, want)
				}
			}
		})
	}
	bad := newBackend(t, full)
	defer bad.Close()
	if err := bad.Restore(snap[:len(snap)-3]); err == nil {
		t.Fatal("a truncated snapshot restored without error")
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
