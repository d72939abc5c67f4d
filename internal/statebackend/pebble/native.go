package pebble

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	pebbledb "github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"golang.org/x/sync/errgroup"

	"github.com/weirstream/weir/internal/keygroup"
	"github.com/weirstream/weir/internal/statebackend"
)

// nativeMagic starts a native snapshot's manifest; the canonical format
// starts with "WKS1".
var nativeMagic = []byte("WKN1")

// IsNative reports whether keyed state bytes are a native snapshot's
// manifest rather than a canonical snapshot.
func IsNative(b []byte) bool { return bytes.HasPrefix(b, nativeMagic) }

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// SharedFile is one SST of a native snapshot, stored as a shared object.
type SharedFile struct {
	Name   string // the file's name in the database ("000012.sst")
	Object string // the shared object, relative to the job's checkpoint directory
	Size   int64
	CRC    uint32 // CRC-32C of the file
}

// Native is a decoded native snapshot manifest.
type Native struct {
	Groups keygroup.Range
	States []statebackend.StateDesc // indexed by StateID
	Inline map[string][]byte        // small files (MANIFEST, OPTIONS, markers) by name
	Shared []SharedFile
}

// NativeSnapshot takes a Pebble checkpoint of the database in a directory
// beside it: hard links to the immutable SSTs, copies of the small files
// and of the write-ahead log. With Options.WAL the log holds every write
// the SSTs do not, and the checkpoint writes out its buffered tail first
// (WithFlushedWAL); without it the memtables are flushed first, which the
// snapshot waits for. It runs on the task goroutine, so no write comes
// between the two; the returned snapshot is uploaded by Persist elsewhere
// while the database keeps changing. An error stops the backend, as any
// Pebble failure does: the checkpoint is declined and the task restarts.
func (b *Backend) NativeSnapshot(id, _ int64) (statebackend.NativeSnapshot, error) {
	b.commit()
	if err := b.Err(); err != nil {
		return nil, err
	}
	if !b.wal {
		if err := b.flush(); err != nil {
			return nil, err
		}
	}
	dir := b.fs.PathJoin(b.checkpointsDir(), "chk-"+strconv.FormatInt(id, 10))
	if err := b.fs.RemoveAll(dir); err != nil {
		b.fail("native snapshot", err)
		return nil, b.Err()
	}
	if err := b.fs.MkdirAll(b.checkpointsDir(), 0o755); err != nil {
		b.fail("native snapshot", err)
		return nil, b.Err()
	}
	if err := b.db.Checkpoint(dir, pebbledb.WithFlushedWAL()); err != nil {
		_ = b.fs.RemoveAll(dir)
		b.fail("native snapshot: checkpoint", err)
		return nil, b.Err()
	}
	// A background error (a failed flush or compaction) during the
	// snapshot may have left it without a file its MANIFEST names.
	if err := b.Err(); err != nil {
		_ = b.fs.RemoveAll(dir)
		return nil, err
	}
	return &nativeSnapshot{id: id, fs: b.fs, dir: dir, groups: b.groups,
		states: slices.Clone(b.states), lineage: &b.lineage}, nil
}

// flush commits the write buffer, flushes the memtables and waits for it.
// Pebble retries a failed flush for ever; the wait ends with the backend's
// failure instead.
func (b *Backend) flush() error {
	b.commit()
	flushed, err := b.db.AsyncFlush()
	if err != nil {
		b.fail("native snapshot: flush", err)
		return b.Err()
	}
	select {
	case <-flushed:
		return nil
	case <-b.failure.done:
		return b.Err()
	}
}

// checkpointsDir holds the backend's Pebble checkpoints until they are
// uploaded: a sibling of the database directory, removed by Close.
func (b *Backend) checkpointsDir() string { return b.dir + ".chk" }

type nativeSnapshot struct {
	id      int64
	fs      vfs.FS
	dir     string
	groups  keygroup.Range
	states  []statebackend.StateDesc
	lineage *statebackend.Lineage[map[string]SharedFile] // by file name
}

// persistParallelism bounds the SST uploads of one snapshot in flight.
const persistParallelism = 4

