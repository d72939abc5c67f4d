package pebble

import "unsafe"

// maxWriteBufferBytes bounds a backend's write buffer: a quarter memtable
// (Backend.checkEvery), at most this much. See writeBuffer.
const maxWriteBufferBytes = 256 << 10

// writeBuffer holds the point writes of a backend that Pebble has not yet
// seen: for each Pebble key, the newest write — a value, a deletion, or
// list elements to append to whatever Pebble holds. Writes go into it,
// reads look in it before Pebble, and Backend.commit writes it to Pebble
// in one batch when it is full, and before anything that reads Pebble
// directly (a snapshot, MapRange) or writes a range (Delete of a map).
//
// One commit per buffer instead of one per write saves Pebble's commit
// pipeline per write (a batch from a pool, the commit mutex, sequence
// numbers, and with the write-ahead log a log record and a wake-up of its
// writer), and a key written many times between commits — a hot word's
// counter — reaches the memtable once.
//
// Keys and values live in arena, whose capacity is fixed when the buffer
// is made: it is never grown, so the index's keys, which alias it, never
// move. reset empties both together.
type writeBuffer struct {
	index   map[string]int32 // Pebble key → index in entries
	entries []bufEntry
	arena   []byte
}

type bufOp uint8

const (
	opSet    bufOp = iota + 1 // value is the value
	opDelete                  // value is empty
	opMerge                   // value is list elements to append
)

type bufEntry struct {
	op    bufOp
	key   []byte // aliases arena
	value []byte // aliases arena; its capacity is its length when copied
}

func newWriteBuffer(size int) writeBuffer {
	return writeBuffer{index: map[string]int32{}, arena: make([]byte, 0, size)}
}

// lookup returns k's entry, valid until the next add or reset, or nil.
func (w *writeBuffer) lookup(k []byte) *bufEntry {
	i, ok := w.index[string(k)] // no allocation: the conversion is only looked up
	if !ok {
		return nil
	}
	return &w.entries[i]
}

// fits reports whether n more bytes fit in the arena.
func (w *writeBuffer) fits(n int) bool { return len(w.arena)+n <= cap(w.arena) }

// copy copies p into the arena, where fits said it fits.
func (w *writeBuffer) copy(p ...[]byte) []byte {
	n := len(w.arena)
	for _, q := range p {
		w.arena = append(w.arena, q...)
	}
	return w.arena[n:len(w.arena):len(w.arena)]
}

// add adds an entry for k, which has none, where fits said len(k)+len(v)
// fit.
func (w *writeBuffer) add(op bufOp, k, v []byte) {
	key := w.copy(k)
	// The string aliases the arena, which is neither grown nor written
	// over until reset clears the index.
	w.index[unsafe.String(unsafe.SliceData(key), len(key))] = int32(len(w.entries))
	w.entries = append(w.entries, bufEntry{op: op, key: key, value: w.copy(v)})
}

// set makes e's write op with value v: in place when v fits in e's
// value, else copied into the arena, where fits said len(v) fit.
func (w *writeBuffer) set(e *bufEntry, op bufOp, v []byte) {
	e.op = op
	if len(v) <= cap(e.value) {
		e.value = append(e.value[:0], v...)
		return
	}
	e.value = w.copy(v)
}

// extend makes e's write op with its value followed by v: in place when
// that fits in e's value, else copied into the arena, where fits said
// len(e.value)+len(v) fit.
func (w *writeBuffer) extend(e *bufEntry, op bufOp, v []byte) {
	e.op = op
	if len(e.value)+len(v) <= cap(e.value) {
		e.value = append(e.value, v...)
		return
	}
	e.value = w.copy(e.value, v)
}

func (w *writeBuffer) empty() bool { return len(w.entries) == 0 }

func (w *writeBuffer) reset() {
	clear(w.index)
	clear(w.entries) // drop the arena aliases
	w.entries = w.entries[:0]
	w.arena = w.arena[:0]
}
