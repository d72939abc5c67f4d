package checkpoint

import (
	"bytes"
	"errors"
	"testing"

	"google.golang.org/protobuf/proto"

	weirv1 "github.com/weirstream/weir/api/proto/weir/v1"
)

func sampleMetadata() *weirv1.CheckpointMetadata {
	return &weirv1.CheckpointMetadata{JobId: "j", CheckpointId: 7, Kind: weirv1.SnapshotKind_SNAPSHOT_KIND_CHECKPOINT,
		TimestampUnixMillis: 1234, MaxParallelism: 128,
		Operators: []*weirv1.OperatorState{{OperatorUid: "sum", Parallelism: 2, Subtasks: []*weirv1.OperatorSubtaskState{
			{OperatorUid: "sum", SubtaskIndex: 1, Handle: &weirv1.StateHandle{Object: "1-1-a1", Offset: 3, Length: 9, Crc32C: 42}}}}}}
}

func TestMetadataRoundTrip(t *testing.T) {
	b, err := EncodeMetadata(sampleMetadata())
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeMetadata(b)
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(got, sampleMetadata()) {
		t.Fatalf("round trip: %v", got)
	}
}

// Any single flipped byte or truncation is detected.
func TestMetadataCorruption(t *testing.T) {
	b, _ := EncodeMetadata(sampleMetadata())
	for i := range b {
		c := append([]byte(nil), b...)
		c[i] ^= 0x40
		if _, err := DecodeMetadata(c); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("flipped byte %d: %v", i, err)
		}
		if _, err := DecodeMetadata(b[:i]); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("truncated at %d: %v", i, err)
		}
	}
}

func TestObjectSections(t *testing.T) {
	o := NewObjectBuilder("3-0-a1", nil)
	o.Add("src", 0, Section{Elements: [][]byte{[]byte("offset=5"), nil}})
	o.Add("sum", 0, Section{Keyed: []byte("WKS1..."), Elements: nil})
	obj := o.Bytes()
	hs := o.Handles()
	s, err := ReadSection(obj, hs[0].GetHandle())
	if err != nil || len(s.Elements) != 2 || string(s.Elements[0]) != "offset=5" || s.Keyed != nil {
		t.Fatalf("section 0 = %+v, %v", s, err)
	}
	s, err = ReadSection(obj, hs[1].GetHandle())
	if err != nil || string(s.Keyed) != "WKS1..." || len(s.Elements) != 0 {
		t.Fatalf("section 1 = %+v, %v", s, err)
	}
	for i := range obj {
		c := append([]byte(nil), obj...)
		c[i] ^= 1
		_, err0 := ReadSection(c, hs[0].GetHandle())
		_, err1 := ReadSection(c, hs[1].GetHandle())
		if !errors.Is(err0, ErrCorrupt) && !errors.Is(err1, ErrCorrupt) {
			t.Fatalf("flipping byte %d went unnoticed", i)
		}
	}
	if _, err := ReadSection(obj[:5], hs[1].GetHandle()); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("a short object: %v", err)
	}
}

