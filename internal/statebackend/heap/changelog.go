package heap

// Incremental checkpoints of the heap backend.
//
// A backend made by NewIncremental logs the keys it writes and takes
// native snapshots (statebackend.Incremental) as a chain of shared
// objects: a full snapshot in the canonical format, then one delta per
// checkpoint holding the keys written since the one before, each key as it
// was at the barrier or deleted (a backend that started empty, not
// restored, begins its first chain with a delta of every write since it
// was made). A checkpoint uploads only its delta and references the rest
// of its base's chain, so its cost follows the keys written in an
// interval, not the size of the state. Once the chain holds more than
// 1+deltaBudget times the state's size (the restore would read that much;
// the backend keeps an estimate of the size of its canonical encoding), or
// maxChain objects, or the base is not the backend's own previous snapshot
// (a checkpoint failed, or the job restored), the next checkpoint is full
// again. Flink's changelog state backend does the same with its periodic
// materialisation.
//
// The log holds, per state, the entry (or the user map) of each key at its
// first write in an epoch, and a tombstone for each delete, in order:
// applied in order they give the key's value at the barrier. A logged
// entry or map is read by the delta's encoder after the barrier, so the
// capture marks the epoch captured and the task goroutine copies it before
// writing, as for a canonical snapshot; nothing else is captured, so a
// delta costs no clone of a key group's map.

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/weirstream/weir/internal/keygroup"
	"github.com/weirstream/weir/internal/statebackend"
)

const (
	// deltaBudget bounds a chain's bytes, as a multiple of the state's
	// size beyond the state itself.
	deltaBudget = 2
	// maxChain bounds the objects of a chain, which a restore reads one
	// by one.
	maxChain = 128
	// entryOverhead estimates the bytes of an entry's canonical encoding
	// beyond its key, user key and value.
	entryOverhead = 4
)

// maxLogged bounds the changes logged between two native snapshots; past
// it the log is dropped and the next snapshot is full.
var maxLogged = 1 << 24

var (
	nativeMagic = []byte("WKH2")
	// nativeMagicV1 starts a manifest written before manifests counted
	// the keys: read, never written.
	nativeMagicV1 = []byte("WKH1")
	deltaMagic    = []byte("WKHD")
)

// valueChange is one logged write of a key of KindValue or KindList state:
// the entry written, or the entry deleted.
type valueChange struct {
	e       *entry
	kg      int32 // relative to the backend's first key group
	deleted bool
}

// mapChange is one logged write of a key of KindMap state: its user map,
// nil if the key was deleted.
type mapChange struct {
	key string
	m   map[string]*entry
	kg  int32
}

// stateLog is the log of one state: values or maps, by its kind.
type stateLog struct {
	values []valueChange
	maps   []mapChange
}

// changelog is an incremental backend's log and the chains of its
// persisted snapshots.
type changelog struct {
	// Owned by the task goroutine.
	changes  []stateLog // per state, since the last native snapshot
	logged   int
	overflow bool  // the log was dropped: the next snapshot is full
	whole    bool  // the log holds every write since the backend was empty
	last     int64 // the checkpoint of the last native snapshot, 0 if none

	// chains are the persisted ones, by checkpoint.
	chains statebackend.Lineage[Chain]

	dir string // where full snapshots are encoded; "" for in memory

	// Shared with the checkpointer goroutine.
	mu    sync.Mutex
	spare []byte            // the buffer of the last persisted object
	free  []stateLog        // encoded logs, cleared, for reuse
	files map[string]string // the last local copy's files, by object
}

// Chain is the objects of a native heap snapshot.
type Chain struct {
	// Scope is the storage the objects are in (statebackend.SharedStore).
	Scope string
	// Objects are the shared objects in the order they apply: a full
	// snapshot, then deltas; or only deltas, the first from an empty state.
	Objects []Object
	// Keys are the keys of each state at the snapshot's barrier, for
	// which a restore makes room before it applies the objects; none in a
	// manifest written before they were counted.
	Keys []StateKeys
}

