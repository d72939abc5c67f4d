// Package heap is the state backend that keeps working state in Go maps on
// the task's heap: the fastest backend, bounded by memory. Like every
// backend, it is working state only; snapshots go to checkpoint storage.
//
// Snapshots are copy-on-write, in the spirit of Flink's
// CopyOnWriteStateMap: at the barrier SnapshotAsync captures references to
// the maps of every state and key group, and the checkpointer encodes them
// on its own goroutine. Meanwhile the task goroutine never writes a map or
// a value such a snapshot may read: writes to a captured map of value or
// list state go to an overlay map, looked up first and settled into the
// map once no snapshot reads it; the first write to a captured map of map
// state clones it (shallowly); and a captured value is replaced by a copy
// rather than overwritten. Maps and values carry the epoch they were made
// in to tell captured ones apart; once no snapshot is left to encode a key
// group, writes to it go back to being in place, while the snapshot goes
// on with the others.
package heap

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"sync/atomic"
	"unsafe"

	"github.com/weirstream/weir/internal/invariant"
	"github.com/weirstream/weir/internal/keygroup"
	"github.com/weirstream/weir/internal/statebackend"
)

// Backend holds keyed state in maps, one per state and key group, so the
// state of a key-group range can be cut out for rescaling.
type Backend struct {
	groups keygroup.Range
	states []*state
	byName map[string]statebackend.StateID

	key []byte // current key; owned by the backend
	kg  int    // current key group, relative to groups.Start

	// epoch is stamped on every map and value made or written; a
	// snapshot ends it. captured is the newest epoch a snapshot captured:
	// a map or value of that epoch or older may be read by a snapshot
	// while inflight, the number of snapshots neither encoded nor
	// discarded, is not zero. Only canonical snapshots (SnapshotAsync)
	// read the key groups' maps: groupsCaptured is the newest epoch
	// such a snapshot captured, and groupsPending counts, per key group
	// (relative to groups.Start), the canonical snapshots that have not
	// encoded it yet, so that a delta (changelog.go) copies no map and a
	// key group is written in place again as soon as the snapshots in
	// flight have encoded it, not once they are done. A delta
	// reads only the entries it logged, whose epochs run from the log's
	// start to its capture: deltaLow is the oldest such epoch of the
	// deltas in flight, deltaCaptured the newest, and deltasInflight
	// counts them, so that a write to an entry no delta logged copies
	// nothing. Only the inflight counts are shared with other goroutines.
	epoch          uint64
	captured       uint64
	inflight       atomic.Int64
	groupsCaptured uint64
	groupsPending  []atomic.Int32
	deltaLow       uint64
	deltaCaptured  uint64
	deltasInflight atomic.Int64
	// logStart is the epoch the log (changelog.go) began in.
	logStart uint64

	// closed is set by Close: an encode in flight stops, so that a
	// cancelled task's snapshot holds its state no longer.
	closed atomic.Bool

	// size estimates the bytes of the state's canonical encoding.
	size int64

	// log records the writes since the last native snapshot; nil unless
	// the backend takes them (NewIncremental, changelog.go).
	log *changelog
}

var (
	_ statebackend.KeyedBackend     = (*Backend)(nil)
	_ statebackend.AsyncSnapshotter = (*Backend)(nil)
)

type state struct {
	name string
	kind statebackend.Kind
	// values holds KindValue and KindList state, indexed by key group - groups.Start.
	values []map[string]*entry
	// over holds, per key group, the writes of KindValue and KindList
	// state made while a canonical snapshot may read the key group's map
	// in values: the entries written and a tombstone for each key deleted,
	// which reads look up first. The task settles them into the map once
	// no snapshot reads it. Copying the map on its first write instead, as
	// for KindMap state, would copy every key group's map under a full
	// snapshot, the whole state, when the task writes everywhere.
	over []map[string]*entry
	// frozen holds, per key group, an overlay that a snapshot captured
	// with the map beneath it, because an earlier snapshot still read the
	// map: read after over and before the map, never written. The first
	// write to the key group replaces the map by a copy with the frozen
	// overlay applied, and a lookup settles it once no snapshot reads
	// either. A key group has an overlay or a frozen one, not both.
	frozen []map[string]*entry
	// maps holds KindMap state, indexed likewise, from key to user map.
	maps []map[string]userMap
	// epochs holds the epoch each key group's map was made in.
	epochs []uint64
}

