package statebackend

import (
	"bytes"
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

// AppendSnapshot appends to its buffer the bytes NewSnapshotEncoder
// returns, and AddStrings encodes an entry as Add does.
func TestAppendSnapshot(t *testing.T) {
	descs := []StateDesc{{"v", KindValue}, {"l", KindList}, {"m", KindMap}}
	want := NewSnapshotEncoder(descs)
	prefix := []byte("earlier object bytes")
	got := AppendSnapshot(append(make([]byte, 0, 4096), prefix...), descs)
	for _, kg := range []int{0, 126, 127, 16383} {
		for state := range 3 {
			for _, n := range []int{0, 1, 127, 128, 20000} {
				key, userKey, value := bytes.Repeat([]byte("k"), n), bytes.Repeat([]byte("u"), n/2), make([]byte, n+1)
				want.Add(kg, state, key, userKey, value)
				got.AddStrings(kg, state, string(key), string(userKey), value)
			}
		}
	}
	w, g := want.Finish(), got.Finish()
	if !bytes.HasPrefix(g, prefix) || !bytes.Equal(g[len(prefix):], w) {
		t.Fatalf("AppendSnapshot with AddStrings appended %d bytes differing from NewSnapshotEncoder's %d with Add", len(g)-len(prefix), len(w))
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

// Snapshots of two old subtasks, with their states declared in different
// orders, merge into one holding exactly the kept key groups, every entry
// under its own state's name.
func TestMergeSnapshots(t *testing.T) {
	a := NewSnapshotEncoder([]StateDesc{{"count", KindValue}, {"seen", KindMap}})
	a.Add(0, 0, []byte("a0"), nil, []byte("1"))
	a.Add(1, 1, []byte("a1"), []byte("u"), []byte("2"))
	b := NewSnapshotEncoder([]StateDesc{{"seen", KindMap}, {"count", KindValue}})
	b.Add(2, 1, []byte("b2"), nil, []byte("3"))
	b.Add(3, 0, []byte("b3"), []byte("v"), []byte("4"))
	merged, err := MergeSnapshots([][]byte{a.Finish(), nil, b.Finish()}, func(kg int) bool { return kg >= 1 && kg < 3 })
	if err != nil {
		t.Fatal(err)
	}
	var descs []StateDesc
	got := map[string]string{}
	err = DecodeSnapshot(merged, func(d []StateDesc) error { descs = d; return nil }, func(e Entry) error {
		got[string(e.Key)] = descs[e.State].Name + "/" + string(e.UserKey) + "=" + string(e.Value)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"a1": "seen/u=2", "b2": "count/=3"}
	if len(got) != len(want) || got["a1"] != want["a1"] || got["b2"] != want["b2"] {
		t.Fatalf("merged entries = %v, want %v", got, want)
	}

	if m, err := MergeSnapshots([][]byte{nil, {}}, func(int) bool { return true }); m != nil || err != nil {
		t.Fatalf("merging nothing = %q, %v", m, err)
	}
	c := NewSnapshotEncoder([]StateDesc{{"count", KindList}})
	if _, err := MergeSnapshots([][]byte{a.Finish(), c.Finish()}, func(int) bool { return true }); !errors.Is(err, ErrKindMismatch) {
		t.Fatalf("merging a state saved with two kinds: %v", err)
	}
	if _, err := MergeSnapshots([][]byte{[]byte("WKS1\x05")}, func(int) bool { return true }); !errors.Is(err, ErrCorruptSnapshot) {
		t.Fatalf("merging a corrupt snapshot: %v", err)
	}
}