// StateKeys counts the keys of one state in each key group: for a value or
// list state its entries, for a map state its user maps.
type StateKeys struct {
	Name  string
	Kind  statebackend.Kind
	Start int     // the first key group counted
	Keys  []int64 // by key group from Start
}

// Object is one shared object of a chain.
type Object struct {
	Name string
	Size int64
	CRC  uint32 // CRC-32C (Castagnoli)
}

// bytes returns the bytes of the chain's objects.
func (c Chain) bytes() (n int64) {
	for _, o := range c.Objects {
		n += o.Size
	}
	return n
}

// NewIncremental returns an empty backend for the key groups in r that
// also takes native snapshots: incremental checkpoints.
//
// dir, unless it is "", is an existing directory of the backend's own, on
// the file system of its local copies (Keep moves files from it), which
// Close removes. A full snapshot is then encoded into a file there, a
// MiB at a time, and uploaded and kept from the file, rather than encoded
// into memory: as large as the state, it would hold a buffer of that
// size, and a local copy would write it twice.
func NewIncremental(r keygroup.Range, dir string) *Backend {
	b := New(r)
	b.log = &changelog{whole: true, dir: dir}
	return b
}

func (b *Backend) logValue(s statebackend.StateID, e *entry, deleted bool) {
	if l := b.log; l != nil && !l.overflow {
		l.changes[s].values = append(l.changes[s].values, valueChange{e: e, kg: int32(b.kg), deleted: deleted})
		l.count()
	}
}

func (b *Backend) logMap(s statebackend.StateID, key string, m map[string]*entry) {
	if l := b.log; l != nil && !l.overflow {
		l.changes[s].maps = append(l.changes[s].maps, mapChange{key: key, m: m, kg: int32(b.kg)})
		l.count()
	}
}

func (l *changelog) count() {
	if l.logged++; l.logged > maxLogged {
		l.overflow = true
		clear(l.changes)
	}
}

// reset starts an empty log after a snapshot or a restore, in the slices
// of an encoded one if there is one.
func (l *changelog) reset() {
	l.mu.Lock()
	free := l.free
	l.free = nil
	l.mu.Unlock()
	if len(free) < len(l.changes) {
		free = append(free, make([]stateLog, len(l.changes)-len(free))...)
	}
	l.changes = free[:len(l.changes)]
	l.logged, l.overflow, l.whole = 0, false, false
}

// recycle keeps an encoded log's slices, cleared, for the next one.
func (l *changelog) recycle(changes []stateLog) {
	for i := range changes {
		clear(changes[i].values)
		clear(changes[i].maps)
		changes[i].values, changes[i].maps = changes[i].values[:0], changes[i].maps[:0]
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.free = changes
}

func (l *changelog) buffer() []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.spare
	l.spare = nil
	return b[:0]
}

func (l *changelog) keptFiles() map[string]string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.files
}

func (l *changelog) kept(files map[string]string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.files = files
}

func (l *changelog) giveBack(b []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.spare = b
}

var _ statebackend.Incremental = (*Backend)(nil)

