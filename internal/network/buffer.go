package network

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// BufferSize is the size at which an output buffer is sent. 32 KiB, like
// Flink's network buffers: large enough to amortise per-message costs, small
// enough to keep latency and memory low.
const BufferSize = 32 << 10

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
)

// ErrCorruptBuffer is returned for a buffer that does not parse.
var ErrCorruptBuffer = errors.New("network: corrupt buffer")

// AppendElement appends one element to buf.
func AppendElement(buf []byte, k Kind, payload []byte) []byte {
	buf = append(buf, byte(k))
	buf = binary.AppendUvarint(buf, uint64(len(payload)))
	return append(buf, payload...)
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
	if k != KindRecord && k != KindEndOfPartition && k != KindBarrier {
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