// entry is a stored value. It sits behind a pointer so that updating an
// existing key overwrites in place: assigning to m[string(key)] would
// allocate the key string on every update.
//
// The entry keeps its key (the same string as the map's key: the key, or
// in a user map the user key) for the changelog, and the epoch of its last
// write. A short key and value live in room allocated with the entry
// (newEntry): one allocation per key rather than three, and one object for
// a lookup, a snapshot's encoding and the garbage collector's marking to
// reach rather than three.
type entry struct {
	key   string
	v     []byte
	epoch uint64
}

// An entry with room after it for its key and value, in the size classes
// of 64, 80 and 96 bytes.
type (
	entry16 struct {
		entry
		room [16]byte
	}
	entry32 struct {
		entry
		room [32]byte
	}
	entry48 struct {
		entry
		room [48]byte
	}
)

// newEntry returns an entry of key and a copy of v, stamped with epoch.
//
// The key is held in room allocated with the entry, and the value with it
// when they fit together: the smallest room of 16, 32 or 48 bytes that
// holds them, or else the key alone. The key then aliases the room's first
// bytes, which are never written again: v starts after them, its capacity
// the rest of the room, so an update in place cannot reach them, and one
// that outgrows the room allocates. The map's key is the entry's (a map
// assignment stores the key it is given), which keeps the entry alive as
// long as the map holds it. A key longer than the rooms is a string of its
// own, shared with the entry it replaces.
func newEntry[K string | []byte](key K, v []byte, epoch uint64) *entry {
	n := len(key) + len(v)
	if n > 48 {
		n = len(key)
	}
	var e *entry
	var room []byte
	switch {
	case n <= 16:
		r := &entry16{}
		e, room = &r.entry, r.room[:]
	case n <= 32:
		r := &entry32{}
		e, room = &r.entry, r.room[:]
	case n <= 48:
		r := &entry48{}
		e, room = &r.entry, r.room[:]
	default:
		return &entry{key: string(key), v: append(make([]byte, 0, len(v)), v...), epoch: epoch}
	}
	k := copy(room, key)
	e.key = unsafe.String(unsafe.SliceData(room), k)
	e.v = append(room[k:k], v...)
	e.epoch = epoch
	return e
}

// userMap is the map of one key of a KindMap state, from user key to value.
// epoch is that of the map's last write; key is the key it is stored under.
type userMap struct {
	m     map[string]*entry
	epoch uint64
	key   string
}

// New returns an empty backend for the key groups in r.
func New(r keygroup.Range) *Backend {
	return &Backend{groups: r, byName: map[string]statebackend.StateID{}, kg: -1, epoch: 1, groupsPending: make([]atomic.Int32, r.Len())}
}

func (b *Backend) Register(name string, kind statebackend.Kind) (statebackend.StateID, error) {
	if id, ok := b.byName[name]; ok {
		if b.states[id].kind != kind {
			return 0, fmt.Errorf("%w: %q is %s, not %s", statebackend.ErrKindMismatch, name, b.states[id].kind, kind)
		}
		return id, nil
	}
	n := b.groups.Len()
	st := &state{name: name, kind: kind, epochs: make([]uint64, n)}
	if kind == statebackend.KindMap {
		st.maps = make([]map[string]userMap, n)
	} else {
		st.values = make([]map[string]*entry, n)
		st.over = make([]map[string]*entry, n)
		st.frozen = make([]map[string]*entry, n)
	}
	id := statebackend.StateID(len(b.states))
	b.states = append(b.states, st)
	b.byName[name] = id
	if b.log != nil {
		b.log.changes = append(b.log.changes, stateLog{})
	}
	return id, nil
}