// NativeSnapshot captures checkpoint id: a delta of base's chain if base is
// the backend's previous native snapshot and its chain has room, or of
// nothing if it is the backend's first and the backend started empty; else
// a full snapshot. Either way the pause is proportional to the number of
// states and key groups, not to the state.
func (b *Backend) NativeSnapshot(id, base int64) (statebackend.NativeSnapshot, error) {
	l := b.log
	if l == nil {
		return nil, errors.New("heap: native snapshots need a backend made by NewIncremental")
	}
	n := &nativeSnapshot{id: id, groups: b.groups, log: l, keys: b.keyCounts()}
	parent, _, ok := l.chains.Get(base)
	budget := (1 + deltaBudget) * max(b.size, 1)
	switch {
	case l.overflow:
		n.whole = fmt.Sprintf("more than %d writes since the previous checkpoint", maxLogged)
	case l.last == 0 && l.whole:
		// The log holds every write since the backend was empty:
		// the first chain starts with a delta of nothing.
		n.base, n.parent = base, &Chain{}
	case l.last == 0:
		n.whole = "the first checkpoint since the state was restored from a canonical snapshot (a savepoint, a full checkpoint, or another parallelism's state)"
	case base == 0:
		n.whole = fmt.Sprintf("no checkpoint has completed to build on: the previous one taken here, %d, did not", l.last)
	case base != l.last:
		n.whole = fmt.Sprintf("its base, checkpoint %d, is not the previous one taken here, %d, which failed or did not complete", base, l.last)
	case !ok:
		n.whole = fmt.Sprintf("checkpoint %d, its base, was not persisted here", base)
	case len(parent.Objects) >= maxChain:
		n.whole = fmt.Sprintf("the chain of checkpoint %d holds %d objects, the most a restore reads one by one", base, len(parent.Objects))
	case parent.bytes() >= budget:
		n.whole = fmt.Sprintf("the chain of checkpoint %d holds %d bytes, %d times the state's %d", base, parent.bytes(), 1+deltaBudget, b.size)
	default:
		n.base, n.parent = base, &parent
	}
	if n.parent != nil {
		n.states = make([]statebackend.StateDesc, len(b.states))
		for i, st := range b.states {
			n.states[i] = statebackend.StateDesc{Name: st.name, Kind: st.kind}
		}
		n.changes = l.changes
		n.inflight, n.deltas = &b.inflight, &b.deltasInflight
		n.closed = &b.closed
		if b.deltasInflight.Load() == 0 {
			b.deltaLow = b.logStart
		}
		b.captured, b.deltaCaptured = b.epoch, b.epoch
		b.epoch++
		b.inflight.Add(1)
		b.deltasInflight.Add(1)
	} else {
		n.full = b.SnapshotAsync().(*capture)
	}
	l.reset()
	b.logStart = b.epoch
	l.last = id
	return n, nil
}

// nativeSnapshot is a captured native snapshot: full, or a delta of parent.
type nativeSnapshot struct {
	id     int64
	groups keygroup.Range
	log    *changelog

	full  *capture // a full snapshot; nil for a delta
	whole string   // why it is full
	keys  []StateKeys

	encoded []byte // the persisted object, until kept or discarded
	file    string // or its file in the log's dir
	chain   Chain  // once persisted

	base     int64
	parent   *Chain
	states   []statebackend.StateDesc
	changes  []stateLog
	closed   *atomic.Bool
	inflight *atomic.Int64 // nil once encoded or discarded
	deltas   *atomic.Int64 // the backend's deltas in flight
}

// Persist encodes the snapshot and uploads it as a shared object.
func (n *nativeSnapshot) Persist(ctx context.Context, st statebackend.SharedStore, base int64) (statebackend.Persisted, error) {
	if n.parent != nil && len(n.parent.Objects) > 0 && (base != n.base || n.parent.Scope != st.Scope()) {
		n.Discard()
		return statebackend.Persisted{}, fmt.Errorf("heap: checkpoint %d is a delta of checkpoint %d in %s, not of %d in %s",
			n.id, n.base, n.parent.Scope, base, st.Scope())
	}
	if n.log.dir != "" {
		return n.persistFile(ctx, st)
	}
	buf := n.log.buffer()
	if n.full != nil {
		var err error
		if buf, err = n.full.AppendEncoded(buf); err != nil {
			return statebackend.Persisted{}, err
		}
	} else {
		if n.inflight == nil {
			return statebackend.Persisted{}, fmt.Errorf("heap: persisting a snapshot that was already persisted or discarded")
		}
		var err error
		buf, err = n.appendDelta(buf)
		changes := n.changes
		n.Discard()
		if err != nil {
			return statebackend.Persisted{}, err
		}
		n.log.recycle(changes)
	}
	// Kept for Keep, until it or Discard gives it back.
	n.encoded = buf
	name, err := st.PutShared(ctx, buf)
	if err != nil {
		return statebackend.Persisted{}, err
	}
	return n.persisted(st, Object{Name: name, Size: int64(len(buf)), CRC: crc32.Checksum(buf, castagnoli)}), nil
}

