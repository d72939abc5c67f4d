package pebble

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	pebbledb "github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/weirstream/weir/internal/invariant"
	"github.com/weirstream/weir/internal/keygroup"
	"github.com/weirstream/weir/internal/statebackend"
)

// DefaultMemoryBytes is the memory budget of a backend whose Options leave
// MemoryBytes zero.
const DefaultMemoryBytes = 64 << 20

// MinMemoryBytes is the smallest memory budget a backend takes.
const MinMemoryBytes = 256 << 10

// Options configure a backend. The zero value is usable.
type Options struct {
	// MemoryBytes bounds the memory Pebble holds for this backend: half
	// goes to memtables (at most three memtables' worth, of MemoryBytes/6
	// each: usually one taking writes and one being flushed), the rest to
	// the block cache. Zero means DefaultMemoryBytes; less than
	// MinMemoryBytes means MinMemoryBytes. The write buffer (at most 256
	// KiB of keys and values, and its index), iterators, Snapshot's output
	// and Go's own overhead come on top.
	MemoryBytes int64
	// FS is the file system the database lives on; nil means vfs.Default,
	// the operating system's. Tests pass vfs.NewMem() or an errorfs.
	FS vfs.FS
	// Logger receives Pebble's messages: informational ones at Debug,
	// errors at Error. Nil means slog.Default().
	Logger *slog.Logger
	// WAL keeps Pebble's write-ahead log, never synced, so that
	// NativeSnapshot copies the memtables' writes from it instead of
	// flushing them at the barrier. Incremental checkpoints set it; it
	// costs every write a copy into the log.
	WAL bool
}

// ErrFailed wraps the sticky error of a backend (see Backend.Err).
var ErrFailed = errors.New("pebble state backend failed")

// Backend is a statebackend.KeyedBackend over a Pebble database of its own.
//
// Like every KeyedBackend it belongs to one task goroutine. Pebble's
// background goroutines (flushes, compactions) touch only the sticky error;
// a goroutine encoding a capture (SnapshotAsync) touches the sticky error,
// the captures and its own Pebble snapshot.
type Backend struct {
	db     *pebbledb.DB
	fs     vfs.FS
	dir    string
	groups keygroup.Range

	states []statebackend.StateDesc // indexed by StateID
	byName map[string]statebackend.StateID

	// cur is the key prefix of the current key (appendKeyPrefix), with the
	// state ID overwritten by each call; nil until SetCurrentKey.
	cur []byte
	// scratch holds a map entry's key or an Append's merge operand.
	scratch []byte
	// out is the arena returned values are copied into. A mutating call
	// truncates it; a read that does not fit starts a new one, leaving the
	// slices already handed out intact, as the KeyedBackend contract wants.
	out []byte

	// sinceCheck counts the bytes written since admit last looked at
	// Pebble's progress; checkEvery is how many may pass between looks.
	sinceCheck, checkEvery int
	// memTableSize is Pebble's MemTableSize.
	memTableSize uint64
	// progress receives a token whenever a flush or compaction ends.
	progress chan struct{}
	// stall is the time writes were held back, by admit or by Pebble's
	// own stall (both on the task goroutine, one after the other): total
	// of the stalls ended, and when the one on now began (zero when none
	// is). Stats reads it from another goroutine.
	stall struct {
		sync.Mutex
		total time.Duration
		began time.Time
	}

	failure failure

	// lineage holds the shared objects of the backend's native snapshots.
	lineage statebackend.Lineage[sharedFiles]
	// wal is Options.WAL.
	wal bool
	// sums are the sizes and CRC-32Cs of the SSTs Pebble wrote, for
	// NativeSnapshot's uploads; nil without Options.WAL.
	sums *sstSums

	// captures hold the Pebble snapshots of SnapshotAsync's captures in
	// flight.
	captures captures

	// buf holds the point writes Pebble has not seen yet; batch is the
	// batch commit writes them with, reused.
	buf   writeBuffer
	batch *pebbledb.Batch
}

var _ statebackend.AsyncSnapshotter = (*Backend)(nil)

