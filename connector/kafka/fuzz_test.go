package kafka

import (
	"reflect"
	"strings"
	"testing"
)

// FuzzStateElements decodes the Kafka source's and sink's checkpointed
// state elements (offsets, pending transactions, transactional ID
// sequences) as a restore does: an error or a value, never a panic, and a
// decoded element re-encodes to itself.
func FuzzStateElements(f *testing.F) {
	f.Add(offsetElement{kind: sourceOffset, topic: "words", partition: 3, offset: 1 << 40}.encode())
	f.Add(offsetElement{kind: sourceUnassigned, topic: "words"}.encode())
	f.Add(pendingTxn{checkpoint: 7, transactional: "weir-job-0-12", producerID: 9, epoch: 2}.encode())
	f.Add(sequenceElement{prefix: "weir-job", subtask: 1, parallelism: 2, next: 13}.encode())
	f.Add([]byte{byte(sourceOffset), 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, b []byte) {
		if e, err := decodeOffsetElement(b); err == nil {
			if again, err := decodeOffsetElement(e.encode()); err != nil || again != e {
				t.Fatalf("offset element %+v: round trip %+v, %v", e, again, err)
			}
		}
		if e, err := decodeSinkElement(b); err == nil {
			var enc []byte
			switch e := e.(type) {
			case pendingTxn:
				enc = e.encode()
			case sequenceElement:
				enc = e.encode()
			default:
				t.Fatalf("decodeSinkElement returned %T", e)
			}
			if again, err := decodeSinkElement(enc); err != nil || !reflect.DeepEqual(again, e) {
				t.Fatalf("sink element %+v: round trip %+v, %v", e, again, err)
			}
		}
	})
}

// A URI with a password is refused without showing the password.
func TestURIWithPasswordNotEchoed(t *testing.T) {
	_, err := ParseSource("kafka://user:hunter2hunter2@127.0.0.1:9092/words")
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("error %v shows the password", err)
	}
}