// persistFile encodes the snapshot into a new file in the log's
// directory, a flushBytes at a time, checksumming it as it is written, and
// uploads it from there: a file store on the same file system links it
// in, and Keep moves it into the local copy. A full snapshot is the size
// of the state; a delta holds every key written in an interval, tens of
// MB a second in a busy job, which an encoding into memory would allocate
// anew whenever the spare buffer is still held by the previous snapshot.
func (n *nativeSnapshot) persistFile(ctx context.Context, st statebackend.SharedStore) (statebackend.Persisted, error) {
	kind := "delta"
	switch {
	case n.full == nil && n.inflight == nil, n.full != nil && n.full.states == nil:
		return statebackend.Persisted{}, errEncoded
	case n.full != nil && n.full.closed.Load():
		// Its directory is gone too.
		n.full.Discard()
		return statebackend.Persisted{}, ErrClosed
	case n.full != nil:
		kind = "full"
	}
	f, err := os.CreateTemp(n.log.dir, fmt.Sprintf("%s-%d-*", kind, n.id))
	if err != nil {
		n.unpin()
		return statebackend.Persisted{}, fmt.Errorf("heap: encoding checkpoint %d: %w", n.id, err)
	}
	n.file = f.Name()
	w := &checksummed{w: f}
	buf := n.log.buffer()
	if n.full != nil {
		buf, err = n.full.WriteEncoded(w, buf)
	} else {
		if cap(buf) < flushBytes+snapshotSlack {
			buf = make([]byte, 0, flushBytes+snapshotSlack)
		}
		changes := n.changes
		buf, err = n.encodeDelta(buf, w)
		n.unpin()
		if err == nil {
			n.log.recycle(changes)
		}
	}
	n.log.giveBack(buf)
	if err = errors.Join(err, f.Close()); err != nil {
		return statebackend.Persisted{}, fmt.Errorf("heap: encoding checkpoint %d into %s: %w", n.id, n.file, err)
	}
	name, err := st.PutSharedFile(ctx, n.file)
	if err != nil {
		return statebackend.Persisted{}, err
	}
	return n.persisted(st, Object{Name: name, Size: w.n, CRC: w.crc}), nil
}

// checksummed is a writer that counts and checksums (CRC-32C) what it
// writes.
type checksummed struct {
	w   io.Writer
	n   int64
	crc uint32
}

func (c *checksummed) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	c.crc = crc32.Update(c.crc, castagnoli, p[:n])
	return n, err
}

// persisted records the chain of a snapshot whose own object, o, is
// uploaded: its parent's objects and o.
func (n *nativeSnapshot) persisted(st statebackend.SharedStore, o Object) statebackend.Persisted {
	size := o.Size
	c := Chain{Scope: st.Scope(), Keys: n.keys}
	if n.parent != nil {
		c.Objects = slices.Clone(n.parent.Objects)
	}
	c.Objects = append(c.Objects, o)
	n.log.chains.Put(n.id, c.Scope, c)
	n.chain = c
	p := statebackend.Persisted{Keyed: c.appendManifest(nil), Uploaded: size, Whole: n.whole}
	for _, o := range c.Objects {
		p.Shared = append(p.Shared, o.Name)
		p.Full += o.Size
	}
	return p
}

// Keep writes the local copy of a persisted snapshot into dst, a new
// directory: a file per object of its chain, named by LocalName. The
// object this snapshot uploaded is written; the chain's older objects are
// hard links to the files of the backend's last kept copy (an object
// missing there is left out: a restore downloads it).
func (n *nativeSnapshot) Keep(dst string) error {
	defer n.release()
	if len(n.chain.Objects) == 0 {
		return fmt.Errorf("heap: keeping checkpoint %d, which was not persisted", n.id)
	}
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	last := len(n.chain.Objects) - 1
	kept := make(map[string]string, len(n.chain.Objects))
	prev := n.log.keptFiles()
	for _, o := range n.chain.Objects[:last] {
		name := filepath.Join(dst, LocalName(o.Name))
		if src, ok := prev[o.Name]; ok && os.Link(src, name) == nil {
			kept[o.Name] = name
		}
	}
	o := n.chain.Objects[last]
	name := filepath.Join(dst, LocalName(o.Name))
	if n.file != "" {
		if err := os.Rename(n.file, name); err != nil {
			return err
		}
		n.file = ""
	} else if err := os.WriteFile(name, n.encoded, 0o644); err != nil {
		return err
	}
	kept[o.Name] = name
	n.log.kept(kept)
	return nil
}

