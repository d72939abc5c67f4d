package statebackend

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// The canonical snapshot format of keyed state: every backend writes and
// reads it, so a savepoint taken on one backend restores on another, and a
// restore at another parallelism keeps just its key groups.
//
//	snapshot = "WKS1" | uvarint nStates | state* | entry* | 0
//	state    = uvarint kind | uvarint len | name
//	entry    = uvarint keyGroup+1 | uvarint stateIndex | bytes key | [bytes userKey, KindMap only] | bytes value
//	bytes    = uvarint len | len bytes
//
// A KindList value is the encoded list (AppendListElement). The byte slices
// of entries are not ordered; readers must not assume an order.

var snapshotMagic = []byte("WKS1")

// ErrCorruptSnapshot is returned for a snapshot that does not parse.
var ErrCorruptSnapshot = errors.New("statebackend: corrupt keyed-state snapshot")

// StateDesc names a state in a snapshot.
type StateDesc struct {
	Name string
	Kind Kind
}

// Entry is one stored value of a snapshot.
type Entry struct {
	KeyGroup int
	State    int // index into the snapshot's states
	Key      []byte
	UserKey  []byte // KindMap only
	Value    []byte
}

// SnapshotEncoder writes the canonical snapshot format.
type SnapshotEncoder struct {
	buf   []byte
	kinds []Kind
}

// NewSnapshotEncoder starts a snapshot of the given states.
func NewSnapshotEncoder(states []StateDesc) *SnapshotEncoder {
	return AppendSnapshot(nil, states)
}

// AppendSnapshot starts a snapshot of the given states at the end of dst,
// which Finish returns with the snapshot appended: encoding into the
// buffer of an earlier snapshot of the state allocates nothing once it has
// grown to the snapshot's size.
func AppendSnapshot(dst []byte, states []StateDesc) *SnapshotEncoder {
	e := &SnapshotEncoder{buf: AppendStates(append(dst, snapshotMagic...), states), kinds: make([]Kind, 0, len(states))}
	for _, s := range states {
		e.kinds = append(e.kinds, s.Kind)
	}
	return e
}

// AppendStates appends the state descriptors that head a snapshot:
//
//	uvarint nStates | (uvarint kind | bytes name)*
func AppendStates(dst []byte, states []StateDesc) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(states)))
	for _, s := range states {
		dst = binary.AppendUvarint(dst, uint64(s.Kind))
		dst = AppendBytes(dst, s.Name)
	}
	return dst
}

// States reads what AppendStates wrote.
func (d *Decoder) States() []StateDesc {
	n := d.Uvarint()
	if d.Err == nil && n > uint64(len(d.B)) {
		d.Fail()
	}
	descs := make([]StateDesc, 0, min(n, 1024))
	for i := uint64(0); i < n && d.Err == nil; i++ {
		k := Kind(d.Uvarint())
		name := d.Bytes()
		if k != KindValue && k != KindList && k != KindMap {
			d.Fail()
		}
		descs = append(descs, StateDesc{Name: string(name), Kind: k})
	}
	return descs
}

// Add appends one entry.
func (e *SnapshotEncoder) Add(kg, state int, key, userKey, value []byte) {
	e.buf = appendEntry(e.buf, e.kinds[state], kg, state, key, userKey, value)
}

// AddStrings appends one entry whose key and user key are strings, as a
// backend keeping them as map keys has them, without converting them.
func (e *SnapshotEncoder) AddStrings(kg, state int, key, userKey string, value []byte) {
	e.buf = appendEntry(e.buf, e.kinds[state], kg, state, key, userKey, value)
}

func appendEntry[K string | []byte](dst []byte, kind Kind, kg, state int, key, userKey K, value []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(kg)+1)
	dst = binary.AppendUvarint(dst, uint64(state))
	dst = AppendBytes(dst, key)
	if kind == KindMap {
		dst = AppendBytes(dst, userKey)
	}
	return AppendBytes(dst, value)
}

// Finish returns the encoded snapshot: what is left of it after the bytes
// Flush wrote.
func (e *SnapshotEncoder) Finish() []byte {
	return binary.AppendUvarint(e.buf, 0)
}

// Len returns the bytes encoded since the start or the last Flush.
func (e *SnapshotEncoder) Len() int { return len(e.buf) }

// Flush writes the bytes encoded since the start or the last Flush to w
// and encodes on in the same buffer: a snapshot streamed to a file is the
// bytes of every Flush and then Finish's, so the encoder holds no more
// of it than one Flush's worth.
func (e *SnapshotEncoder) Flush(w io.Writer) error {
	_, err := w.Write(e.buf)
	e.buf = e.buf[:0]
	return err
}

// AppendBytes appends b, length-prefixed.
func AppendBytes[B string | []byte](dst []byte, b B) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(b)))
	return append(dst, b...)
}