func (s *nativeSnapshot) Persist(ctx context.Context, st statebackend.SharedStore, base int64) (statebackend.Persisted, error) {
	names, err := s.fs.List(s.dir)
	if err != nil {
		return statebackend.Persisted{}, fmt.Errorf("pebble: listing checkpoint %s: %w", s.dir, err)
	}
	slices.Sort(names)
	var prev map[string]SharedFile
	if base > 0 {
		if files, scope, ok := s.lineage.Get(base); ok && scope == st.Scope() {
			prev = files
		}
	}
	n := Native{Groups: s.groups, States: s.states, Inline: map[string][]byte{}}
	var upload []string
	for _, name := range names {
		if !strings.HasSuffix(name, ".sst") {
			data, err := readFile(s.fs, s.fs.PathJoin(s.dir, name))
			if err != nil {
				return statebackend.Persisted{}, err
			}
			n.Inline[name] = data
			continue
		}
		if f, ok := prev[name]; ok {
			n.Shared = append(n.Shared, f)
			continue
		}
		upload = append(upload, name)
	}
	var (
		mu       sync.Mutex
		uploaded int64
		errs     []error
		wg       sync.WaitGroup
		sem      = make(chan struct{}, persistParallelism)
	)
	for _, name := range upload {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			buf := uploadBuffers.Get().(*[]byte)
			defer uploadBuffers.Put(buf)
			data, err := readFileInto(s.fs, s.fs.PathJoin(s.dir, name), buf)
			var obj string
			if err == nil {
				obj, err = st.PutShared(ctx, data)
			}
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, fmt.Errorf("pebble: uploading %s: %w", name, err))
				return
			}
			uploaded += int64(len(data))
			n.Shared = append(n.Shared, SharedFile{Name: name, Object: obj, Size: int64(len(data)), CRC: crc32.Checksum(data, castagnoli)})
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return statebackend.Persisted{}, err
	}
	slices.SortFunc(n.Shared, func(a, b SharedFile) int { return strings.Compare(a.Name, b.Name) })
	files := make(map[string]SharedFile, len(n.Shared))
	p := statebackend.Persisted{Keyed: n.encode(), Uploaded: uploaded}
	for _, f := range n.Shared {
		files[f.Name] = f
		p.Shared = append(p.Shared, f.Object)
		p.Full += f.Size
	}
	for _, d := range n.Inline {
		p.Full += int64(len(d))
	}
	// Only a snapshot whose every upload succeeded becomes a base.
	s.lineage.Put(s.id, st.Scope(), files)
	return p, nil
}

func (s *nativeSnapshot) Keep(dst string) error {
	if err := s.fs.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	return s.fs.Rename(s.dir, dst)
}

func (s *nativeSnapshot) Discard() error { return s.fs.RemoveAll(s.dir) }

func readFile(fs vfs.FS, name string) ([]byte, error) {
	var buf []byte
	return readFileInto(fs, name, &buf)
}

// uploadBuffers hold the SSTs Persist reads and uploads, which are read
// whole: PutShared does not retain them. An SST is megabytes; a buffer
// grown by appending, as io.ReadAll grows it, is allocated, zeroed and
// copied several times over for each one.
var uploadBuffers = sync.Pool{New: func() any { return new([]byte) }}

// readFileInto reads the file into *buf, grown to the file's size if it
// is smaller, and returns the bytes read: *buf[:size]. A file whose size
// changes while it is read is an error: the captured files are immutable.
func readFileInto(fs vfs.FS, name string, buf *[]byte) ([]byte, error) {
	f, err := fs.Open(name)
	if err != nil {
		return nil, fmt.Errorf("pebble: reading %s: %w", name, err)
	}
	defer func() { _ = f.Close() }()
	info, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("pebble: reading %s: %w", name, err)
	}
	size := int(info.Size())
	if cap(*buf) < size+1 {
		*buf = make([]byte, size+1)
	}
	// One byte more than the size, to see the end of the file.
	data := (*buf)[:size+1]
	n, err := io.ReadFull(f, data)
	if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
		return nil, fmt.Errorf("pebble: reading %s: %w", name, err)
	}
	if n != size {
		return nil, fmt.Errorf("pebble: reading %s: read %d bytes of a file of %d: it changed while it was read", name, n, size)
	}
	return data[:n], nil
}