// release gives the encoded object's buffer back for the next snapshot,
// or removes its file.
func (n *nativeSnapshot) release() error {
	if n.encoded != nil {
		n.log.giveBack(n.encoded)
		n.encoded = nil
	}
	if n.file == "" {
		return nil
	}
	err := os.Remove(n.file)
	n.file = ""
	if errors.Is(err, fs.ErrNotExist) {
		return nil // the backend's Close removed its directory
	}
	return err
}

// LocalName is the file name of a chain's object in a local copy.
func LocalName(object string) string { return path.Base(object) }

// Verify checks that b holds object i of the chain: its size and CRC-32C.
func (c Chain) Verify(i int, b []byte) error {
	o := c.Objects[i]
	if int64(len(b)) != o.Size {
		return fmt.Errorf("%w: object %s has %d bytes, not %d", ErrCorrupt, o.Name, len(b), o.Size)
	}
	if crc := crc32.Checksum(b, castagnoli); crc != o.CRC {
		return fmt.Errorf("%w: object %s has CRC-32C %08x, not %08x", ErrCorrupt, o.Name, crc, o.CRC)
	}
	return nil
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Discard lets the backend write in place what only this snapshot held,
// and removes its file.
func (n *nativeSnapshot) Discard() error {
	err := n.release()
	n.unpin()
	return err
}

// unpin lets the backend write in place what only this snapshot held.
func (n *nativeSnapshot) unpin() {
	if n.full != nil {
		n.full.Discard()
		return
	}
	if n.inflight != nil {
		n.inflight.Add(-1)
		n.deltas.Add(-1)
		n.inflight, n.changes = nil, nil
	}
}

// appendDelta encodes the logged changes:
//
//	delta  = "WKHD" | uvarint nStates | state* | record* | 0
//	state  = uvarint kind | bytes name
//	record = uvarint keyGroup+1 | uvarint stateIndex | bytes key | change
//	change = uvarint 0 (deleted) | uvarint 1 | bytes value       (value, list)
//	       | uvarint n (0: deleted) | (bytes userKey | bytes value)*n (map)
//
// It stops with ErrClosed once the backend is closed.
func (n *nativeSnapshot) appendDelta(dst []byte) ([]byte, error) {
	return n.encodeDelta(dst, nil)
}

// encodeDelta is appendDelta, writing what it encoded to w whenever that
// is flushBytes, and the rest at the end, unless w is nil. It returns the
// buffer.
func (n *nativeSnapshot) encodeDelta(dst []byte, w io.Writer) ([]byte, error) {
	var err error
	dst = statebackend.AppendStates(append(dst, deltaMagic...), n.states)
	for i, log := range n.changes[:len(n.states)] {
		for j, c := range log.values {
			if j%4096 == 0 && n.closed.Load() {
				return dst, ErrClosed
			}
			if w != nil && len(dst) >= flushBytes {
				if dst, err = flush(w, dst); err != nil {
					return dst, err
				}
			}
			dst = binary.AppendUvarint(dst, uint64(n.groups.Start+int(c.kg))+1)
			dst = binary.AppendUvarint(dst, uint64(i))
			dst = statebackend.AppendBytes(dst, c.e.key)
			if c.deleted {
				dst = append(dst, 0)
				continue
			}
			dst = append(dst, 1)
			dst = statebackend.AppendBytes(dst, c.e.v)
		}
		for j, c := range log.maps {
			if j%4096 == 0 && n.closed.Load() {
				return dst, ErrClosed
			}
			if w != nil && len(dst) >= flushBytes {
				if dst, err = flush(w, dst); err != nil {
					return dst, err
				}
			}
			dst = binary.AppendUvarint(dst, uint64(n.groups.Start+int(c.kg))+1)
			dst = binary.AppendUvarint(dst, uint64(i))
			dst = statebackend.AppendBytes(dst, c.key)
			dst = binary.AppendUvarint(dst, uint64(len(c.m)))
			for uk, e := range c.m {
				dst = statebackend.AppendBytes(dst, uk)
				dst = statebackend.AppendBytes(dst, e.v)
			}
		}
	}
	dst = append(dst, 0)
	if w != nil {
		return flush(w, dst)
	}
	return dst, nil
}

// flush writes buf to w and returns it emptied.
func flush(w io.Writer, buf []byte) ([]byte, error) {
	_, err := w.Write(buf)
	return buf[:0], err
}

// keyCounts counts the keys of each state in each key group: the entries
// of its maps and their overlays (a key in an overlay and in the map
// beneath is counted twice, so the count is a bound).
func (b *Backend) keyCounts() []StateKeys {
	out := make([]StateKeys, len(b.states))
	for i, st := range b.states {
		k := StateKeys{Name: st.name, Kind: st.kind, Start: b.groups.Start, Keys: make([]int64, b.groups.Len())}
		for kg := range k.Keys {
			if st.kind == statebackend.KindMap {
				k.Keys[kg] = int64(len(st.maps[kg]))
			} else {
				k.Keys[kg] = int64(len(st.values[kg]) + len(st.over[kg]) + len(st.frozen[kg]))
			}
		}
		out[i] = k
	}
	return out
}

// presize makes room for keys in the maps of the backend's key groups
// that have none yet: a restore into an empty backend then inserts without
// growing its maps, which rehashes every key at each step of a map's
// growth (nearly half of a restore's time without it).
func (b *Backend) presize(keys []StateKeys) error {
	for _, k := range keys {
		id, err := b.Register(k.Name, k.Kind)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrCorrupt, err)
		}
		st := b.states[id]
		for i, n := range k.Keys {
			kg := k.Start + i
			if n == 0 || !b.groups.Contains(kg) {
				continue
			}
			kg -= b.groups.Start
			switch {
			case st.kind == statebackend.KindMap && st.maps[kg] == nil:
				st.maps[kg] = make(map[string]userMap, n)
			case st.kind != statebackend.KindMap && st.values[kg] == nil:
				st.values[kg] = make(map[string]*entry, n)
			default:
				continue
			}
			st.epochs[kg] = b.epoch
		}
	}
	return nil
}

