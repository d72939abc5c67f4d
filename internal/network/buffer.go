package network

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"google.golang.org/protobuf/encoding/protowire"
)

// BufferSize is the most bytes an output buffer holds; a record too large
// for one travels in a buffer of its own. It is 32 KiB, like Flink's
// network buffers (large enough to amortise per-message costs, small enough
// to keep latency and memory low), less the bytes the gRPC message around a
// buffer adds (messageOverhead): gRPC encodes and receives each message in
// a buffer from its pool, zeroed first, and a message one byte over 32 KiB
// takes a 1 MiB one.
const BufferSize = 32<<10 - messageOverhead

// messageOverhead bounds what an ExchangeRequest adds to its buffer: the
// field's tag and length (the first message of a stream also names the
// channel, once).
const messageOverhead = 16

// Kind is the kind of a buffer element.
type Kind byte

const (
	// KindRecord is an encoded record.
	KindRecord Kind = iota + 1
	// KindEndOfPartition says the producer will send nothing more.
	KindEndOfPartition
	// KindBarrier is a checkpoint barrier: a weirv1.Barrier in protobuf.
	// Every record before it belongs to the checkpoint's state, every
	// record after it does not.
	KindBarrier
	// KindTimedRecord is an encoded record with its event timestamp: 8
	// bytes big-endian timestamp, then the record.
	KindTimedRecord
	// KindWatermark says no record with a timestamp at or before it will
	// follow on the channel: 8 bytes big-endian timestamp.
	KindWatermark
	// KindIdle marks the channel idle (payload 1) or active again
	// (payload 0): an idle channel does not hold back the watermark of
	// its consumer (Flink's StreamStatus).
	KindIdle
	// KindKeyedRecord is a record of a key-group partitioned edge: its key
	// group (uvarint), then the record. The sender hashed the key to pick
	// the channel; the consumer scopes its keyed state to the key group it
	// is given instead of hashing the key again.
	KindKeyedRecord
	// KindKeyedTimedRecord is a KindKeyedRecord with an event timestamp:
	// key group (uvarint), 8 bytes big-endian timestamp, then the record.
	KindKeyedTimedRecord
)

// NoTimestamp is the timestamp of a record that has none.
const NoTimestamp = math.MinInt64

// NoKeyGroup is the key group of a record that carries none.
const NoKeyGroup = -1

// ErrCorruptBuffer is returned for a buffer that does not parse.
var ErrCorruptBuffer = errors.New("network: corrupt buffer")

// AppendElement appends one element to buf.
func AppendElement(buf []byte, k Kind, payload []byte) []byte {
	buf = append(buf, byte(k))
	buf = binary.AppendUvarint(buf, uint64(len(payload)))
	return append(buf, payload...)
}

// AppendRecord appends a record with key group kg (NoKeyGroup for none)
// and event timestamp ts (NoTimestamp for none) to buf, as the record kind
// that carries what it has. RecordSize is the number of bytes it appends.
func AppendRecord(buf []byte, kg int, ts int64, rec []byte) []byte {
	k := KindRecord
	switch {
	case kg != NoKeyGroup && ts != NoTimestamp:
		k = KindKeyedTimedRecord
	case kg != NoKeyGroup:
		k = KindKeyedRecord
	case ts != NoTimestamp:
		k = KindTimedRecord
	}
	buf = append(buf, byte(k))
	buf = binary.AppendUvarint(buf, uint64(recordPayloadSize(kg, ts, len(rec))))
	if kg != NoKeyGroup {
		buf = binary.AppendUvarint(buf, uint64(kg))
	}
	if ts != NoTimestamp {
		buf = binary.BigEndian.AppendUint64(buf, uint64(ts))
	}
	return append(buf, rec...)
}

// RecordSize returns the number of bytes AppendRecord appends for a record
// of n bytes.
func RecordSize(kg int, ts int64, n int) int {
	return elementSize(recordPayloadSize(kg, ts, n))
}

// elementSize returns the number of bytes AppendElement appends for a
// payload of n bytes.
func elementSize(n int) int {
	return 1 + protowire.SizeVarint(uint64(n)) + n
}

func recordPayloadSize(kg int, ts int64, n int) int {
	if kg != NoKeyGroup {
		n += protowire.SizeVarint(uint64(kg))
	}
	if ts != NoTimestamp {
		n += 8
	}
	return n
}

// SplitRecord splits the payload of a record element of kind k into the
// key group (NoKeyGroup if the kind has none), the event timestamp
// (NoTimestamp if none) and the record.
func SplitRecord(k Kind, payload []byte) (kg int, ts int64, rec []byte, err error) {
	kg, ts, rec = NoKeyGroup, NoTimestamp, payload
	if k == KindKeyedRecord || k == KindKeyedTimedRecord {
		g, w := binary.Uvarint(rec)
		if w <= 0 || g > math.MaxInt32 {
			return 0, 0, nil, fmt.Errorf("%w: key group of a keyed record", ErrCorruptBuffer)
		}
		kg, rec = int(g), rec[w:]
	}
	if k == KindTimedRecord || k == KindKeyedTimedRecord {
		if len(rec) < 8 {
			return 0, 0, nil, fmt.Errorf("%w: timed record of %d bytes", ErrCorruptBuffer, len(payload))
		}
		ts, rec = int64(binary.BigEndian.Uint64(rec)), rec[8:]
	}
	return kg, ts, rec, nil
}

// EncodeTimestamp returns the payload of a KindWatermark element.
func EncodeTimestamp(ts int64) []byte { return binary.BigEndian.AppendUint64(nil, uint64(ts)) }

// DecodeTimestamp reads the payload of a KindWatermark element.
func DecodeTimestamp(payload []byte) (int64, error) {
	if len(payload) != 8 {
		return 0, fmt.Errorf("%w: watermark of %d bytes", ErrCorruptBuffer, len(payload))
	}
	return int64(binary.BigEndian.Uint64(payload)), nil
}

// Rest returns the unread part of the buffer.
func (r *Reader) Rest() []byte { return r.buf }

// Reader iterates over the elements of a buffer.
type Reader struct {
	buf []byte
}

// NewReader returns a reader over buf.
func NewReader(buf []byte) Reader { return Reader{buf: buf} }

// Next returns the next element. ok is false at the end of the buffer.
func (r *Reader) Next() (k Kind, payload []byte, ok bool, err error) {
	if len(r.buf) == 0 {
		return 0, nil, false, nil
	}
	k = Kind(r.buf[0])
	if k < KindRecord || k > KindKeyedTimedRecord {
		return 0, nil, false, fmt.Errorf("%w: unknown element kind %d", ErrCorruptBuffer, k)
	}
	n, w := binary.Uvarint(r.buf[1:])
	if w <= 0 || n > uint64(len(r.buf)-1-w) {
		return 0, nil, false, fmt.Errorf("%w: element length", ErrCorruptBuffer)
	}
	payload = r.buf[1+w : 1+w+int(n)]
	r.buf = r.buf[1+w+int(n):]
	return k, payload, true, nil
}