// writeOpts are the options of every write: no fsync. See doc.go.
var writeOpts = pebbledb.NoSync

// arenaSize is the least capacity of a fresh arena for returned values.
const arenaSize = 32 << 10

// Open creates the backend of one subtask, for the key groups in r, in a new
// Pebble database in dir. dir is working space on local disk, never
// checkpoint storage; it must not exist or be empty, and Close removes it.
func Open(dir string, r keygroup.Range, opts Options) (*Backend, error) {
	return openDB(dir, r, opts, false)
}

// openDB opens a new database in dir, or with existing the database a
// native restore wrote there.
func openDB(dir string, r keygroup.Range, opts Options, existing bool) (*Backend, error) {
	if r.Start < 0 || r.End > maxKeyGroup || r.Start > r.End {
		return nil, fmt.Errorf("pebble: key-group range %s outside [0,%d)", r, maxKeyGroup)
	}
	fs := opts.FS
	if fs == nil {
		fs = vfs.Default
	}
	fs = noSyncFS{fs}
	if names, err := fs.List(dir); !existing && err == nil && len(names) > 0 {
		return nil, fmt.Errorf("pebble: working directory %s is not empty: it may hold another attempt's state", dir)
	}
	mem := opts.MemoryBytes
	if mem <= 0 {
		mem = DefaultMemoryBytes
	}
	mem = max(mem, MinMemoryBytes)
	logger := opts.Logger
	if logger == nil {
		logger = slog.Default()
	}
	logger = logger.With("dir", dir)

	memtable := mem / 6
	b := &Backend{
		fs:           fs,
		dir:          dir,
		groups:       r,
		byName:       map[string]statebackend.StateID{},
		out:          make([]byte, 0, arenaSize),
		checkEvery:   int(memtable / 4),
		memTableSize: uint64(memtable),
		progress:     make(chan struct{}, 1),
		wal:          opts.WAL,
		buf:          newWriteBuffer(int(min(memtable/4, maxWriteBufferBytes))),
	}
	b.failure.done = make(chan struct{})
	// Native snapshots, which the log is for, upload the SSTs new since
	// their base with their CRC-32Cs: Pebble sums them as it writes them.
	pebbleFS := fs
	if opts.WAL {
		b.sums = newSSTSums()
		pebbleFS = summingFS{FS: fs, sums: b.sums}
	}
	cache := pebbledb.NewCache(mem - 3*memtable)
	defer cache.Unref()
	progressed := func() {
		select {
		case b.progress <- struct{}{}:
		default:
		}
	}
	po := &pebbledb.Options{
		FS:           pebbleFS,
		Cache:        cache,
		MemTableSize: uint64(memtable),
		// Pebble's own stall, a backstop: admit holds writes back
		// before it.
		MemTableStopWritesThreshold: 3,
		L0StopWritesThreshold:       l0StopWrites,
		MaxManifestFileSize:         maxManifestBytes,
		DisableWAL:                  !opts.WAL,
		ErrorIfExists:               !existing,
		ErrorIfNotExists:            existing,
		FormatMajorVersion:          pebbledb.FormatNewest,
		Merger:                      listMerger,
		Logger:                      pebbleLogger{l: logger, fail: b.failure.set},
		EventListener: &pebbledb.EventListener{
			BackgroundError: func(err error) {
				logger.Error("pebble background error", "err", err.Error())
				b.failure.set(fmt.Errorf("%w: background: %w", ErrFailed, err))
			},
			DataCorruption: func(info pebbledb.DataCorruptionInfo) {
				logger.Error("pebble data corruption", "path", info.Path, "err", info.Details.Error())
				b.failure.set(fmt.Errorf("%w: corruption in %s: %w", ErrFailed, info.Path, info.Details))
			},
			FlushEnd:        func(pebbledb.FlushInfo) { progressed() },
			CompactionEnd:   func(pebbledb.CompactionInfo) { progressed() },
			WriteStallBegin: func(pebbledb.WriteStallBeginInfo) { b.stallBegin() },
			WriteStallEnd:   b.stallEnd,
		},
	}
	for i := range po.Levels {
		po.Levels[i].FilterPolicy = bloom.FilterPolicy(10)
	}
	db, err := pebbledb.Open(dir, po)
	if err != nil {
		// The directory was empty or absent: what is there now is the
		// failed database's.
		if rmErr := fs.RemoveAll(dir); rmErr != nil {
			err = errors.Join(err, rmErr)
		}
		if existing {
			err = fmt.Errorf("%w: %w", ErrDamaged, err)
		}
		return nil, fmt.Errorf("pebble: opening %s: %w", dir, err)
	}
	b.db = db
	return b, nil
}