// appendManifest encodes the chain as a native snapshot's keyed bytes:
//
//	manifest = "WKH2" | bytes scope | uvarint nObjects | (bytes name | uvarint size | crc32c)*
//	           | uvarint nStates | keys*
//	crc32c   = 4 bytes, big endian, of the object
//	keys     = uvarint kind | bytes name | uvarint firstKeyGroup | uvarint nKeyGroups | uvarint count*nKeyGroups
func (c Chain) appendManifest(dst []byte) []byte {
	dst = append(dst, nativeMagic...)
	dst = statebackend.AppendBytes(dst, c.Scope)
	dst = binary.AppendUvarint(dst, uint64(len(c.Objects)))
	for _, o := range c.Objects {
		dst = statebackend.AppendBytes(dst, o.Name)
		dst = binary.AppendUvarint(dst, uint64(o.Size))
		dst = binary.BigEndian.AppendUint32(dst, o.CRC)
	}
	dst = binary.AppendUvarint(dst, uint64(len(c.Keys)))
	for _, k := range c.Keys {
		dst = binary.AppendUvarint(dst, uint64(k.Kind))
		dst = statebackend.AppendBytes(dst, k.Name)
		dst = binary.AppendUvarint(dst, uint64(k.Start))
		dst = binary.AppendUvarint(dst, uint64(len(k.Keys)))
		for _, n := range k.Keys {
			dst = binary.AppendUvarint(dst, uint64(n))
		}
	}
	return dst
}

// IsNative reports whether keyed bytes are a native heap snapshot's
// manifest rather than a canonical snapshot.
func IsNative(keyed []byte) bool {
	return bytes.HasPrefix(keyed, nativeMagic) || bytes.HasPrefix(keyed, nativeMagicV1)
}

