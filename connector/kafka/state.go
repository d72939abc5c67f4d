package kafka

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// State elements. Each starts with a kind byte; integers are varints
// (zig-zag for signed values), strings a uvarint length and the bytes.
//
//	sourceOffset     topic, partition, next offset
//	sourceUnassigned topic
//	sinkPending      checkpoint ID, transactional ID, producer ID, epoch
//	sinkSequence     transactional ID prefix, subtask, parallelism, next sequence
type elementKind byte

const (
	// sourceOffset is the next offset the source reads of one partition.
	sourceOffset elementKind = iota + 1
	// sourceUnassigned says the snapshotting subtask had not finished its
	// first partition discovery: partitions missing from the state start
	// where StartFrom says, not at their earliest offset.
	sourceUnassigned
	// sinkPending is a transaction pre-committed at the barrier of a
	// checkpoint and not yet known to be committed.
	sinkPending
	// sinkSequence is where a sink subtask's transactional IDs continue:
	// IDs <prefix>-<subtask>-<n> with n >= the sequence belong to
	// transactions after the checkpoint.
	sinkSequence
)

var errCorrupt = errors.New("corrupt state element")

// elementReader decodes the fields of an element, remembering the first
// error.
type elementReader struct {
	b   []byte
	err error
}

func (r *elementReader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = errCorrupt
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *elementReader) varint() int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.err = errCorrupt
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *elementReader) string() string {
	n := r.uvarint()
	if r.err != nil {
		return ""
	}
	if n > uint64(len(r.b)) {
		r.err = errCorrupt
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}

// done returns the first error, or errCorrupt if bytes are left over.
func (r *elementReader) done() error {
	if r.err == nil && len(r.b) != 0 {
		r.err = errCorrupt
	}
	return r.err
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// offsetElement is a sourceOffset or sourceUnassigned element.
type offsetElement struct {
	kind      elementKind
	topic     string
	partition int32
	offset    int64
}

func (e offsetElement) encode() []byte {
	b := appendString([]byte{byte(e.kind)}, e.topic)
	if e.kind == sourceOffset {
		b = binary.AppendVarint(b, int64(e.partition))
		b = binary.AppendVarint(b, e.offset)
	}
	return b
}

func decodeOffsetElement(b []byte) (offsetElement, error) {
	if len(b) == 0 {
		return offsetElement{}, errCorrupt
	}
	e := offsetElement{kind: elementKind(b[0])}
	r := elementReader{b: b[1:]}
	e.topic = r.string()
	switch e.kind {
	case sourceOffset:
		p := r.varint()
		e.offset = r.varint()
		if p < 0 || p > 1<<31-1 || e.offset < 0 {
			return offsetElement{}, errCorrupt
		}
		e.partition = int32(p)
	case sourceUnassigned:
	default:
		return offsetElement{}, fmt.Errorf("unknown element kind %d", e.kind)
	}
	return e, r.done()
}

// pendingTxn is a transaction pre-committed at a checkpoint barrier.
type pendingTxn struct {
	checkpoint    int64
	transactional string
	producerID    int64
	epoch         int16
}

// sequenceElement says where subtask's transactional IDs continue.
type sequenceElement struct {
	prefix      string
	subtask     int
	parallelism int
	next        uint64
}

func (p pendingTxn) encode() []byte {
	b := binary.AppendUvarint([]byte{byte(sinkPending)}, uint64(p.checkpoint))
	b = appendString(b, p.transactional)
	b = binary.AppendVarint(b, p.producerID)
	return binary.AppendVarint(b, int64(p.epoch))
}

func (s sequenceElement) encode() []byte {
	b := appendString([]byte{byte(sinkSequence)}, s.prefix)
	b = binary.AppendUvarint(b, uint64(s.subtask))
	b = binary.AppendUvarint(b, uint64(s.parallelism))
	return binary.AppendUvarint(b, s.next)
}

// decodeSinkElement decodes a sink element into a pendingTxn or a
// sequenceElement.
func decodeSinkElement(b []byte) (any, error) {
	if len(b) == 0 {
		return nil, errCorrupt
	}
	r := elementReader{b: b[1:]}
	switch elementKind(b[0]) {
	case sinkPending:
		p := pendingTxn{checkpoint: int64(r.uvarint()), transactional: r.string(), producerID: r.varint()}
		epoch := r.varint()
		if err := r.done(); err != nil {
			return nil, err
		}
		if p.checkpoint <= 0 || p.transactional == "" || p.producerID < 0 || epoch < 0 || epoch > 1<<15-1 {
			return nil, errCorrupt
		}
		p.epoch = int16(epoch)
		return p, nil
	case sinkSequence:
		s := sequenceElement{prefix: r.string()}
		subtask, parallelism := r.uvarint(), r.uvarint()
		s.next = r.uvarint()
		if err := r.done(); err != nil {
			return nil, err
		}
		if subtask >= 1<<15 || parallelism == 0 || parallelism >= 1<<15 || subtask >= parallelism {
			return nil, errCorrupt
		}
		s.subtask, s.parallelism = int(subtask), int(parallelism)
		return s, nil
	default:
		return nil, fmt.Errorf("unknown element kind %d", b[0])
	}
}