// Err returns the backend's sticky error: the first failure of a Pebble
// read, write or background job (flush, compaction), or nil. Once it is
// set the backend has stopped: writes are dropped, reads report absence,
// Snapshot and Restore return it. The task must fail when Err is not nil —
// check it after every record — and recover from its last checkpoint.
func (b *Backend) Err() error { return b.failure.get() }

// failed reports whether the backend has stopped.
func (b *Backend) failed() bool { return b.failure.err.Load() != nil }

func (b *Backend) fail(op string, err error) {
	b.failure.set(fmt.Errorf("%w: %s: %w", ErrFailed, op, err))
}

func (b *Backend) Register(name string, kind statebackend.Kind) (statebackend.StateID, error) {
	if err := b.Err(); err != nil {
		return 0, err
	}
	if id, ok := b.byName[name]; ok {
		if b.states[id].Kind != kind {
			return 0, fmt.Errorf("%w: %q is %s, not %s", statebackend.ErrKindMismatch, name, b.states[id].Kind, kind)
		}
		return id, nil
	}
	if len(b.states) == maxStates {
		return 0, fmt.Errorf("pebble: more than %d states", maxStates)
	}
	id := statebackend.StateID(len(b.states))
	b.states = append(b.states, statebackend.StateDesc{Name: name, Kind: kind})
	b.byName[name] = id
	return id, nil
}

func (b *Backend) SetCurrentKey(key []byte, kg int) {
	if !b.groups.Contains(kg) {
		// The key was routed to the wrong subtask. Under -tags invariants
		// Failf panics; otherwise the backend stops rather than write under
		// a key group it does not own.
		b.failure.set(fmt.Errorf("%w: %w", ErrFailed, invariant.Failf("pebble: key group %d outside the backend's range %s", kg, b.groups)))
		return
	}
	b.cur = appendKeyPrefix(b.cur[:0], kg, 0, key)
}

// key returns the Pebble key of state s of the current key; it aliases cur.
func (b *Backend) key(s statebackend.StateID) []byte {
	setState(b.cur, s)
	return b.cur
}

// mapKey returns the Pebble key of userKey in map state s of the current
// key; it aliases scratch.
func (b *Backend) mapKey(s statebackend.StateID, userKey []byte) []byte {
	b.scratch = append(append(b.scratch[:0], b.key(s)...), userKey...)
	return b.scratch
}

// ready reports whether a call may proceed: the backend has not failed and
// a current key is set.
func (b *Backend) ready() bool {
	if b.failed() {
		return false
	}
	if b.cur == nil {
		b.failure.set(fmt.Errorf("%w: %w", ErrFailed, invariant.Failf("pebble: state accessed before SetCurrentKey")))
		return false
	}
	return true
}

// keep copies the concatenation of v into the arena and returns the copy.
func (b *Backend) keep(v ...[]byte) []byte {
	size := 0
	for _, p := range v {
		size += len(p)
	}
	if cap(b.out)-len(b.out) < size {
		b.out = make([]byte, 0, max(arenaSize, size))
	}
	n := len(b.out)
	for _, p := range v {
		b.out = append(b.out, p...)
	}
	return b.out[n:len(b.out):len(b.out)]
}

// mutated ends the validity of the values returned so far.
func (b *Backend) mutated() { b.out = b.out[:0] }

// l0StopWrites is the L0 read amplification at which Pebble stalls writes
// until compactions catch up (Pebble's default); admit holds writes back
// there too.
const l0StopWrites = 12