// The native manifest (the keyed bytes of a native snapshot's section):
//
//	native = "WKN1" | uvarint kgStart | uvarint kgEnd | uvarint nStates | state*
//	         | uvarint nInline | (bytes name | bytes data)*
//	         | uvarint nShared | (bytes name | bytes object | uvarint size | crc32c (4 bytes, big endian))*
//	state  = uvarint kind | bytes name      (in StateID order)
func (n *Native) encode() []byte {
	// Sized up front: the inlined write-ahead log can be megabytes, and
	// growing by appends would copy it several times.
	size := len(nativeMagic) + 4*binary.MaxVarintLen64
	for _, d := range n.States {
		size += 2*binary.MaxVarintLen64 + len(d.Name)
	}
	for name, data := range n.Inline {
		size += 2*binary.MaxVarintLen64 + len(name) + len(data)
	}
	for _, f := range n.Shared {
		size += 3*binary.MaxVarintLen64 + 4 + len(f.Name) + len(f.Object)
	}
	b := append(make([]byte, 0, size), nativeMagic...)
	b = binary.AppendUvarint(b, uint64(n.Groups.Start))
	b = binary.AppendUvarint(b, uint64(n.Groups.End))
	b = binary.AppendUvarint(b, uint64(len(n.States)))
	for _, d := range n.States {
		b = binary.AppendUvarint(b, uint64(d.Kind))
		b = appendBytes(b, []byte(d.Name))
	}
	inline := make([]string, 0, len(n.Inline))
	for name := range n.Inline {
		inline = append(inline, name)
	}
	slices.Sort(inline)
	b = binary.AppendUvarint(b, uint64(len(inline)))
	for _, name := range inline {
		b = appendBytes(b, []byte(name))
		b = appendBytes(b, n.Inline[name])
	}
	b = binary.AppendUvarint(b, uint64(len(n.Shared)))
	for _, f := range n.Shared {
		b = appendBytes(b, []byte(f.Name))
		b = appendBytes(b, []byte(f.Object))
		b = binary.AppendUvarint(b, uint64(f.Size))
		b = binary.BigEndian.AppendUint32(b, f.CRC)
	}
	return b
}

func appendBytes(b, v []byte) []byte { return append(binary.AppendUvarint(b, uint64(len(v))), v...) }

// DecodeNative decodes a native snapshot's manifest.
func DecodeNative(b []byte) (*Native, error) {
	if !IsNative(b) {
		return nil, errors.New("pebble: not a native snapshot")
	}
	d := decoder{b: b[len(nativeMagic):]}
	n := &Native{Inline: map[string][]byte{}}
	n.Groups.Start, n.Groups.End = int(d.uvarint()), int(d.uvarint())
	for range d.count() {
		kind := statebackend.Kind(d.uvarint())
		name := string(d.bytes())
		if d.err == nil && (kind < statebackend.KindValue || kind > statebackend.KindMap) {
			d.err = fmt.Errorf("state %q has kind %d", name, kind)
		}
		n.States = append(n.States, statebackend.StateDesc{Name: name, Kind: kind})
	}
	for range d.count() {
		name := string(d.bytes())
		n.Inline[name] = d.bytes()
		if d.err == nil && !validFileName(name) {
			d.err = fmt.Errorf("file name %q", name)
		}
	}
	for range d.count() {
		f := SharedFile{Name: string(d.bytes()), Object: string(d.bytes()), Size: int64(d.uvarint())}
		if len(d.b) < 4 && d.err == nil {
			d.err = io.ErrUnexpectedEOF
		}
		if d.err == nil {
			f.CRC = binary.BigEndian.Uint32(d.b)
			d.b = d.b[4:]
		}
		if d.err == nil && (!validFileName(f.Name) || !strings.HasSuffix(f.Name, ".sst")) {
			d.err = fmt.Errorf("file name %q", f.Name)
		}
		n.Shared = append(n.Shared, f)
	}
	if d.err == nil && len(d.b) > 0 {
		d.err = fmt.Errorf("%d bytes after the end", len(d.b))
	}
	if d.err == nil && (n.Groups.Start > n.Groups.End || n.Groups.End > maxKeyGroup) {
		d.err = fmt.Errorf("key-group range %s", n.Groups)
	}
	if d.err != nil {
		return nil, fmt.Errorf("pebble: damaged native snapshot: %w", d.err)
	}
	return n, nil
}

