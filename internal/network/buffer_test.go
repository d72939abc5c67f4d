package network_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/weirstream/weir/internal/network"
)

type element struct {
	kind    network.Kind
	payload []byte
}

// readAll reads every element of buf, stopping at the first error.
func readAll(buf []byte) ([]element, error) {
	r := network.NewReader(buf)
	var out []element
	for {
		k, p, ok, err := r.Next()
		if err != nil {
			return out, err
		}
		if !ok {
			return out, nil
		}
		out = append(out, element{k, p})
	}
}

func payloadOf(n int) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(i*7 + n)
	}
	return p
}

// The sizes straddle the uvarint boundaries: 127 takes one length byte, 128
// two, 70000 three.
func TestBufferRoundTrip(t *testing.T) {
	sizes := []int{0, 1, 127, 128, 70000}
	var buf []byte
	var want []element
	for _, n := range sizes {
		before := len(buf)
		p := payloadOf(n)
		buf = network.AppendElement(buf, network.KindRecord, p)
		if got, wantLen := len(buf)-before, 1+uvarintLen(n)+n; got != wantLen {
			t.Errorf("record of %d bytes encodes to %d bytes, want %d", n, got, wantLen)
		}
		want = append(want, element{network.KindRecord, p})
	}
	buf = network.AppendElement(buf, network.KindEndOfPartition, nil)
	want = append(want, element{network.KindEndOfPartition, nil})

	got, err := readAll(buf)
	if err != nil {
		t.Fatalf("reading a well-formed buffer: %v", err)
	}
	if len(got) != len(want) {
		t.Fatalf("read %d elements, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i].kind != want[i].kind || !bytes.Equal(got[i].payload, want[i].payload) {
			t.Errorf("element %d: kind %d, %d bytes; want kind %d, %d bytes", i, got[i].kind, len(got[i].payload), want[i].kind, len(want[i].payload))
		}
	}
}

func TestBufferLayout(t *testing.T) {
	// The documented format: kind byte, uvarint length, payload.
	got := network.AppendElement([]byte{0xAA}, network.KindRecord, []byte("hi"))
	if want := []byte{0xAA, 1, 2, 'h', 'i'}; !bytes.Equal(got, want) {
		t.Errorf("AppendElement = %x, want %x (appended after the existing bytes)", got, want)
	}
	if got := network.AppendElement(nil, network.KindEndOfPartition, nil); !bytes.Equal(got, []byte{2, 0}) {
		t.Errorf("end of partition = %x, want 0200", got)
	}
}

func TestEmptyBufferHasNoElements(t *testing.T) {
	for _, buf := range [][]byte{nil, {}} {
		r := network.NewReader(buf)
		if _, _, ok, err := r.Next(); ok || err != nil {
			t.Errorf("Next on %v = ok %v, err %v; want the end", buf, ok, err)
		}
	}
}

func TestCorruptBuffers(t *testing.T) {
	valid := network.AppendElement(nil, network.KindRecord, []byte("ok"))
	for _, tc := range []struct {
		name string
		buf  []byte
		good int // elements read before the error
	}{
		{name: "kind zero", buf: []byte{0, 0}},
		{name: "unknown kind", buf: []byte{200, 0}},
		{name: "kind 255", buf: []byte{255, 1, 'x'}},
		{name: "kind byte only", buf: []byte{byte(network.KindRecord)}},
		{name: "truncated length", buf: []byte{byte(network.KindRecord), 0x80}},
		{name: "truncated length of two bytes", buf: []byte{byte(network.KindRecord), 0x80, 0x80}},
		{name: "length overflows 64 bits", buf: append([]byte{byte(network.KindRecord)}, bytes.Repeat([]byte{0xff}, 11)...)},
		{name: "length past end", buf: []byte{byte(network.KindRecord), 5, 'a', 'b', 'c'}},
		{name: "length one past end", buf: []byte{byte(network.KindEndOfPartition), 1}},
		{name: "huge length", buf: binary.AppendUvarint([]byte{byte(network.KindRecord)}, 1<<63)},
		{name: "max length", buf: binary.AppendUvarint([]byte{byte(network.KindRecord)}, ^uint64(0))},
		{name: "corrupt after a valid element", buf: append(append([]byte{}, valid...), 250, 0), good: 1},
		{name: "truncated after a valid element", buf: append(append([]byte{}, valid...), byte(network.KindRecord), 3, 'x'), good: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := readAll(tc.buf)
			if !errors.Is(err, network.ErrCorruptBuffer) {
				t.Fatalf("err = %v, want one wrapping ErrCorruptBuffer", err)
			}
			if len(got) != tc.good {
				t.Errorf("read %d elements before the error, want %d", len(got), tc.good)
			}
		})
	}
}