func (b *Backend) SetCurrentKey(key []byte, kg int) {
	if !b.groups.Contains(kg) {
		_ = invariant.Failf("heap: key group %d outside the backend's range %s", kg, b.groups)
	}
	b.key = append(b.key[:0], key...)
	b.kg = kg - b.groups.Start
}

// shared reports whether a map or value made in epoch may be read by a
// snapshot being encoded: the task goroutine must not write it.
func (b *Backend) shared(epoch uint64) bool {
	return epoch <= b.captured && b.inflight.Load() > 0
}

// entryShared reports whether an entry of KindValue or KindList state
// stamped with epoch may be read by a snapshot being encoded: a canonical
// one reads every entry of its epoch or older, a delta only the entries it
// logged. (A delta reads the whole of each user map it logged, whatever
// its entries' epochs, so the entries of KindMap state use shared.)
func (b *Backend) entryShared(epoch uint64) bool {
	return b.groupShared(b.kg, epoch) ||
		(epoch >= b.deltaLow && epoch <= b.deltaCaptured && b.deltasInflight.Load() > 0)
}

// groupShared reports whether a map of key group kg (relative) made in
// epoch, or a value in it, may be read by a canonical snapshot being
// encoded.
func (b *Backend) groupShared(kg int, epoch uint64) bool {
	return epoch <= b.groupsCaptured && b.groupsPending[kg].Load() > 0
}

// writable returns *m ready for writes in the current epoch: made if nil,
// cloned if shared, that is if a snapshot may read it. *epoch is the epoch
// of *m.
func writable[V any](b *Backend, m *map[string]V, epoch *uint64, shared bool) map[string]V {
	switch {
	case *m == nil:
		*m = map[string]V{}
	case shared:
		*m = maps.Clone(*m)
	default:
		return *m
	}
	*epoch = b.epoch
	return *m
}

// tombstone stands in an overlay (state.over) for a key deleted.
var tombstone = &entry{}

// lookup returns the current key's entry of KindValue or KindList state
// st: its overlay's, else its frozen overlay's, else its map's. Overlays
// no snapshot needs any longer are settled first, so that lookups are of
// one map again.
func (b *Backend) lookup(st *state) (*entry, bool) {
	kg := b.kg
	if st.over[kg] != nil || st.frozen[kg] != nil {
		if !b.groupShared(kg, st.epochs[kg]) {
			settle(st, kg)
		} else {
			for _, o := range [2]map[string]*entry{st.over[kg], st.frozen[kg]} {
				if e, ok := o[string(b.key)]; ok {
					if e == tombstone {
						return nil, false
					}
					return e, true
				}
			}
		}
	}
	e, ok := st.values[kg][string(b.key)]
	return e, ok
}

// writableValues returns the map the current key group's writes of
// KindValue or KindList state s go to: the key group's map, or its overlay
// while a canonical snapshot may read the map (overlay is then true).
func (b *Backend) writableValues(s statebackend.StateID) (m map[string]*entry, overlay bool) {
	st := b.states[s]
	kg := b.kg
	if st.frozen[kg] != nil && b.groupShared(kg, st.epochs[kg]) {
		// A snapshot reads the map and the frozen overlay: the
		// writes go to a copy of the map with the overlay applied.
		st.values[kg] = maps.Clone(st.values[kg])
		st.epochs[kg] = b.epoch
	}
	if st.values[kg] != nil && b.groupShared(kg, st.epochs[kg]) {
		if st.over[kg] == nil {
			st.over[kg] = map[string]*entry{}
		}
		return st.over[kg], true
	}
	if st.over[kg] != nil || st.frozen[kg] != nil {
		settle(st, kg)
	}
	return writable(b, &st.values[kg], &st.epochs[kg], false), false
}

// settle applies key group kg's frozen overlay of st and then its overlay
// to its map, which no snapshot reads.
func settle(st *state, kg int) {
	m := st.values[kg]
	for _, o := range [2]map[string]*entry{st.frozen[kg], st.over[kg]} {
		for k, e := range o {
			if e == tombstone {
				delete(m, k)
			} else {
				m[k] = e
			}
		}
	}
	st.over[kg], st.frozen[kg] = nil, nil
}