// ErrCorrupt is returned for a native snapshot or a delta that does not
// parse.
// It is a statebackend.ErrCorruptSnapshot.
var ErrCorrupt = fmt.Errorf("heap: corrupt native snapshot: %w", statebackend.ErrCorruptSnapshot)

// DecodeNative parses a native heap snapshot's manifest.
func DecodeNative(keyed []byte) (Chain, error) {
	if !IsNative(keyed) {
		return Chain{}, fmt.Errorf("%w: bad magic", ErrCorrupt)
	}
	v1 := bytes.HasPrefix(keyed, nativeMagicV1)
	d := statebackend.Decoder{B: keyed[len(nativeMagic):], Corrupt: ErrCorrupt}
	c := Chain{Scope: string(d.Bytes())}
	n := d.Uvarint()
	if d.Err == nil && (n == 0 || n > uint64(len(d.B))) {
		return Chain{}, fmt.Errorf("%w: %d objects", ErrCorrupt, n)
	}
	for range n {
		o := Object{Name: string(d.Bytes()), Size: int64(d.Uvarint())}
		if d.Err == nil && len(d.B) < 4 {
			d.Fail()
		}
		if d.Err != nil {
			break
		}
		o.CRC = binary.BigEndian.Uint32(d.B)
		d.B = d.B[4:]
		c.Objects = append(c.Objects, o)
	}
	if !v1 && d.Err == nil {
		c.Keys = decodeKeys(&d, c.bytes())
	}
	if d.Err == nil && len(d.B) != 0 {
		d.Err = fmt.Errorf("%w: trailing bytes", ErrCorrupt)
	}
	if d.Err != nil {
		return Chain{}, d.Err
	}
	return c, nil
}

// decodeKeys reads a manifest's key counts, which cannot exceed the
// chain's bytes: every key takes bytes of an object.
func decodeKeys(d *statebackend.Decoder, chainBytes int64) []StateKeys {
	n := d.Uvarint()
	if d.Err == nil && n > uint64(len(d.B)) {
		d.Fail()
	}
	var keys []StateKeys
	total := int64(0)
	for i := uint64(0); i < n && d.Err == nil; i++ {
		k := StateKeys{Kind: statebackend.Kind(d.Uvarint()), Name: string(d.Bytes())}
		start, groups := d.Uvarint(), d.Uvarint()
		if d.Err == nil && (k.Kind != statebackend.KindValue && k.Kind != statebackend.KindList && k.Kind != statebackend.KindMap ||
			start > keygroup.UpperBound || groups > uint64(len(d.B)) || start+groups > keygroup.UpperBound) {
			d.Fail()
		}
		k.Start = int(start)
		for j := uint64(0); j < groups && d.Err == nil; j++ {
			c := d.Uvarint()
			if total += int64(c); c > uint64(chainBytes) || total > chainBytes {
				d.Err = fmt.Errorf("%w: %d keys in a chain of %d bytes", ErrCorrupt, total, chainBytes)
			}
			k.Keys = append(k.Keys, int64(c))
		}
		keys = append(keys, k)
	}
	return keys
}

// ObjectReader returns object i of a chain, and the file of a local copy
// it was read from ("" if none). A restore asks for the objects in order,
// each once, and is done with an object when it asks for the next.
type ObjectReader func(i int) (object []byte, file string, err error)

// Objects is an ObjectReader of objects held in memory.
func Objects(objects [][]byte) ObjectReader {
	return func(i int) ([]byte, string, error) {
		if i >= len(objects) {
			return nil, "", fmt.Errorf("heap: object %d of a chain of %d", i+1, len(objects))
		}
		return objects[i], "", nil
	}
}

