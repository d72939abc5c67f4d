package statebackend_test

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/weirstream/weir/internal/statebackend"
)

func encode(elems ...string) []byte {
	var list []byte
	for _, e := range elems {
		list = statebackend.AppendListElement(list, []byte(e))
	}
	return list
}

// decode returns the elements of list, or the error RangeList returns.
func decode(list []byte) ([]string, error) {
	out := []string{}
	err := statebackend.RangeList(list, func(e []byte) bool {
		out = append(out, string(e))
		return true
	})
	return out, err
}

func TestListRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name  string
		elems []string
	}{
		{"Empty", []string{}},
		{"OneEmptyElement", []string{""}},
		{"SeveralEmptyElements", []string{"", "", ""}},
		{"Several", []string{"a", "bb", "", "ccc"}},
		{"ZeroAndHighBytes", []string{"\x00", "\xff\x00\xff", "\x80"}},
		// Element lengths at the edges of one-, two- and three-byte varints.
		{"Length127", []string{strings.Repeat("x", 127)}},
		{"Length128", []string{strings.Repeat("x", 128)}},
		{"Length16383", []string{strings.Repeat("x", 16383)}},
		{"Length16384", []string{strings.Repeat("x", 16384), "after"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			list := encode(tc.elems...)
			got, err := decode(list)
			if err != nil {
				t.Fatalf("RangeList(%q): %v", list, err)
			}
			if !slices.Equal(got, tc.elems) {
				t.Errorf("RangeList(encode(%q)) = %q", tc.elems, got)
			}
		})
	}
}

// The encoding is what KindList states hold, in both backends and in
// snapshots of them; pin it.
func TestListEncodingIsStable(t *testing.T) {
	for _, tc := range []struct {
		elems []string
		want  string
	}{
		{[]string{"ab"}, "\x02ab"},
		{[]string{""}, "\x00"},
		{[]string{"a", "", "bc"}, "\x01a\x00\x02bc"},
		{[]string{strings.Repeat("x", 128)}, "\x80\x01" + strings.Repeat("x", 128)},
	} {
		if got := encode(tc.elems...); string(got) != tc.want {
			t.Errorf("encode(%.10q) = %.20q; want %.20q", tc.elems, got, tc.want)
		}
	}
}

// Appending to an encoded list extends it: the encoding of a list is the
// concatenation of the encodings of its elements.
func TestAppendListElementExtends(t *testing.T) {
	list := encode("a", "b")
	prefix := bytes.Clone(list)
	list = statebackend.AppendListElement(list, []byte("c"))
	if !bytes.HasPrefix(list, prefix) {
		t.Errorf("AppendListElement(%q, c) = %q; want it to extend its input", prefix, list)
	}
	if want := append(encode("a", "b"), encode("c")...); !bytes.Equal(list, want) {
		t.Errorf("AppendListElement(%q, c) = %q; want %q", prefix, list, want)
	}
}

func TestRangeListStopsWhenFnReturnsFalse(t *testing.T) {
	list := encode("a", "b", "c")
	var got []string
	err := statebackend.RangeList(list, func(e []byte) bool {
		got = append(got, string(e))
		return len(got) < 2
	})
	if err != nil {
		t.Fatalf("RangeList: %v", err)
	}
	if want := []string{"a", "b"}; !slices.Equal(got, want) {
		t.Errorf("RangeList visited %q; want %q", got, want)
	}
}

func TestRangeListCorrupt(t *testing.T) {
	for _, tc := range []struct {
		name string
		list string
	}{
		{"LengthPastEnd", "\x05ab"},
		{"LengthWithNoElement", "\x01"},
		{"TruncatedVarint", "\x80"},
		{"TruncatedVarintAfterElement", "\x01a\x80"},
		{"VarintOverflow", "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01"},
		{"MaxUint64Length", "\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01ab"},
		{"ElementThenLengthPastEnd", "\x01a\x03bc"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := decode([]byte(tc.list))
			if !errors.Is(err, statebackend.ErrCorruptList) {
				t.Errorf("RangeList(%q) = %q, %v; want an error matching ErrCorruptList", tc.list, got, err)
			}
		})
	}
}

// Whatever the input, RangeList neither panics nor hands out bytes beyond
// it, and a list it accepts re-encodes to one with the same elements.
func FuzzRangeList(f *testing.F) {
	f.Add([]byte{})
	f.Add(encode("a", "", "bc"))
	f.Add([]byte("\x05ab"))
	f.Add([]byte("\x80\x00"))
	f.Add([]byte("\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01"))
	f.Fuzz(func(t *testing.T, list []byte) {
		total := 0
		elems, err := decode(list)
		for _, e := range elems {
			total += len(e)
		}
		if total > len(list) {
			t.Fatalf("RangeList(%q) handed out %d bytes of elements", list, total)
		}
		if err != nil {
			if !errors.Is(err, statebackend.ErrCorruptList) {
				t.Fatalf("RangeList(%q): %v; want ErrCorruptList", list, err)
			}
			return
		}
		again, err := decode(encode(elems...))
		if err != nil || !slices.Equal(again, elems) {
			t.Fatalf("re-encoding %q decodes to %q, %v", elems, again, err)
		}
	})
}