// AddEncoded writes the bytes and handles Add writes, whatever the keyed
// state's length and the capacity left in a reused buffer, which leaves
// room for the length before the state is encoded; a failed encoding
// leaves the object as it was.
func TestObjectAddEncoded(t *testing.T) {
	elements := [][]byte{[]byte("offset=5"), nil}
	for _, capacity := range []int{0, 100, 200, 20000, 1 << 20} {
		for _, n := range []int{0, 1, 127, 128, 16383, 16384, 100000} {
			keyed := bytes.Repeat([]byte{'k'}, n)
			want := NewObjectBuilder("3-0-a1", nil)
			want.Add("src", 0, Section{Elements: elements})
			want.Add("sum", 0, Section{Keyed: keyed, Elements: elements})
			got := NewObjectBuilder("3-0-a1", bytes.Repeat([]byte{0xff}, capacity))
			got.Add("src", 0, Section{Elements: elements})
			if _, err := got.AddEncoded("sum", 0, func([]byte) ([]byte, error) { return nil, errors.New("no state") }, elements); err == nil {
				t.Fatal("AddEncoded did not return appendKeyed's error")
			}
			gotLen, err := got.AddEncoded("sum", 0, func(dst []byte) ([]byte, error) { return append(dst, keyed...), nil }, elements)
			if err != nil || gotLen != n {
				t.Fatalf("AddEncoded of %d bytes in a buffer of %d = %d, %v", n, capacity, gotLen, err)
			}
			if !bytes.Equal(got.Bytes(), want.Bytes()) {
				t.Fatalf("keyed state of %d bytes in a buffer of %d: AddEncoded wrote another object than Add", n, capacity)
			}
			for i, h := range got.Handles() {
				if !proto.Equal(h, want.Handles()[i]) {
					t.Fatalf("keyed state of %d bytes in a buffer of %d: handle %d = %v, want %v", n, capacity, i, h, want.Handles()[i])
				}
			}
		}
	}
}

func TestLayout(t *testing.T) {
	if got := CheckpointDir("job", 12); got != "job/chk-12" {
		t.Fatalf("CheckpointDir = %q", got)
	}
	if id, ok := ParseCheckpointDir("chk-12"); !ok || id != 12 {
		t.Fatalf("ParseCheckpointDir = %d, %v", id, ok)
	}
	for _, bad := range []string{"chk-", "chk-x", "chk-0", "chk--1", "savepoint-1"} {
		if _, ok := ParseCheckpointDir(bad); ok {
			t.Fatalf("ParseCheckpointDir(%q) accepted", bad)
		}
	}
}

func FuzzDecodeMetadata(f *testing.F) {
	b, _ := EncodeMetadata(sampleMetadata())
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) { _, _ = DecodeMetadata(b) })
}

func FuzzDecodeSection(f *testing.F) {
	f.Add(AppendSection(nil, Section{Keyed: []byte("k"), Elements: [][]byte{[]byte("e")}}))
	f.Add([]byte{0, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, b []byte) { _, _ = DecodeSection(b) })
}

// A _metadata whose state handle names an object outside its snapshot
// directory (written by an attacker, or damaged) is refused on read.
func TestMetadataObjectNameConfined(t *testing.T) {
	for _, name := range []string{"../chk-6/1-1-a1", "..", ".", "a/b", "/etc/passwd", "", "_metadata", ".hidden", "x\\..\\y"} {
		m := sampleMetadata()
		m.Operators[0].Subtasks[0].Handle.Object = name
		b, err := EncodeMetadata(m)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := DecodeMetadata(b); !errors.Is(err, ErrCorrupt) {
			t.Errorf("object %q: DecodeMetadata = %v, want ErrCorrupt", name, err)
		}
		if err := ValidateObjectName(name); err == nil {
			t.Errorf("ValidateObjectName(%q) = nil", name)
		}
	}
	for _, name := range []string{"../../other/shared/x", "shared/../chk-1/1-1-a1", "shared/a/b", "shared/", "shared/..", "x", "/shared/x"} {
		m := sampleMetadata()
		m.Operators[0].Subtasks[0].Handle.SharedObjects = []string{NewSharedObject(), name}
		b, err := EncodeMetadata(m)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := DecodeMetadata(b); !errors.Is(err, ErrCorrupt) {
			t.Errorf("shared object %q: DecodeMetadata = %v, want ErrCorrupt", name, err)
		}
	}
	if err := ValidateSharedObjectName(NewSharedObject()); err != nil {
		t.Errorf("ValidateSharedObjectName(NewSharedObject()) = %v", err)
	}
	if err := ValidateObjectName(ObjectName(3, 7, 2)); err != nil {
		t.Errorf("ValidateObjectName(%q) = %v", ObjectName(3, 7, 2), err)
	}
	if got := Join("job/chk-1", "../chk-2/x"); got != "job/chk-1/../chk-2/x" {
		t.Errorf("Join cleans a '..' away: %q", got)
	}
}
