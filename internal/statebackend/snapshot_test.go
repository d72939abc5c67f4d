package statebackend

import (
	"errors"
	"testing"
)

func TestSnapshotRoundTrip(t *testing.T) {
	e := NewSnapshotEncoder([]StateDesc{{"v", KindValue}, {"m", KindMap}})
	e.Add(3, 0, []byte("k"), nil, []byte("value"))
	e.Add(127, 1, []byte("k2"), []byte("uk"), nil)
	snap := e.Finish()
	var got []Entry
	var descs []StateDesc
	err := DecodeSnapshot(snap, func(d []StateDesc) error { descs = d; return nil }, func(en Entry) error {
		got = append(got, en)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(descs) != 2 || descs[1] != (StateDesc{"m", KindMap}) {
		t.Fatalf("states = %v", descs)
	}
	if len(got) != 2 || got[0].KeyGroup != 3 || string(got[0].Value) != "value" || got[1].KeyGroup != 127 || string(got[1].UserKey) != "uk" {
		t.Fatalf("entries = %+v", got)
	}
	for i := range len(snap) - 1 {
		err := DecodeSnapshot(snap[:i], func([]StateDesc) error { return nil }, func(Entry) error { return nil })
		if !errors.Is(err, ErrCorruptSnapshot) {
			t.Fatalf("truncated at %d: %v", i, err)
		}
	}
}

// No input makes the decoder panic or allocate from an unchecked length.
func FuzzDecodeSnapshot(f *testing.F) {
	e := NewSnapshotEncoder([]StateDesc{{"v", KindValue}, {"l", KindList}, {"m", KindMap}})
	e.Add(0, 0, []byte("k"), nil, []byte("v"))
	e.Add(1, 2, []byte("k"), []byte("u"), []byte("v"))
	f.Add(e.Finish())
	f.Add([]byte("WKS1\xff\xff\xff\xff\x0f"))
	f.Fuzz(func(t *testing.T, b []byte) {
		_ = DecodeSnapshot(b, func([]StateDesc) error { return nil }, func(Entry) error { return nil })
	})
}