// writableMaps returns the current key group's map of KindMap state s,
// ready for writes.
func (b *Backend) writableMaps(s statebackend.StateID) map[string]userMap {
	st := b.states[s]
	return writable(b, &st.maps[b.kg], &st.epochs[b.kg], b.groupShared(b.kg, st.epochs[b.kg]))
}

func (b *Backend) Get(s statebackend.StateID) ([]byte, bool) {
	e, ok := b.lookup(b.states[s])
	if !ok {
		return nil, false
	}
	return e.v, true
}

func (b *Backend) Put(s statebackend.StateID, value []byte) {
	e, ok := b.lookup(b.states[s])
	if ok && !b.entryShared(e.epoch) {
		b.size += int64(len(value) - len(e.v))
		e.v = append(e.v[:0], value...)
		b.written(s, e)
		return
	}
	m, _ := b.writableValues(s)
	b.insert(s, m, e, b.newValue(e, value))
}

func (b *Backend) Append(s statebackend.StateID, elem []byte) {
	e, ok := b.lookup(b.states[s])
	if ok && !b.entryShared(e.epoch) {
		n := len(e.v)
		e.v = statebackend.AppendListElement(e.v, elem)
		b.size += int64(len(e.v) - n)
		b.written(s, e)
		return
	}
	// Copied, not appended to: a snapshot reads e.v.
	var list []byte
	if ok {
		list = e.v
	}
	n := b.newValue(e, list)
	n.v = statebackend.AppendListElement(n.v, elem)
	m, _ := b.writableValues(s)
	b.insert(s, m, e, n)
}

// written stamps an entry of state s written in place with the current
// epoch, logging the entry at its first write in the epoch.
func (b *Backend) written(s statebackend.StateID, e *entry) {
	if e.epoch != b.epoch {
		e.epoch = b.epoch
		b.logValue(s, e, false)
	}
}

// newValue returns a new entry for the current key with a copy of v, to
// replace old (nil if the key has none).
func (b *Backend) newValue(old *entry, v []byte) *entry {
	if old != nil {
		// From old's key, which newEntry shares if it is a string of
		// its own.
		return newEntry(old.key, v, b.epoch)
	}
	return newEntry(b.key, v, b.epoch)
}

// insert stores e, new, as the current key's entry of state s in m, in
// place of old (nil if the key has none).
func (b *Backend) insert(s statebackend.StateID, m map[string]*entry, old, e *entry) {
	if old != nil {
		b.size += int64(len(e.v) - len(old.v))
	} else {
		b.size += int64(len(e.key) + len(e.v) + entryOverhead)
	}
	// The map's key becomes e's, which may be in e's room.
	m[e.key] = e
	b.logValue(s, e, false)
}

func (b *Backend) Delete(s statebackend.StateID) {
	st := b.states[s]
	if st.kind == statebackend.KindMap {
		if um, ok := st.maps[b.kg][string(b.key)]; ok {
			for uk, e := range um.m {
				b.size -= int64(len(um.key) + len(uk) + len(e.v) + entryOverhead + 1)
			}
			delete(b.writableMaps(s), um.key)
			b.logMap(s, um.key, nil)
		}
		return
	}
	if e, ok := b.lookup(st); ok {
		b.size -= int64(len(e.key) + len(e.v) + entryOverhead)
		if m, overlay := b.writableValues(s); overlay {
			m[e.key] = tombstone
		} else {
			delete(m, e.key)
		}
		b.logValue(s, e, true)
	}
}

// userMap returns the current key's map of KindMap state s, nil if absent.
func (b *Backend) userMap(s statebackend.StateID) map[string]*entry {
	return b.states[s].maps[b.kg][string(b.key)].m
}