// maxManifestBytes is Pebble's MaxManifestFileSize. A native snapshot
// copies the MANIFEST whole at the barrier and inlines it in the
// checkpoint, and with Pebble's default, 128 MB, it grows by an edit for
// every flush and compaction for the database's life: 0.5 MB after the
// first 7.5 minutes of BenchmarkCheckpointing at 1 GB. Past this size
// Pebble starts a new MANIFEST with the live files once its edits have
// named more files than the database holds, which keeps it within a few
// times the size of the list of live files.
var maxManifestBytes int64 = 128 << 10

// entryOverhead approximates what a memtable entry costs besides its key
// and value.
const entryOverhead = 32

// admit lets a write of n bytes (keys, values and entryOverhead per
// entry) proceed, or reports that the backend has failed. It keeps the
// task out of Pebble's write stall, which waits for flushes and would
// never end if they keep failing (a full disk, a failed MANIFEST write):
// every quarter memtable of writes it looks at the memtables and L0, and
// while Pebble is behind it waits for a flush or compaction to end — or
// for the failure, which a failing flush reports before it is retried.
//
// Pebble stalls a write that fills the memtable when the memtables hold
// three memtables' worth (MemTableStopWritesThreshold); admit waits from
// two. The gap covers the writes between two looks (a quarter memtable,
// plus one write or one commit of the write buffer, at most another
// quarter: a larger batch is queued on its own), and at two a flush is
// sure to be running — Pebble flushes once the immutable memtables hold
// half a memtable — so the wait ends.
func (b *Backend) admit(n int) bool {
	b.sinceCheck += n
	if b.sinceCheck < b.checkEvery {
		return true
	}
	b.sinceCheck = 0
	for waited := false; ; waited = true {
		if b.failed() {
			return false
		}
		m := b.db.Metrics()
		if m.MemTable.Size < 2*b.memTableSize && m.Levels[0].Sublevels < l0StopWrites {
			return true
		}
		if !waited { // the wait is counted as a write stall
			b.stallBegin()
			defer b.stallEnd()
		}
		select {
		case <-b.progress:
		case <-b.failure.done:
			return false
		}
	}
}

// get returns the value of Pebble key k: the buffer's write of k over
// Pebble's.
func (b *Backend) get(k []byte) ([]byte, bool) {
	var elems []byte // with merge, list elements to append to Pebble's list
	merge := false
	if e := b.buf.lookup(k); e != nil {
		switch e.op {
		case opSet:
			return b.keep(e.value), true
		case opDelete:
			return nil, false
		}
		elems, merge = e.value, true
	}
	v, closer, err := b.db.Get(k)
	if errors.Is(err, pebbledb.ErrNotFound) {
		if merge {
			return b.keep(elems), true
		}
		return nil, false
	}
	if err != nil {
		b.fail("get", err)
		return nil, false
	}
	v = b.keep(v, elems)
	if err := closer.Close(); err != nil {
		b.fail("get", err)
		return nil, false
	}
	return v, true
}

// write buffers a write of Pebble key k: op with value v, or for opMerge
// list elements v to append. A full buffer is committed first; a write
// larger than the whole buffer goes to Pebble on its own.
func (b *Backend) write(op bufOp, k, v []byte) {
	e := b.buf.lookup(k)
	need := len(k) + len(v)
	if e != nil {
		need = len(e.value) + len(v)
	}
	if !b.buf.fits(need) {
		b.commit()
		if b.failed() {
			return
		}
		e, need = nil, len(k)+len(v)
		if !b.buf.fits(need) {
			b.writeThrough(op, k, v)
			return
		}
	}
	switch {
	case e == nil:
		b.buf.add(op, k, v)
	case op != opMerge:
		b.buf.set(e, op, v)
	case e.op == opDelete:
		b.buf.set(e, opSet, v) // appended to an empty list
	default:
		b.buf.extend(e, e.op, v) // appended to a list or to elements
	}
}

// writeThrough writes k to Pebble at once; the buffer holds no write of k.
func (b *Backend) writeThrough(op bufOp, k, v []byte) {
	if !b.admit(len(k) + len(v) + entryOverhead) {
		return
	}
	if err := apply(b.db, op, k, v, writeOpts); err != nil {
		b.fail("write", err)
	}
}

