package file

import "testing"

// FuzzStateElement decodes the file sink's checkpointed state elements
// (pending part files, part counters) as a restore does: an error or a
// value, never a panic, and a decoded element re-encodes to itself.
func FuzzStateElement(f *testing.F) {
	f.Add(appendPendingElement(nil, 1, 7, 42))
	f.Add(appendCounterElement(nil, 0, 3))
	f.Add([]byte{byte(pendingElement), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		kind, subtask, n, id, err := decodeElement(b)
		if err != nil {
			return
		}
		var enc []byte
		if kind == pendingElement {
			enc = appendPendingElement(nil, subtask, n, id)
		} else {
			enc = appendCounterElement(nil, subtask, n)
		}
		k2, s2, n2, id2, err := decodeElement(enc)
		if err != nil || k2 != kind || s2 != subtask || n2 != n || id2 != id {
			t.Fatalf("element %d %d %d %d: round trip %d %d %d %d, %v", kind, subtask, n, id, k2, s2, n2, id2, err)
		}
	})
}