// writableUserMap returns the current key's map of KindMap state s, ready
// for writes: made if absent, cloned if a snapshot may read it, and logged
// at its first write in the epoch.
func (b *Backend) writableUserMap(s statebackend.StateID) map[string]*entry {
	um, ok := b.states[s].maps[b.kg][string(b.key)]
	if ok && um.epoch == b.epoch {
		return um.m
	}
	if !ok {
		um.key = string(b.key)
	}
	m := writable(b, &um.m, &um.epoch, b.shared(um.epoch))
	um.epoch = b.epoch
	b.writableMaps(s)[um.key] = um
	b.logMap(s, um.key, m)
	return m
}

func (b *Backend) MapGet(s statebackend.StateID, userKey []byte) ([]byte, bool) {
	e, ok := b.userMap(s)[string(userKey)]
	if !ok {
		return nil, false
	}
	return e.v, true
}

func (b *Backend) MapPut(s statebackend.StateID, userKey, value []byte) {
	um := b.writableUserMap(s)
	e, ok := um[string(userKey)]
	if ok {
		b.size += int64(len(value) - len(e.v))
	} else {
		b.size += int64(len(b.key) + len(userKey) + len(value) + entryOverhead + 1)
	}
	if ok && !b.shared(e.epoch) {
		e.v = append(e.v[:0], value...)
		return
	}
	e = newEntry(userKey, value, b.epoch)
	um[e.key] = e
}

func (b *Backend) MapDelete(s statebackend.StateID, userKey []byte) {
	um := b.userMap(s)
	e, ok := um[string(userKey)]
	if !ok {
		return
	}
	if len(um) == 1 {
		b.Delete(s)
		return
	}
	b.size -= int64(len(b.key) + len(userKey) + len(e.v) + entryOverhead + 1)
	delete(b.writableUserMap(s), string(userKey))
}

func (b *Backend) MapRange(s statebackend.StateID, fn func(userKey, value []byte) bool) {
	for k, e := range b.userMap(s) {
		if !fn([]byte(k), e.v) {
			return
		}
	}
}

// ErrClosed is returned by the encoding of a snapshot whose backend was
// closed meanwhile.
var ErrClosed = errors.New("heap: the backend was closed while a snapshot of it was encoded")

// Close drops the state, stops the encodes of snapshots in flight and
// removes the directory of an incremental backend's full snapshots.
func (b *Backend) Close() error {
	b.closed.Store(true)
	b.states = nil
	if b.log != nil && b.log.dir != "" {
		return os.RemoveAll(b.log.dir)
	}
	return nil
}

// SnapshotAsync captures the maps of every state and key group, which the
// task goroutine then leaves intact until the snapshot is encoded or
// discarded: a pause proportional to the number of states and key groups,
// not to the state size.
func (b *Backend) SnapshotAsync() statebackend.CapturedSnapshot {
	b.settleAll()
	s := &capture{groups: b.groups, states: make([]capturedState, len(b.states)), size: b.size, inflight: &b.inflight, pending: b.groupsPending, closed: &b.closed}
	for i, st := range b.states {
		s.states[i] = capturedState{
			desc:   statebackend.StateDesc{Name: st.name, Kind: st.kind},
			values: slices.Clone(st.values),
			frozen: slices.Clone(st.frozen),
			maps:   slices.Clone(st.maps),
		}
	}
	b.captured, b.groupsCaptured = b.epoch, b.epoch
	b.epoch++
	b.inflight.Add(1)
	for kg := range b.groupsPending {
		b.groupsPending[kg].Add(1)
	}
	return s
}

// settleAll settles every overlay into its key group's map if no
// snapshot reads the map, and freezes it otherwise, so that a capture has
// the state in the maps and the frozen overlays. The overlays are the
// writes made while a snapshot was in flight and not yet settled by an
// access since: none unless snapshots overlap or a key group was written
// under a snapshot and not accessed since.
func (b *Backend) settleAll() {
	for _, st := range b.states {
		for kg, o := range st.over {
			switch {
			case o == nil && st.frozen[kg] == nil:
			case !b.groupShared(kg, st.epochs[kg]):
				settle(st, kg)
			case o != nil:
				st.frozen[kg], st.over[kg] = o, nil
			}
		}
	}
}

