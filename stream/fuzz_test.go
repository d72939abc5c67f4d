package stream

import (
	"math"
	"testing"
)

type fuzzRecord struct {
	Word  string `json:"word"`
	Count int64  `json:"count"`
}

// FuzzCodecs decodes record bytes with the built-in codecs, as a task does
// with what arrives from the network or from state: an error or a value,
// never a panic, and a decoded value re-encodes to bytes that decode to it.
func FuzzCodecs(f *testing.F) {
	f.Add(Int64Codec{}.Append(nil, -42))
	f.Add(uint64Codec{}.Append(nil, math.MaxUint64))
	f.Add(float64Codec{}.Append(nil, math.Pi))
	f.Add(JSONCodec[fuzzRecord]{}.Append(nil, fuzzRecord{Word: "weir", Count: 3}))
	f.Add([]byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		if v, err := (Int64Codec{}).Decode(b); err == nil {
			if w, err := (Int64Codec{}).Decode(Int64Codec{}.Append(nil, v)); err != nil || w != v {
				t.Fatalf("int64 %d: round trip %d, %v", v, w, err)
			}
		}
		if v, err := (intCodec{}).Decode(b); err == nil {
			if w, err := (intCodec{}).Decode(intCodec{}.Append(nil, v)); err != nil || w != v {
				t.Fatalf("int %d: round trip %d, %v", v, w, err)
			}
		}
		if v, err := (uint64Codec{}).Decode(b); err == nil {
			if w, err := (uint64Codec{}).Decode(uint64Codec{}.Append(nil, v)); err != nil || w != v {
				t.Fatalf("uint64 %d: round trip %d, %v", v, w, err)
			}
		}
		if v, err := (float64Codec{}).Decode(b); err == nil {
			if w, err := (float64Codec{}).Decode(float64Codec{}.Append(nil, v)); err != nil || math.Float64bits(w) != math.Float64bits(v) {
				t.Fatalf("float64 %v: round trip %v, %v", v, w, err)
			}
		}
		_, _ = boolCodec{}.Decode(b)
		_, _ = StringCodec{}.Decode(b)
		_, _ = BytesCodec{}.Decode(b)
		if v, err := (JSONCodec[fuzzRecord]{}).Decode(b); err == nil {
			if w, err := (JSONCodec[fuzzRecord]{}).Decode(JSONCodec[fuzzRecord]{}.Append(nil, v)); err != nil || w != v {
				t.Fatalf("JSON %+v: round trip %+v, %v", v, w, err)
			}
		}
	})
}