// apply writes op of key k with value v to w: the database, or a batch.
func apply(w pebbledb.Writer, op bufOp, k, v []byte, o *pebbledb.WriteOptions) error {
	switch op {
	case opSet:
		return w.Set(k, v, o)
	case opDelete:
		return w.Delete(k, o)
	default:
		return w.Merge(k, v, o)
	}
}

// commit writes the buffer to Pebble in one batch and empties it.
func (b *Backend) commit() {
	if b.buf.empty() {
		return
	}
	if b.failed() {
		b.buf.reset()
		return
	}
	n := len(b.buf.entries)
	if b.batch == nil {
		b.batch = b.db.NewBatch()
	}
	defer b.batch.Reset()
	var err error
	for _, e := range b.buf.entries {
		if err = apply(b.batch, e.op, e.key, e.value, nil); err != nil {
			break
		}
	}
	b.buf.reset()
	if err == nil && b.admit(len(b.batch.Repr())+n*entryOverhead) {
		err = b.batch.Commit(writeOpts)
	}
	if err != nil {
		b.fail("commit", err)
	}
}

func (b *Backend) Get(s statebackend.StateID) ([]byte, bool) {
	if !b.ready() {
		return nil, false
	}
	return b.get(b.key(s))
}

func (b *Backend) Put(s statebackend.StateID, value []byte) {
	if !b.ready() {
		return
	}
	b.mutated()
	b.write(opSet, b.key(s), value)
}

func (b *Backend) Append(s statebackend.StateID, elem []byte) {
	if !b.ready() {
		return
	}
	b.mutated()
	b.scratch = statebackend.AppendListElement(b.scratch[:0], elem)
	b.write(opMerge, b.key(s), b.scratch)
}

func (b *Backend) Delete(s statebackend.StateID) {
	if !b.ready() {
		return
	}
	b.mutated()
	k := b.key(s)
	if b.states[s].Kind != statebackend.KindMap {
		b.write(opDelete, k, nil)
		return
	}
	// A range deletion: after the buffered writes of the map's entries.
	b.commit()
	if !b.admit(2*len(k) + entryOverhead) {
		return
	}
	b.scratch = appendPrefixEnd(b.scratch[:0], k)
	if err := b.db.DeleteRange(k, b.scratch, writeOpts); err != nil {
		b.fail("delete", err)
	}
}

func (b *Backend) MapGet(s statebackend.StateID, userKey []byte) ([]byte, bool) {
	if !b.ready() {
		return nil, false
	}
	return b.get(b.mapKey(s, userKey))
}

func (b *Backend) MapPut(s statebackend.StateID, userKey, value []byte) {
	if !b.ready() {
		return
	}
	b.mutated()
	b.write(opSet, b.mapKey(s, userKey), value)
}

func (b *Backend) MapDelete(s statebackend.StateID, userKey []byte) {
	if !b.ready() {
		return
	}
	b.mutated()
	b.write(opDelete, b.mapKey(s, userKey), nil)
}

// MapRange iterates the entries of map state s in user-key order (the
// interface promises no order). The slices fn receives are copies, valid
// like those of Get.
func (b *Backend) MapRange(s statebackend.StateID, fn func(userKey, value []byte) bool) {
	if !b.ready() {
		return
	}
	// Pebble's iterator sees what the buffer holds once it is committed.
	b.commit()
	// The bounds get their own buffer: fn may call MapGet, or MapRange
	// again, which reuse scratch.
	prefix := b.key(s)
	bounds := make([]byte, 0, 2*len(prefix))
	bounds = append(bounds, prefix...)
	bounds = appendPrefixEnd(bounds, prefix)
	lower, upper := bounds[:len(prefix)], bounds[len(prefix):]
	it, err := b.db.NewIter(&pebbledb.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		b.fail("map range", err)
		return
	}
	// Closed even if fn panics: Pebble's Close reports leaked iterators.
	defer func() {
		if err := errors.Join(it.Error(), it.Close()); err != nil {
			b.fail("map range", err)
		}
	}()
	for ok := it.First(); ok; ok = it.Next() {
		v, err := it.ValueAndErr()
		if err != nil {
			return // it.Error reports it
		}
		if !fn(b.keep(it.Key()[len(lower):]), b.keep(v)) {
			return
		}
	}
}

