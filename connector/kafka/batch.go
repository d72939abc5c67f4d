package kafka

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"time"

	"github.com/segmentio/kafka-go/protocol"
)

// The layout of a record batch, message format v2 (KIP-98), as the
// produce request carries it, preceded by its int32 size:
//
//	size                 int32  bytes that follow (the NULLABLE_BYTES length)
//	baseOffset           int64  0 in a produce request
//	batchLength          int32  bytes after this field
//	partitionLeaderEpoch int32  -1
//	magic                int8   2
//	crc                  uint32 CRC-32C of attributes .. end
//	attributes           int16  bit 4: transactional
//	lastOffsetDelta      int32
//	firstTimestamp       int64
//	maxTimestamp         int64
//	producerID           int64  -1 without a producer ID
//	producerEpoch        int16  -1 without a producer ID
//	baseSequence         int32  -1 without a producer ID
//	records              int32  count, then the records
//
// A record is: length varint, attributes int8, timestampDelta varint,
// offsetDelta varint, key (varint length, -1 for null), value (varint
// length), header count varint. Varints are zig-zag encoded, as Go's
// binary.AppendVarint writes them.
const (
	offSize            = 0
	offBatchLength     = 12
	offCRC             = 21
	offAttributes      = 25
	offLastOffsetDelta = 27
	offFirstTimestamp  = 31
	offMaxTimestamp    = 39
	offProducerID      = 47
	offProducerEpoch   = 55
	offBaseSequence    = 57
	offRecordCount     = 61
	batchHeaderSize    = 65

	attrTransactional = int16(protocol.Transactional)
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// batchBuilder accumulates records for one partition into an encoded
// record batch. The zero value is not usable; call reset first.
type batchBuilder struct {
	buf      []byte
	n        int32 // records
	values   int   // bytes of the records' values
	firstTS  int64 // unix millis of the first record
	maxTS    int64
	maxBytes int // the size at which the batch counts as full
}

// reset empties b and reserves its header.
func (b *batchBuilder) reset(maxBytes int) {
	if cap(b.buf) < batchHeaderSize {
		b.buf = make([]byte, 0, min(maxBytes, 64<<10)+batchHeaderSize)
	}
	b.buf = append(b.buf[:0], make([]byte, batchHeaderSize)...)
	b.n, b.values, b.firstTS, b.maxTS, b.maxBytes = 0, 0, 0, 0, maxBytes
}

// size returns the encoded size of the batch so far, with its size prefix.
func (b *batchBuilder) size() int { return len(b.buf) }

// recordSize returns the bytes a record with a value of n bytes adds to a
// batch, at most: varint lengths are bounded by their maximum widths.
func recordSize(n int) int { return n + 1 + 5 + 1 + 10 + 5 + 1 + 5 }

// fits reports whether a value of n bytes fits in the batch. An empty
// batch takes any record, however large.
func (b *batchBuilder) fits(n int) bool {
	return b.n == 0 || len(b.buf)+recordSize(n) <= b.maxBytes
}

// add appends a record with value v, timestamped at.
func (b *batchBuilder) add(v string, at time.Time) {
	ts := at.UnixMilli()
	if b.n == 0 {
		b.firstTS = ts
	}
	b.maxTS = max(b.maxTS, ts)
	delta := ts - b.firstTS
	// The body is attributes, timestamp delta, offset delta, key, value,
	// header count.
	body := 1 + varintLen(delta) + varintLen(int64(b.n)) + varintLen(-1) + varintLen(int64(len(v))) + len(v) + varintLen(0)
	b.buf = binary.AppendVarint(b.buf, int64(body))
	b.buf = append(b.buf, 0)
	b.buf = binary.AppendVarint(b.buf, delta)
	b.buf = binary.AppendVarint(b.buf, int64(b.n))
	b.buf = binary.AppendVarint(b.buf, -1) // null key
	b.buf = binary.AppendVarint(b.buf, int64(len(v)))
	b.buf = append(b.buf, v...)
	b.buf = binary.AppendVarint(b.buf, 0) // no headers
	b.n++
	b.values += len(v)
}

// header is a record header.
type header struct {
	key   string
	value []byte
}

// addRecord appends a record with a key (nil for none), value and
// headers, timestamped at unix millis ts: the general form of add, for
// records that are not on the hot path (dead letters).
func (b *batchBuilder) addRecord(key, value []byte, headers []header, ts int64) {
	if b.n == 0 {
		b.firstTS = ts
	}
	b.maxTS = max(b.maxTS, ts)
	delta := ts - b.firstTS
	keyLen := int64(-1)
	if key != nil {
		keyLen = int64(len(key))
	}
	body := 1 + varintLen(delta) + varintLen(int64(b.n)) + varintLen(keyLen) + len(key) +
		varintLen(int64(len(value))) + len(value) + varintLen(int64(len(headers)))
	for _, h := range headers {
		body += varintLen(int64(len(h.key))) + len(h.key) + varintLen(int64(len(h.value))) + len(h.value)
	}
	b.buf = binary.AppendVarint(b.buf, int64(body))
	b.buf = append(b.buf, 0)
	b.buf = binary.AppendVarint(b.buf, delta)
	b.buf = binary.AppendVarint(b.buf, int64(b.n))
	b.buf = binary.AppendVarint(b.buf, keyLen)
	b.buf = append(b.buf, key...)
	b.buf = binary.AppendVarint(b.buf, int64(len(value)))
	b.buf = append(b.buf, value...)
	b.buf = binary.AppendVarint(b.buf, int64(len(headers)))
	for _, h := range headers {
		b.buf = binary.AppendVarint(b.buf, int64(len(h.key)))
		b.buf = append(b.buf, h.key...)
		b.buf = binary.AppendVarint(b.buf, int64(len(h.value)))
		b.buf = append(b.buf, h.value...)
	}
	b.n++
	b.values += len(value)
}

// recordBytes is the payload of a record for recordSize: key, value and
// headers.
func recordBytes(key, value []byte, headers []header) int {
	n := len(key) + len(value)
	for _, h := range headers {
		n += len(h.key) + len(h.value) + 10
	}
	return n
}

// producerFields are the producer ID, epoch and first sequence number a
// batch carries; producerID -1 for a producer without an ID.
type producerFields struct {
	producerID    int64
	epoch         int16
	sequence      int32
	transactional bool
}

// finish fills in the header and returns the encoded batch, which stays
// valid until the next reset.
func (b *batchBuilder) finish(p producerFields) []byte {
	buf := b.buf
	be := binary.BigEndian
	be.PutUint32(buf[offSize:], uint32(len(buf)-4))
	be.PutUint64(buf[4:], 0) // base offset
	be.PutUint32(buf[offBatchLength:], uint32(len(buf)-offBatchLength-4))
	be.PutUint32(buf[16:], ^uint32(0)) // partition leader epoch -1
	buf[20] = 2                        // magic
	var attrs int16
	if p.transactional {
		attrs |= attrTransactional
	}
	be.PutUint16(buf[offAttributes:], uint16(attrs))
	be.PutUint32(buf[offLastOffsetDelta:], uint32(b.n-1))
	be.PutUint64(buf[offFirstTimestamp:], uint64(b.firstTS))
	be.PutUint64(buf[offMaxTimestamp:], uint64(b.maxTS))
	be.PutUint64(buf[offProducerID:], uint64(p.producerID))
	be.PutUint16(buf[offProducerEpoch:], uint16(p.epoch))
	be.PutUint32(buf[offBaseSequence:], uint32(p.sequence))
	be.PutUint32(buf[offRecordCount:], uint32(b.n))
	be.PutUint32(buf[offCRC:], crc32.Checksum(buf[offAttributes:], castagnoli))
	return buf
}

// rawRecords wraps an encoded batch for a RawProduce request.
func rawRecords(batch []byte) protocol.RawRecordSet {
	return protocol.RawRecordSet{Reader: bytes.NewReader(batch)}
}

func varintLen(v int64) int {
	u := uint64(v<<1) ^ uint64(v>>63)
	n := 1
	for u >= 0x80 {
		u >>= 7
		n++
	}
	return n
}