// RestoreNative loads a native snapshot: the objects of chain, read in
// order, each verified and applied before the next is read, so that a
// restore holds the state and one object rather than the whole chain (up
// to 1+deltaBudget times the state). The backend's next native snapshot
// with base id may be a delta of it, and its local copy may link to the
// files the objects were read from. On an error the backend holds part
// of the chain and is of no further use.
func (b *Backend) RestoreNative(id int64, chain Chain, read ObjectReader) error {
	files := map[string]string{}
	b.restoring()
	err := b.presize(chain.Keys)
	if err == nil {
		err = b.restoreChain(chain, func(i int) ([]byte, error) {
			o, file, err := read(i)
			if err != nil {
				return nil, err
			}
			if file != "" {
				files[chain.Objects[i].Name] = file
			}
			return o, nil
		})
	}
	b.restored()
	if err != nil {
		return err
	}
	if l := b.log; l != nil {
		l.last = id
		l.chains.Put(id, chain.Scope, chain)
		l.kept(files)
	}
	return nil
}

// restoring stops logging for a restore, whose writes no delta holds.
func (b *Backend) restoring() {
	if b.log != nil {
		b.log.overflow = true
	}
}

// restored ends a restore: the log starts empty and a new epoch with it,
// so that the first write of every restored key is logged.
func (b *Backend) restored() {
	b.epoch++
	if l := b.log; l != nil {
		l.reset()
		l.last = 0
	}
	b.logStart = b.epoch
}

// restoreChain applies the objects of c, read and verified in order.
func (b *Backend) restoreChain(c Chain, read func(i int) ([]byte, error)) error {
	if len(c.Objects) == 0 {
		return fmt.Errorf("%w: a chain of no objects", ErrCorrupt)
	}
	for i := range c.Objects {
		o, err := read(i)
		if err == nil {
			err = c.Verify(i, o)
		}
		if err == nil && i == 0 && !isDelta(o) {
			err = b.restore(o)
		} else if err == nil {
			err = b.applyDelta(o)
		}
		if err != nil {
			return fmt.Errorf("object %d of %d: %w", i+1, len(c.Objects), err)
		}
	}
	return nil
}

func isDelta(o []byte) bool {
	return len(o) >= len(deltaMagic) && string(o[:len(deltaMagic)]) == string(deltaMagic)
}

// Canonical converts a native heap snapshot, the objects of chain read in
// order, to a canonical snapshot of the key groups in r: for a restore at
// another parallelism or on another backend.
func Canonical(r keygroup.Range, chain Chain, read ObjectReader) ([]byte, error) {
	b := New(r)
	if err := b.presize(chain.Keys); err != nil {
		return nil, err
	}
	err := b.restoreChain(chain, func(i int) ([]byte, error) {
		o, _, err := read(i)
		return o, err
	})
	if err != nil {
		return nil, err
	}
	return b.Snapshot()
}

// applyDelta applies a delta to the backend, keeping its key groups.
func (b *Backend) applyDelta(delta []byte) error {
	if !isDelta(delta) {
		return fmt.Errorf("%w: bad delta magic", ErrCorrupt)
	}
	d := statebackend.Decoder{B: delta[len(deltaMagic):], Corrupt: ErrCorrupt}
	descs := d.States()
	if d.Err != nil {
		return d.Err
	}
	var ids []statebackend.StateID
	var kinds []statebackend.Kind
	for _, desc := range descs {
		id, err := b.Register(desc.Name, desc.Kind)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrCorrupt, err)
		}
		ids, kinds = append(ids, id), append(kinds, desc.Kind)
	}
	for {
		kg, si, key, ok := d.Record(len(ids))
		if !ok {
			return d.Err
		}
		keep := b.groups.Contains(kg)
		if keep {
			b.SetCurrentKey(key, kg)
		}
		id := ids[si]
		if kinds[si] != statebackend.KindMap {
			present := d.Uvarint()
			var v []byte
			if present == 1 {
				v = d.Bytes()
			} else if present != 0 {
				d.Fail()
			}
			if d.Err != nil || !keep {
				continue
			}
			if present == 1 {
				b.Put(id, v)
			} else {
				b.Delete(id)
			}
			continue
		}
		entries := d.Uvarint()
		if d.Err == nil && entries > uint64(len(d.B)) {
			d.Fail()
		}
		if keep && d.Err == nil {
			b.Delete(id)
		}
		for range entries {
			uk, v := d.Bytes(), d.Bytes()
			if d.Err != nil {
				break
			}
			if keep {
				b.MapPut(id, uk, v)
			}
		}
	}
}