// SnapshotAsync takes a Pebble snapshot (a sequence number: later writes
// are invisible to it) and the state registry, in time independent of the
// state size. AppendEncoded iterates the Pebble snapshot on another
// goroutine while the task goes on writing; until the capture is encoded or
// discarded, Pebble keeps what it reads from being compacted away.
func (b *Backend) SnapshotAsync() statebackend.CapturedSnapshot {
	b.commit()
	s := &capture{b: b, groups: b.groups, states: slices.Clone(b.states), err: b.Err()}
	if s.err == nil {
		b.captures.hold(s, b.db.NewSnapshot())
	}
	return s
}

// Snapshot encodes the backend's state: SnapshotAsync's capture, encoded at
// once.
func (b *Backend) Snapshot() ([]byte, error) {
	return b.SnapshotAsync().AppendEncoded(nil)
}

// errClosedWhileEncoding fails an AppendEncoded that Close interrupted.
var errClosedWhileEncoding = errors.New("pebble: the backend was closed while a snapshot was being encoded")

// captures are the Pebble snapshots of the captures in flight, shared by
// the task goroutine (SnapshotAsync, Close) and the goroutines encoding or
// discarding captures (the checkpointer's). A capture's Pebble snapshot is
// held until its encode (AppendEncoded) starts, then owned by the encode
// until it ends; Close releases the held ones and interrupts and waits for
// the encodes, so that no Pebble snapshot outlives the database.
type captures struct {
	mu struct {
		sync.Mutex
		held map[*capture]*pebbledb.Snapshot
	}
	// closed is set by Close, under mu; encodes look at it between
	// entries.
	closed atomic.Bool
	// encoding counts the encodes running.
	encoding sync.WaitGroup
}

func (c *captures) hold(s *capture, snap *pebbledb.Snapshot) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.mu.held == nil {
		c.mu.held = map[*capture]*pebbledb.Snapshot{}
	}
	c.mu.held[s] = snap
}

// startEncode hands s's Pebble snapshot to its encode, which must call
// endEncode.
func (c *captures) startEncode(s *capture) (*pebbledb.Snapshot, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed.Load() {
		return nil, fmt.Errorf("pebble: encoding a snapshot of a closed backend")
	}
	snap, ok := c.mu.held[s]
	if !ok {
		return nil, fmt.Errorf("pebble: encoding a snapshot that was already encoded or discarded")
	}
	delete(c.mu.held, s)
	c.encoding.Add(1)
	return snap, nil
}

func (c *captures) endEncode(snap *pebbledb.Snapshot) error {
	defer c.encoding.Done()
	return snap.Close()
}

// discard releases s's Pebble snapshot if it still holds it.
func (c *captures) discard(s *capture) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if snap, ok := c.mu.held[s]; ok {
		delete(c.mu.held, s)
		// Closing a Pebble snapshot only unlinks it; it fails on none
		// but a closed one, which held never holds.
		_ = snap.Close()
	}
}

// close releases every held Pebble snapshot and waits for the encodes
// running, which stop at their next entry. Later encodes fail.
func (c *captures) close() error {
	c.mu.Lock()
	c.closed.Store(true)
	var err error
	for s, snap := range c.mu.held {
		err = errors.Join(err, snap.Close())
		delete(c.mu.held, s)
	}
	c.mu.Unlock()
	c.encoding.Wait()
	return err
}

// capture is the state SnapshotAsync captured: the registry here, the
// entries in a Pebble snapshot held by the backend's captures.
type capture struct {
	// b is the backend, for its captures and its sticky error only: both
	// may be used from any goroutine.
	b      *Backend
	groups keygroup.Range
	states []statebackend.StateDesc // indexed by StateID
	// err is the backend's sticky error at the capture, which took no
	// Pebble snapshot then.
	err error
}