// Snapshot encodes the backend's state: SnapshotAsync's capture, encoded at
// once.
func (b *Backend) Snapshot() ([]byte, error) {
	return b.SnapshotAsync().AppendEncoded(nil)
}

// capture is the state SnapshotAsync captured.
type capture struct {
	groups   keygroup.Range
	states   []capturedState // nil once encoded or discarded
	size     int64           // the backend's estimate of the encoding's bytes
	inflight *atomic.Int64   // the backend's count of snapshots in flight
	pending  []atomic.Int32  // the backend's count per key group of canonical snapshots that need it
	released int             // the key groups before it are encoded, and released
	closed   *atomic.Bool    // the backend's
}

type capturedState struct {
	desc   statebackend.StateDesc
	values []map[string]*entry
	frozen []map[string]*entry // overlays on values, which win
	maps   []map[string]userMap
}

func (s *capture) AppendEncoded(dst []byte) ([]byte, error) {
	if s.states == nil {
		return nil, errEncoded
	}
	// A buffer without room for the estimate is grown once, to the
	// estimate and an eighth more (an entry's key group takes a second
	// byte from 127 on, and the state grows), not by append: at a GB of
	// state, growing by a quarter at a time copies the encoding five
	// times over, and allocating that much more makes the garbage
	// collector mark the whole state more often. One with room is
	// reused, as the checkpointer reuses its last object's.
	if est := int(s.size) + snapshotSlack; cap(dst)-len(dst) < est {
		dst = append(make([]byte, 0, len(dst)+est+est/8), dst...)
	}
	return s.encode(dst, nil)
}

// WriteEncoded writes the captured state to w in the canonical snapshot
// format, as AppendEncoded would append it, and discards the snapshot. It
// encodes into buf (its length is ignored) and writes whenever that holds
// flushBytes, so it holds no more of the snapshot than that, where
// AppendEncoded holds all of it: a full snapshot of a GB of state streamed
// to a file. It returns buf, grown if an entry needed it, for reuse.
func (s *capture) WriteEncoded(w io.Writer, buf []byte) ([]byte, error) {
	if s.states == nil {
		return buf, errEncoded
	}
	if cap(buf) < flushBytes+snapshotSlack {
		buf = make([]byte, 0, flushBytes+snapshotSlack)
	}
	last, err := s.encode(buf[:0], w)
	if err != nil {
		return buf[:0], err
	}
	_, err = w.Write(last)
	return last[:0], err
}

var errEncoded = errors.New("heap: encoding a snapshot that was already encoded or discarded")

// flushBytes is how much of a snapshot WriteEncoded encodes between writes.
var flushBytes = 1 << 20

// encode appends the captured state to dst, writing and dropping what it
// encoded to w every flushBytes unless w is nil, and discards the
// snapshot. It returns what it did not write.
func (s *capture) encode(dst []byte, w io.Writer) ([]byte, error) {
	defer s.Discard()
	descs := make([]statebackend.StateDesc, len(s.states))
	for i, st := range s.states {
		descs[i] = st.desc
	}
	e := statebackend.AppendSnapshot(dst, descs)
	var batch [encodeBatchLen]*entry
	var touched uint64
	for kg := 0; kg < s.groups.Len(); kg++ {
		if s.closed.Load() {
			return nil, ErrClosed
		}
		t, err := s.encodeGroup(e, kg, &batch, w)
		if err != nil {
			return nil, err
		}
		touched += t
		s.release(kg)
	}
	encodeTouched.Add(touched)
	return e.Finish(), nil
}