// DecodeSnapshot parses a snapshot, calling states once with its state
// descriptors and then entry for every entry. The slices of an Entry alias
// snap.
func DecodeSnapshot(snap []byte, states func([]StateDesc) error, entry func(Entry) error) error {
	d := Decoder{B: snap}
	if len(snap) < len(snapshotMagic) || string(snap[:len(snapshotMagic)]) != string(snapshotMagic) {
		return fmt.Errorf("%w: bad magic", ErrCorruptSnapshot)
	}
	d.B = d.B[len(snapshotMagic):]
	descs := d.States()
	if d.Err != nil {
		return d.Err
	}
	if err := states(descs); err != nil {
		return err
	}
	for {
		var e Entry
		var ok bool
		if e.KeyGroup, e.State, e.Key, ok = d.Record(len(descs)); !ok {
			return d.Err
		}
		if descs[e.State].Kind == KindMap {
			e.UserKey = d.Bytes()
		}
		e.Value = d.Bytes()
		if d.Err != nil {
			return d.Err
		}
		if err := entry(e); err != nil {
			return err
		}
	}
}

// Decoder reads the uvarints and length-prefixed byte strings of the
// keyed-state formats: this one, and the backends' own (the heap's
// deltas). The first failure sticks in Err, wrapping Corrupt; later reads
// return zero values.
type Decoder struct {
	B       []byte // what is left to read
	Err     error
	Corrupt error // what a failure wraps; ErrCorruptSnapshot if nil
}

// Fail records that the input is malformed, unless a failure came first.
func (d *Decoder) Fail() { d.fail("truncated or malformed") }

func (d *Decoder) fail(what string) {
	if d.Err == nil {
		corrupt := d.Corrupt
		if corrupt == nil {
			corrupt = ErrCorruptSnapshot
		}
		d.Err = fmt.Errorf("%w: %s", corrupt, what)
	}
}

// Record reads the head of a record of the keyed-state formats, or their
// end:
//
//	record = uvarint keyGroup+1 | uvarint stateIndex | bytes key | ...
//	end    = uvarint 0, the last byte
//
// ok is false at the end, with Err nil, and on a failure, with Err set; a
// state index not below states is a failure.
func (d *Decoder) Record(states int) (kg, state int, key []byte, ok bool) {
	kg1 := d.Uvarint()
	if d.Err != nil {
		return 0, 0, nil, false
	}
	if kg1 == 0 {
		if len(d.B) != 0 {
			d.fail("trailing bytes")
		}
		return 0, 0, nil, false
	}
	st := d.Uvarint()
	if d.Err == nil && st >= uint64(states) {
		d.Fail()
	}
	key = d.Bytes()
	return int(kg1 - 1), int(st), key, d.Err == nil
}

// Uvarint reads a uvarint.
func (d *Decoder) Uvarint() uint64 {
	if d.Err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.B)
	if n <= 0 {
		d.Fail()
		return 0
	}
	d.B = d.B[n:]
	return v
}

// Bytes reads a length-prefixed byte string, aliasing the input.
func (d *Decoder) Bytes() []byte {
	n := d.Uvarint()
	if d.Err != nil {
		return nil
	}
	if n > uint64(len(d.B)) {
		d.Fail()
		return nil
	}
	b := d.B[:n]
	d.B = d.B[n:]
	return b
}

// MergeSnapshots combines canonical snapshots, keeping the entries whose
// key group keep accepts: the keyed state a subtask restores when a job
// resumes at another parallelism, from the snapshots of the old subtasks
// whose key groups overlap its range. States are matched by name; a name
// saved with two kinds is an error. Empty inputs (operators without keyed
// state on some subtask) are skipped; the result is nil if all are.
func MergeSnapshots(snaps [][]byte, keep func(kg int) bool) ([]byte, error) {
	var (
		descs   []StateDesc
		index   = map[string]int{}
		entries []Entry
	)
	for i, snap := range snaps {
		if len(snap) == 0 {
			continue
		}
		var local []int // state index in snap -> index in descs
		err := DecodeSnapshot(snap, func(ds []StateDesc) error {
			for _, d := range ds {
				j, ok := index[d.Name]
				switch {
				case !ok:
					j = len(descs)
					index[d.Name] = j
					descs = append(descs, d)
				case descs[j].Kind != d.Kind:
					return fmt.Errorf("%w: state %q is %v in one snapshot and %v in another", ErrKindMismatch, d.Name, descs[j].Kind, d.Kind)
				}
				local = append(local, j)
			}
			return nil
		}, func(e Entry) error {
			if keep(e.KeyGroup) {
				e.State = local[e.State]
				entries = append(entries, e)
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("snapshot %d: %w", i, err)
		}
	}
	if descs == nil {
		return nil, nil
	}
	enc := NewSnapshotEncoder(descs)
	for _, e := range entries {
		enc.Add(e.KeyGroup, e.State, e.Key, e.UserKey, e.Value)
	}
	return enc.Finish(), nil
}