// AppendEncoded encodes every entry of the Pebble snapshot, in key-group
// order, after dst. Nothing the task writes after the capture is visible
// to it.
func (s *capture) AppendEncoded(dst []byte) (_ []byte, err error) {
	if s.err != nil {
		return nil, s.err
	}
	snap, err := s.b.captures.startEncode(s)
	if err != nil {
		return nil, err
	}
	defer func() {
		if cerr := s.b.captures.endEncode(snap); cerr != nil && err == nil {
			err = fmt.Errorf("pebble: releasing a snapshot: %w", cerr)
		}
	}()
	e := statebackend.AppendSnapshot(dst, s.states)
	lower := appendKeyGroupStart(nil, s.groups.Start)
	upper := appendKeyGroupStart(nil, s.groups.End)
	if s.groups.End == maxKeyGroup {
		upper = nil
	}
	it, err := snap.NewIter(&pebbledb.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		s.b.fail("snapshot", err)
		return nil, s.b.Err()
	}
	var decodeErr error
	for ok := it.First(); ok; ok = it.Next() {
		if s.b.captures.closed.Load() {
			decodeErr = errClosedWhileEncoding
			break
		}
		v, err := it.ValueAndErr()
		if err != nil {
			break
		}
		k, err := decodeKey(it.Key())
		if err == nil && int(k.state) >= len(s.states) {
			err = fmt.Errorf("pebble: key %x names state %d of %d", it.Key(), k.state, len(s.states))
		}
		if err == nil && s.states[k.state].Kind != statebackend.KindMap && len(k.userKey) > 0 {
			err = fmt.Errorf("pebble: key %x of %s state %q has a user key", it.Key(), s.states[k.state].Kind, s.states[k.state].Name)
		}
		if err != nil {
			decodeErr = invariant.Failf("%v", err)
			break
		}
		e.Add(k.kg, int(k.state), k.key, k.userKey, v)
	}
	err = errors.Join(decodeErr, it.Error(), it.Close())
	if errors.Is(err, errClosedWhileEncoding) {
		return nil, err
	}
	if err != nil {
		s.b.fail("snapshot", err)
		return nil, s.b.Err()
	}
	if err := s.b.Err(); err != nil {
		return nil, err
	}
	return e.Finish(), nil
}

// Discard releases the capture's Pebble snapshot.
func (s *capture) Discard() { s.b.captures.discard(s) }

// Restore loads a canonical snapshot, keeping the entries of the backend's
// key groups, in batches. An error leaves the backend partly restored; the
// task fails and the backend is closed.
func (b *Backend) Restore(snapshot []byte) error {
	if err := b.Err(); err != nil {
		return err
	}
	b.mutated()
	b.commit()
	var ids []statebackend.StateID
	batch := b.db.NewBatch()
	defer func() { _ = batch.Close() }()
	commit := func() error {
		if !b.admit(batch.Len()) {
			return b.Err()
		}
		if err := batch.Commit(writeOpts); err != nil {
			b.fail("restore", err)
			return b.Err()
		}
		batch.Reset()
		return nil
	}
	var k []byte
	err := statebackend.DecodeSnapshot(snapshot, func(descs []statebackend.StateDesc) error {
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
		id := ids[e.State]
		k = appendKeyPrefix(k[:0], e.KeyGroup, id, e.Key)
		if b.states[id].Kind == statebackend.KindMap {
			k = append(k, e.UserKey...)
		}
		if err := batch.Set(k, e.Value, nil); err != nil {
			return err
		}
		// Batches of a quarter memtable: a batch of half a memtable or
		// more would be queued as a memtable of its own.
		if batch.Len() >= b.checkEvery {
			return commit()
		}
		return nil
	})
	if err != nil {
		return err
	}
	return commit()
}