// validFileName refuses names that would leave the directory they are
// written to.
func validFileName(name string) bool {
	return name != "" && name != "." && name != ".." && !strings.ContainsAny(name, `/\`)
}

type decoder struct {
	b   []byte
	err error
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = io.ErrUnexpectedEOF
		return 0
	}
	d.b = d.b[n:]
	return v
}

// count reads a count, bounded by the bytes left (every item takes one).
func (d *decoder) count() int {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		if d.err == nil {
			d.err = fmt.Errorf("count %d exceeds the %d bytes left", n, len(d.b))
		}
		return 0
	}
	return int(n)
}

func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)) {
		d.err = io.ErrUnexpectedEOF
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

// Source provides the files of a native snapshot to Materialize.
type Source struct {
	// Local, if set, returns the path of a local copy of a file (local
	// recovery), or false. A copy is hard-linked when it can be, and
	// verified against the manifest's size and CRC-32C like a download.
	Local func(name string) (string, bool)
	// Fetch downloads a shared object.
	Fetch func(ctx context.Context, object string) ([]byte, error)
}

// MaterializeStats counts where Materialize found the files.
type MaterializeStats struct {
	LocalBytes, Downloaded int64
}

// fetchParallelism bounds the downloads of one restore in flight.
const fetchParallelism = 4

// Materialize writes the files of native snapshot n into dir, a new
// directory on the operating system's file system, making it an openable
// Pebble database (see OpenNative). Every shared file is verified against
// the manifest's size and CRC-32C; a damaged one fails with an error
// wrapping ErrDamaged. A local copy that fails verification is downloaded
// instead.
func (n *Native) Materialize(ctx context.Context, dir string, src Source) (MaterializeStats, error) {
	var st MaterializeStats
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return st, err
	}
	for name, data := range n.Inline {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			return st, err
		}
	}
	// The first failure cancels the downloads in flight, and those not
	// begun yet end at once: a restore fails as soon as one file does.
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(fetchParallelism)
	var mu sync.Mutex // guards st.Downloaded
	for _, f := range n.Shared {
		dst := filepath.Join(dir, f.Name)
		if src.Local != nil {
			if p, ok := src.Local(f.Name); ok && verifyFile(p, f) == nil {
				if err := os.Link(p, dst); err == nil {
					st.LocalBytes += f.Size
					continue
				}
			}
		}
		g.Go(func() error {
			data, err := src.Fetch(gctx, f.Object)
			if err != nil {
				return err
			}
			if !f.matches(data) {
				return fmt.Errorf("%w: shared object %s (%s) does not match its size and checksum", ErrDamaged, f.Object, f.Name)
			}
			if err := os.WriteFile(dst, data, 0o644); err != nil {
				return err
			}
			mu.Lock()
			defer mu.Unlock()
			st.Downloaded += f.Size
			return nil
		})
	}
	return st, g.Wait()
}

// ErrDamaged marks a shared file whose bytes do not match the manifest.
var ErrDamaged = errors.New("pebble: damaged native snapshot file")

func verifyFile(path string, f SharedFile) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if !f.matches(data) {
		return fmt.Errorf("%w: %s", ErrDamaged, path)
	}
	return nil
}

// matches reports whether data has the file's size and CRC-32C.
func (f SharedFile) matches(data []byte) bool {
	return int64(len(data)) == f.Size && crc32.Checksum(data, castagnoli) == f.CRC
}

// OpenNative opens the database Materialize wrote into dir as the backend
// of key groups r, with the states of the snapshot registered under the
// StateIDs its keys use. r must be the snapshot's range (a restore at the
// same parallelism; any other converts through Canonical). The backend
// then references the snapshot's shared objects again, for checkpoint id
// within scope, instead of uploading them.
func OpenNative(dir string, r keygroup.Range, n *Native, id int64, scope string, opts Options) (*Backend, error) {
	if r != n.Groups {
		return nil, fmt.Errorf("pebble: a native snapshot of key groups %s cannot restore key groups %s", n.Groups, r)
	}
	b, err := openNative(dir, n, opts)
	if err != nil {
		return nil, err
	}
	files := make(map[string]SharedFile, len(n.Shared))
	for _, f := range n.Shared {
		files[f.Name] = f
	}
	b.lineage.Put(id, scope, files)
	return b, nil
}

// Canonical converts the native snapshot Materialize wrote into dir to the
// canonical format (reading every entry), for a restore at another
// parallelism or on another backend. It removes dir.
func Canonical(dir string, n *Native, opts Options) ([]byte, error) {
	b, err := openNative(dir, n, opts)
	if err != nil {
		return nil, err
	}
	snap, err := b.Snapshot()
	return snap, errors.Join(err, b.Close())
}

// openNative opens the database Materialize wrote into dir, with the
// states of snapshot n registered under the StateIDs its keys use.
func openNative(dir string, n *Native, opts Options) (*Backend, error) {
	b, err := openDB(dir, n.Groups, opts, true)
	if err != nil {
		return nil, err
	}
	for _, d := range n.States {
		if _, err := b.Register(d.Name, d.Kind); err != nil {
			return nil, errors.Join(err, b.Close())
		}
	}
	return b, nil
}

var _ statebackend.Incremental = (*Backend)(nil)