// encodeGroup encodes key group kg (relative) of every state, with batch
// for encodeBatch, and returns the sum of encodeBatch's reads. Unless w is
// nil, it writes what it encoded to w whenever that is flushBytes.
func (s *capture) encodeGroup(e *statebackend.SnapshotEncoder, kg int, batch *[encodeBatchLen]*entry, w io.Writer) (touched uint64, err error) {
	flush := func() error {
		if w == nil || e.Len() < flushBytes {
			return nil
		}
		return e.Flush(w)
	}
	for i, st := range s.states {
		if st.desc.Kind == statebackend.KindMap {
			for k, um := range st.maps[kg] {
				for uk, v := range um.m {
					e.AddStrings(s.groups.Start+kg, i, k, uk, v.v)
				}
				if err := flush(); err != nil {
					return 0, err
				}
			}
			continue
		}
		frozen := st.frozen[kg]
		for k, v := range frozen {
			if v != tombstone {
				e.AddStrings(s.groups.Start+kg, i, k, "", v.v)
			}
		}
		n := 0
		for k, v := range st.values[kg] {
			if frozen != nil {
				if _, ok := frozen[k]; ok {
					continue
				}
			}
			if n == len(batch) {
				touched += encodeBatch(e, batch[:], s.groups.Start+kg, i)
				if err := flush(); err != nil {
					return 0, err
				}
				n = 0
			}
			batch[n] = v
			n++
		}
		touched += encodeBatch(e, batch[:n], s.groups.Start+kg, i)
		if err := flush(); err != nil {
			return 0, err
		}
	}
	return touched, nil
}

// release tells the backend that key group kg (relative), the next, is
// encoded: the task may write it in place again while the snapshot goes on
// with the others.
func (s *capture) release(kg int) {
	s.pending[kg].Add(-1)
	s.released = kg + 1
}

// encodeBatchLen is the number of entries encodeBatch reads at once.
const encodeBatchLen = 32

// encodeBatch encodes the entries of state i in key group kg (absolute).
//
// The entries are scattered over a heap far larger than the CPU's caches,
// in no order the map's, so reading one is a cache miss and often a TLB
// miss too. Encoded one at a time, each miss waits for the one before. So
// encodeBatch first reads from every entry of the batch a word and then the
// last byte of its value (which a short key and value share with the entry:
// newEntry), loads that do not depend on one another from entry to entry
// and that the CPU overlaps; then it encodes them from its caches.
func encodeBatch(e *statebackend.SnapshotEncoder, batch []*entry, kg, i int) (sum uint64) {
	for _, v := range batch {
		sum += v.epoch
	}
	for _, v := range batch {
		if len(v.v) > 0 {
			sum += uint64(v.v[len(v.v)-1])
		}
	}
	for _, v := range batch {
		e.AddStrings(kg, i, v.key, "", v.v)
	}
	return sum
}

// encodeTouched keeps encodeBatch's reads from being optimised away: each
// encoding adds their sum once.
var encodeTouched atomic.Uint64

// snapshotSlack is room beyond the size estimate for a snapshot's header.
const snapshotSlack = 4 << 10

// Discard lets the backend write in place what only this snapshot held.
func (s *capture) Discard() {
	if s.states == nil {
		return
	}
	s.states = nil
	s.inflight.Add(-1)
	for kg := s.released; kg < len(s.pending); kg++ {
		s.pending[kg].Add(-1)
	}
}

// Restore loads a canonical snapshot, keeping the backend's key groups.
func (b *Backend) Restore(snapshot []byte) error {
	// The restored state is no change since a snapshot of the backend's:
	// its next native snapshot is full.
	b.restoring()
	defer b.restored()
	return b.restore(snapshot)
}

// restore is Restore without the changelog's bookkeeping.
func (b *Backend) restore(snapshot []byte) error {
	var ids []statebackend.StateID
	return statebackend.DecodeSnapshot(snapshot, func(descs []statebackend.StateDesc) error {
		for _, d := range descs {
			id, err := b.Register(d.Name, d.Kind)
			if err != nil {
				return err
			}
			ids = append(ids, id)
		}
		return nil
	}, func(e statebackend.Entry) error {
		if !b.groups.Contains(e.KeyGroup) {
			return nil
		}
		b.SetCurrentKey(e.Key, e.KeyGroup)
		id := ids[e.State]
		if b.states[id].kind == statebackend.KindMap {
			b.MapPut(id, e.UserKey, e.Value)
		} else {
			b.Put(id, e.Value)
		}
		return nil
	})
}