// Close closes the database and removes its directory. It first releases
// the Pebble snapshots of the captures neither encoded nor discarded, which
// then fail to encode, and interrupts and waits for the encodes running.
// The backend must not be used afterwards; a second Close does nothing.
func (b *Backend) Close() error {
	if b.db == nil {
		return nil
	}
	b.buf.reset() // the directory goes, and the writes with it
	err := b.captures.close()
	if b.batch != nil {
		err = errors.Join(err, b.batch.Close())
		b.batch = nil
	}
	err = errors.Join(err, b.db.Close())
	b.db = nil
	if rmErr := b.fs.RemoveAll(b.dir); rmErr != nil {
		err = errors.Join(err, fmt.Errorf("pebble: removing %s: %w", b.dir, rmErr))
	}
	if rmErr := b.fs.RemoveAll(b.checkpointsDir()); rmErr != nil {
		err = errors.Join(err, fmt.Errorf("pebble: removing %s: %w", b.checkpointsDir(), rmErr))
	}
	return err
}

// failure is the sticky error. The task goroutine and Pebble's background
// goroutines set it; the first error wins.
type failure struct {
	err  atomic.Pointer[error]
	done chan struct{} // closed when err is set
}

func (f *failure) set(err error) {
	if f.err.CompareAndSwap(nil, &err) {
		close(f.done)
	}
}

func (f *failure) get() error {
	if p := f.err.Load(); p != nil {
		return *p
	}
	return nil
}

// pebbleLogger routes Pebble's log to slog. Pebble calls Fatalf for errors
// it cannot unwind (a failed MANIFEST write during a flush, say) and
// expects the process to exit; here they stop this backend — and so fail
// its task — instead of every task of the taskmanager.
type pebbleLogger struct {
	l    *slog.Logger
	fail func(error)
}

func (p pebbleLogger) Infof(format string, args ...any) {
	p.l.Debug(fmt.Sprintf(format, args...))
}

func (p pebbleLogger) Errorf(format string, args ...any) {
	p.l.Error(fmt.Sprintf(format, args...))
}

func (p pebbleLogger) Fatalf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	p.l.Error("pebble fatal error: "+msg, "effect", "backend stopped")
	p.fail(fmt.Errorf("%w: fatal: %s", ErrFailed, msg))
}

func (b *Backend) stallBegin() {
	b.stall.Lock()
	defer b.stall.Unlock()
	if b.stall.began.IsZero() {
		b.stall.began = time.Now()
	}
}

func (b *Backend) stallEnd() {
	b.stall.Lock()
	defer b.stall.Unlock()
	if !b.stall.began.IsZero() {
		b.stall.total += time.Since(b.stall.began)
		b.stall.began = time.Time{}
	}
}

// stallTime is the time writes have been held back so far, including a
// stall still on.
func (b *Backend) stallTime() time.Duration {
	b.stall.Lock()
	defer b.stall.Unlock()
	d := b.stall.total
	if !b.stall.began.IsZero() {
		d += time.Since(b.stall.began)
	}
	return d
}

// Stats are a database's internals, for monitoring.
type Stats struct {
	Compactions      int64
	CompactionDebt   int64 // estimated bytes to compact for a stable LSM
	Flushes          int64
	BlockCacheHits   int64
	BlockCacheMisses int64
	DiskUsage        int64
	MemTableSize     int64
	ReadAmp          int64
	// WriteStall is the time the task's writes were held back while
	// flushes or compactions caught up (Backend.admit, or Pebble's own
	// write stall).
	WriteStall time.Duration
}

// Stats reads the database's internals (pebble.DB.Metrics). It may be
// called from any goroutine while the backend is open, but not
// concurrently with or after Close; ok is false once closed.
func (b *Backend) Stats() (s Stats, ok bool) {
	if b.db == nil {
		return Stats{}, false
	}
	m := b.db.Metrics()
	return Stats{
		Compactions: m.Compact.Count, CompactionDebt: int64(m.Compact.EstimatedDebt), Flushes: m.Flush.Count,
		BlockCacheHits: m.BlockCache.Hits, BlockCacheMisses: m.BlockCache.Misses,
		DiskUsage: int64(m.DiskSpaceUsage()), MemTableSize: int64(m.MemTable.Size), ReadAmp: int64(m.ReadAmp()),
		WriteStall: b.stallTime(),
	}, true
}