// FuzzReader checks that no input makes the reader panic or return a
// payload outside the buffer, and that what it reads re-encodes to a buffer
// that reads back the same.
func FuzzReader(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{1, 0})
	f.Add([]byte{2, 0})
	f.Add([]byte{0})
	f.Add([]byte{200, 1, 'x'})
	f.Add([]byte{1, 0x80})
	f.Add([]byte{1, 5, 'a'})
	f.Add(append([]byte{1}, bytes.Repeat([]byte{0xff}, 11)...))
	f.Add(binary.AppendUvarint([]byte{1}, ^uint64(0)))
	var seed []byte
	for _, n := range []int{0, 1, 127, 128, 300} {
		seed = network.AppendElement(seed, network.KindRecord, payloadOf(n))
	}
	f.Add(network.AppendElement(seed, network.KindEndOfPartition, nil))

	f.Fuzz(func(t *testing.T, buf []byte) {
		got, err := readAll(buf)
		if err != nil && !errors.Is(err, network.ErrCorruptBuffer) {
			t.Fatalf("error %v does not wrap ErrCorruptBuffer", err)
		}
		var re []byte
		total := 0
		for _, e := range got {
			total += 1 + 1 + len(e.payload) // at least kind, one length byte, payload
			re = network.AppendElement(re, e.kind, e.payload)
		}
		if total > len(buf) {
			t.Fatalf("read %d bytes of elements from a %d-byte buffer", total, len(buf))
		}
		again, err := readAll(re)
		if err != nil {
			t.Fatalf("re-encoded elements do not read back: %v", err)
		}
		if len(again) != len(got) {
			t.Fatalf("re-encoded buffer has %d elements, want %d", len(again), len(got))
		}
		for i := range got {
			if again[i].kind != got[i].kind || !bytes.Equal(again[i].payload, got[i].payload) {
				t.Fatalf("element %d changed after re-encoding", i)
			}
		}
	})
}

func uvarintLen(n int) int { return len(binary.AppendUvarint(nil, uint64(n))) }

// A record carries its key group and timestamp in the element when it has
// them; a record with neither stays a plain record, so jobs without event
// time or keys pay nothing.
func TestRecordRoundTrip(t *testing.T) {
	cases := []struct {
		kind network.Kind
		kg   int
		ts   int64
		rec  string
	}{
		{network.KindTimedRecord, network.NoKeyGroup, -5, "neg"},
		{network.KindRecord, network.NoKeyGroup, network.NoTimestamp, "none"},
		{network.KindTimedRecord, network.NoKeyGroup, 1 << 40, ""},
		{network.KindKeyedRecord, 0, network.NoTimestamp, "kg 0"},
		{network.KindKeyedRecord, 127, network.NoTimestamp, "kg 127"},
		{network.KindKeyedTimedRecord, 32767, 9, "kg 32767 at 9"},
		{network.KindKeyedTimedRecord, 128, network.NoTimestamp + 1, ""},
	}
	var buf []byte
	for _, c := range cases {
		before := len(buf)
		buf = network.AppendRecord(buf, c.kg, c.ts, []byte(c.rec))
		if n := network.RecordSize(c.kg, c.ts, len(c.rec)); n != len(buf)-before {
			t.Errorf("RecordSize(%d, %d, %d) = %d, want the %d bytes appended", c.kg, c.ts, len(c.rec), n, len(buf)-before)
		}
	}
	buf = network.AppendElement(buf, network.KindWatermark, network.EncodeTimestamp(77))
	got, err := readAll(buf)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(cases)+1 {
		t.Fatalf("got %d elements, want %d", len(got), len(cases)+1)
	}
	for i, want := range cases {
		if got[i].kind != want.kind {
			t.Fatalf("element %d: kind %d, want %d", i, got[i].kind, want.kind)
		}
		kg, ts, rec, err := network.SplitRecord(got[i].kind, got[i].payload)
		if err != nil || kg != want.kg || ts != want.ts || string(rec) != want.rec {
			t.Errorf("element %d: (%d, %d, %q, %v), want (%d, %d, %q)", i, kg, ts, rec, err, want.kg, want.ts, want.rec)
		}
	}
	if wm, err := network.DecodeTimestamp(got[len(cases)].payload); err != nil || wm != 77 {
		t.Errorf("watermark: (%d, %v), want 77", wm, err)
	}
	for _, bad := range []struct {
		kind    network.Kind
		payload []byte
	}{
		{network.KindTimedRecord, []byte{1, 2}},
		{network.KindKeyedRecord, nil},
		{network.KindKeyedRecord, []byte{0x80}},
		{network.KindKeyedTimedRecord, []byte{5, 1, 2}},
		{network.KindKeyedRecord, binary.AppendUvarint(nil, 1<<40)},
	} {
		if _, _, _, err := network.SplitRecord(bad.kind, bad.payload); !errors.Is(err, network.ErrCorruptBuffer) {
			t.Errorf("SplitRecord(%d, %x) = %v, want ErrCorruptBuffer", bad.kind, bad.payload, err)
		}
	}
	if _, err := network.DecodeTimestamp([]byte{1}); !errors.Is(err, network.ErrCorruptBuffer) {
		t.Errorf("short watermark: %v, want ErrCorruptBuffer", err)
	}
}
