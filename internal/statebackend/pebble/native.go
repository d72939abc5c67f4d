package pebble

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"maps"
	"math"
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
// starts with "WKS1". nativeMagicV1 starts one written before logs were
// uploaded in segments, whose shared files have no offset: DecodeNative
// reads both.
var (
	nativeMagic   = []byte("WKN2")
	nativeMagicV1 = []byte("WKN1")
)

// IsNative reports whether keyed state bytes are a native snapshot's
// manifest rather than a canonical snapshot.
func IsNative(b []byte) bool {
	return bytes.HasPrefix(b, nativeMagic) || bytes.HasPrefix(b, nativeMagicV1)
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// SharedFile is a file of a native snapshot, or a segment of one, stored
// as a shared object: the file's bytes from Offset on, Size of them. An
// SST is one object at offset 0. A write-ahead log is uploaded in
// segments: a snapshot references its base's segments of a log again and
// uploads what was appended to it since (see Persist).
type SharedFile struct {
	Name   string // the file's name in the database ("000012.sst", "000013.log")
	Offset int64  // where in the file the object's bytes start
	Object string // the shared object, relative to the job's checkpoint directory
	Size   int64
	CRC    uint32 // CRC-32C of the object's bytes
}

// Native is a decoded native snapshot manifest.
type Native struct {
	Groups keygroup.Range
	States []statebackend.StateDesc // indexed by StateID
	Inline map[string][]byte        // small files (MANIFEST, OPTIONS, markers) by name
	Shared []SharedFile             // by name, then offset
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
	return &nativeSnapshot{id: id, fs: b.fs, sums: b.sums, dir: dir, groups: b.groups,
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
	sums    *sstSums
	dir     string
	groups  keygroup.Range
	states  []statebackend.StateDesc
	lineage *statebackend.Lineage[sharedFiles]
}

// sharedFiles are a snapshot's shared objects by file name: one for an
// SST, a log's segments in order.
type sharedFiles map[string][]SharedFile

// persistParallelism bounds the uploads of one snapshot in flight.
const persistParallelism = 4

// maxLogSegments bounds the segments of one write-ahead log a snapshot
// references; past it the log is uploaded whole again as one segment. A
// log lives until its memtable is flushed, which under a trickle of
// writes can be many checkpoints, and a restore fetches every segment.
const maxLogSegments = 32

// isLog reports whether a database file is a write-ahead log.
func isLog(name string) bool { return strings.HasSuffix(name, ".log") }

// isSST reports whether a database file is an SST.
func isSST(name string) bool { return strings.HasSuffix(name, ".sst") }

// upload is a shared object Persist writes: a whole SST, read from the
// snapshot's directory when it is uploaded, or the new bytes of a log.
type upload struct {
	name   string
	offset int64
	data   []byte // nil for an SST
}

// Persist uploads the files of the snapshot that its base did not, and
// returns the manifest. An SST is immutable: if the base uploaded it, it
// is referenced again. A write-ahead log only grows (noSyncFS empties a
// recycled one), so the base's copy of a log is a prefix of this one's:
// its segments are referenced again if the bytes still match their
// CRC-32Cs, and what was appended since becomes one more segment. So a
// checkpoint uploads the writes since its base, not every write since the
// last flush, however large the memtables are.
func (s *nativeSnapshot) Persist(ctx context.Context, st statebackend.SharedStore, base int64) (statebackend.Persisted, error) {
	names, err := s.fs.List(s.dir)
	if err != nil {
		return statebackend.Persisted{}, fmt.Errorf("pebble: listing checkpoint %s: %w", s.dir, err)
	}
	slices.Sort(names)
	var prev sharedFiles
	if base > 0 {
		if files, scope, ok := s.lineage.Get(base); ok && scope == st.Scope() {
			prev = files
		}
	}
	n := Native{Groups: s.groups, States: s.states, Inline: map[string][]byte{}}
	var uploads []upload
	// A log is read into a pooled buffer, held until its new bytes are
	// uploaded: the live logs are up to a memtable's worth each, read at
	// every checkpoint.
	var logBufs []*[]byte
	defer func() {
		for _, buf := range logBufs {
			uploadBuffers.Put(buf)
		}
	}()
	for _, name := range names {
		path := s.fs.PathJoin(s.dir, name)
		switch {
		case isSST(name):
			if f, ok := prev[name]; ok {
				n.Shared = append(n.Shared, f...)
				continue
			}
			uploads = append(uploads, upload{name: name})
		case !isLog(name):
			data, err := readFile(s.fs, path)
			if err != nil {
				return statebackend.Persisted{}, err
			}
			n.Inline[name] = data
		default:
			buf := uploadBuffers.Get().(*[]byte)
			logBufs = append(logBufs, buf)
			kept, from, tail, err := readLog(s.fs, path, prev[name], buf)
			if err != nil {
				return statebackend.Persisted{}, err
			}
			n.Shared = append(n.Shared, kept...)
			if len(tail) > 0 {
				uploads = append(uploads, upload{name: name, offset: from, data: tail})
			}
		}
	}
	var (
		mu       sync.Mutex
		uploaded int64
		errs     []error
		wg       sync.WaitGroup
		sem      = make(chan struct{}, persistParallelism)
	)
	for _, u := range uploads {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			f, err := s.upload(ctx, st, u)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, fmt.Errorf("pebble: uploading %s: %w", u.name, err))
				return
			}
			uploaded += f.Size
			n.Shared = append(n.Shared, f)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return statebackend.Persisted{}, err
	}
	sortShared(n.Shared)
	p := statebackend.Persisted{Keyed: n.encode(), Uploaded: uploaded}
	for _, f := range n.Shared {
		p.Shared = append(p.Shared, f.Object)
		p.Full += f.Size
	}
	for _, d := range n.Inline {
		p.Full += int64(len(d))
	}
	// Only a snapshot whose every upload succeeded becomes a base.
	s.lineage.Put(s.id, st.Scope(), n.files())
	return p, nil
}

// upload writes one shared object. A log's new bytes are in memory
// already. An SST on the operating system's file system is handed to the
// store as a file, which streams it or links it into a file store, with
// the CRC-32C Pebble's writes were summed to (sstSums) or, failing that,
// one read through a small buffer; on another file system (tests' in
// memory) it is read whole.
func (s *nativeSnapshot) upload(ctx context.Context, st statebackend.SharedStore, u upload) (SharedFile, error) {
	f := SharedFile{Name: u.name, Offset: u.offset}
	path := s.fs.PathJoin(s.dir, u.name)
	data := u.data
	var err error
	if data == nil && onDisk(s.fs) {
		if f.Size, f.CRC, err = s.sum(path, u.name); err != nil {
			return f, err
		}
		f.Object, err = st.PutSharedFile(ctx, path)
		return f, err
	}
	if data == nil {
		buf := uploadBuffers.Get().(*[]byte)
		defer uploadBuffers.Put(buf)
		if data, err = readFileInto(s.fs, path, buf); err != nil {
			return f, err
		}
	}
	f.Size, f.CRC = int64(len(data)), crc32.Checksum(data, castagnoli)
	f.Object, err = st.PutShared(ctx, data)
	return f, err
}

// onDisk reports whether fs, a backend's, is the operating system's file
// system, whose files have paths other processes' code can open.
func onDisk(fs vfs.FS) bool { return fs == noSyncFS{vfs.Default} }

// sum returns the size and CRC-32C of the snapshot's SST at path, named
// name in the database: those Pebble's writes were summed to, if the file
// has that size, else read.
func (s *nativeSnapshot) sum(path, name string) (int64, uint32, error) {
	if sum, ok := s.sums.get(name); ok {
		if info, err := s.fs.Stat(path); err == nil && info.Size() == sum.size {
			return sum.size, sum.crc, nil
		}
	}
	return checksumFile(s.fs, path)
}

// checksumFile returns the size and CRC-32C of a file, read through a
// pooled buffer.
func checksumFile(fs vfs.FS, name string) (int64, uint32, error) {
	file, err := fs.Open(name)
	if err != nil {
		return 0, 0, fmt.Errorf("pebble: reading %s: %w", name, err)
	}
	defer func() { _ = file.Close() }()
	info, err := file.Stat()
	if err != nil {
		return 0, 0, fmt.Errorf("pebble: reading %s: %w", name, err)
	}
	buf := checksumBuffers.Get().(*[]byte)
	defer checksumBuffers.Put(buf)
	crc, err := checksumRange(file, 0, info.Size(), *buf)
	if err != nil {
		return 0, 0, fmt.Errorf("pebble: reading %s: %w", name, err)
	}
	return info.Size(), crc, nil
}

var checksumBuffers = sync.Pool{New: func() any { b := make([]byte, 256<<10); return &b }}

// readLog reads a snapshot's copy of a write-ahead log for Persist: the
// segments of the base's copy the log still begins with (appendedTo), the
// offset after them, and the bytes from there on, read into *buf. The
// base's segments are checked through a small buffer, so only the bytes
// uploaded are held in memory: a live log grows from one checkpoint to
// the next, up to a memtable's worth.
func readLog(fs vfs.FS, name string, segs []SharedFile, buf *[]byte) (kept []SharedFile, from int64, tail []byte, err error) {
	f, err := fs.Open(name)
	if err != nil {
		return nil, 0, nil, fmt.Errorf("pebble: reading %s: %w", name, err)
	}
	defer func() { _ = f.Close() }()
	info, err := f.Stat()
	if err != nil {
		return nil, 0, nil, fmt.Errorf("pebble: reading %s: %w", name, err)
	}
	size := info.Size()
	if kept = appendedTo(segs, f, size); len(kept) > 0 {
		from = fileSize(kept)
	}
	if tail, err = readRange(f, from, size, buf); err != nil {
		return nil, 0, nil, fmt.Errorf("pebble: reading %s: %w", name, err)
	}
	return kept, from, tail, nil
}

// appendedTo returns the segments of a log's earlier copy that the log
// now, size bytes read from r, still begins with: all of them, or none if
// the log is shorter, differs (or cannot be read), or has maxLogSegments
// already.
func appendedTo(segs []SharedFile, r io.ReaderAt, size int64) []SharedFile {
	if len(segs) == 0 || len(segs) >= maxLogSegments {
		return nil
	}
	buf := checksumBuffers.Get().(*[]byte)
	defer checksumBuffers.Put(buf)
	for _, f := range segs {
		if f.Offset+f.Size > size {
			return nil
		}
		crc, err := checksumRange(r, f.Offset, f.Size, *buf)
		if err != nil || crc != f.CRC {
			return nil
		}
	}
	return segs
}

// checksumRange returns the CRC-32C of size bytes of r from off, read
// through buf.
func checksumRange(r io.ReaderAt, off, size int64, buf []byte) (uint32, error) {
	var crc uint32
	for size > 0 {
		chunk := buf[:min(int64(len(buf)), size)]
		n, err := r.ReadAt(chunk, off)
		crc = crc32.Update(crc, castagnoli, chunk[:n])
		off, size = off+int64(n), size-int64(n)
		if size > 0 && err != nil {
			return 0, err
		}
	}
	return crc, nil
}

func sortShared(fs []SharedFile) {
	slices.SortFunc(fs, func(a, b SharedFile) int {
		if c := strings.Compare(a.Name, b.Name); c != 0 {
			return c
		}
		return cmp.Compare(a.Offset, b.Offset)
	})
}

// files groups the manifest's shared objects by file name; n.Shared is
// sorted.
func (n *Native) files() sharedFiles {
	files := sharedFiles{}
	for i := 0; i < len(n.Shared); {
		j := i + 1
		for j < len(n.Shared) && n.Shared[j].Name == n.Shared[i].Name {
			j++
		}
		files[n.Shared[i].Name] = n.Shared[i:j:j]
		i = j
	}
	return files
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

// uploadBuffers hold the write-ahead logs Persist reads, and the SSTs it
// reads whole and uploads from a file system other than the operating
// system's: PutShared does not retain them. Each is megabytes; a buffer
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
	data, err := readRange(f, 0, info.Size(), buf)
	if err != nil {
		return nil, fmt.Errorf("pebble: reading %s: %w", name, err)
	}
	return data, nil
}

// readRange reads the bytes of r from off to size, the file's size, into
// *buf, grown if it is smaller, and returns them. A file whose size
// changes while it is read is an error: the captured files are immutable.
func readRange(r io.ReaderAt, off, size int64, buf *[]byte) ([]byte, error) {
	n := int(size - off)
	if cap(*buf) < n+1 {
		*buf = make([]byte, n+1)
	}
	// One byte more than the size, to see the end of the file.
	data := (*buf)[:n+1]
	got, err := io.ReadFull(io.NewSectionReader(r, off, int64(n+1)), data)
	if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
		return nil, err
	}
	if got != n {
		return nil, fmt.Errorf("read %d bytes from offset %d of a file of %d: it changed while it was read", got, off, size)
	}
	return data[:n], nil
}

// The native manifest (the keyed bytes of a native snapshot's section):
//
//	native = "WKN2" | uvarint kgStart | uvarint kgEnd | uvarint nStates | state*
//	         | uvarint nInline | (bytes name | bytes data)*
//	         | uvarint nShared | shared*
//	state  = uvarint kind | bytes name      (in StateID order)
//	shared = bytes name | uvarint offset | bytes object | uvarint size | crc32c (4 bytes, big endian)
//
// Shared files are sorted by name, then offset: an SST is one at offset 0,
// a log's segments follow one another from 0. A "WKN1" manifest has no
// offsets, and only SSTs are shared.
func (n *Native) encode() []byte {
	// Sized up front: the manifest lists thousands of SSTs at a GB.
	size := len(nativeMagic) + 4*binary.MaxVarintLen64
	for _, d := range n.States {
		size += 2*binary.MaxVarintLen64 + len(d.Name)
	}
	for name, data := range n.Inline {
		size += 2*binary.MaxVarintLen64 + len(name) + len(data)
	}
	for _, f := range n.Shared {
		size += 4*binary.MaxVarintLen64 + 4 + len(f.Name) + len(f.Object)
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
		b = binary.AppendUvarint(b, uint64(f.Offset))
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
	v1 := bytes.HasPrefix(b, nativeMagicV1)
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
		f := SharedFile{Name: string(d.bytes())}
		if !v1 {
			f.Offset = int64(d.uvarint())
		}
		f.Object, f.Size = string(d.bytes()), int64(d.uvarint())
		if len(d.b) < 4 && d.err == nil {
			d.err = io.ErrUnexpectedEOF
		}
		if d.err == nil {
			f.CRC = binary.BigEndian.Uint32(d.b)
			d.b = d.b[4:]
		}
		if d.err == nil {
			d.err = n.follows(f)
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

// follows checks that shared file f may come next in n.Shared: an SST
// whole, or a log's next segment, in order of name and offset.
func (n *Native) follows(f SharedFile) error {
	var last SharedFile
	if len(n.Shared) > 0 {
		last = n.Shared[len(n.Shared)-1]
	}
	_, inline := n.Inline[f.Name]
	switch {
	case !validFileName(f.Name) || inline || !strings.HasSuffix(f.Name, ".sst") && !isLog(f.Name):
		return fmt.Errorf("shared file name %q", f.Name)
	case f.Offset < 0 || f.Size < 0 || f.Offset > math.MaxInt64-f.Size:
		return fmt.Errorf("shared file %q: offset %d, size %d", f.Name, f.Offset, f.Size)
	case isLog(f.Name) && f.Name == last.Name:
		if f.Offset != last.Offset+last.Size {
			return fmt.Errorf("shared file %q: a segment at offset %d follows one ending at %d", f.Name, f.Offset, last.Offset+last.Size)
		}
	case f.Name <= last.Name:
		return fmt.Errorf("shared file %q after %q: out of order", f.Name, last.Name)
	case f.Offset != 0:
		return fmt.Errorf("shared file %q starts at offset %d", f.Name, f.Offset)
	}
	return nil
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
	files := n.files()
	for _, name := range slices.Sorted(maps.Keys(files)) {
		segs := files[name]
		dst := filepath.Join(dir, name)
		if src.Local != nil {
			if p, ok := src.Local(name); ok && verifyFile(p, segs) == nil {
				if err := os.Link(p, dst); err == nil {
					st.LocalBytes += fileSize(segs)
					continue
				}
			}
		}
		g.Go(func() error {
			// A log's segments are small and few: fetched one after
			// another, in order, into one file.
			var data []byte
			if len(segs) > 1 {
				data = make([]byte, 0, fileSize(segs))
			}
			for _, f := range segs {
				b, err := src.Fetch(gctx, f.Object)
				if err != nil {
					return err
				}
				if !f.matches(b) {
					return fmt.Errorf("%w: shared object %s (%s at %d) does not match its size and checksum", ErrDamaged, f.Object, f.Name, f.Offset)
				}
				if len(segs) == 1 {
					data = b
				} else {
					data = append(data, b...)
				}
			}
			if err := os.WriteFile(dst, data, 0o644); err != nil {
				return err
			}
			mu.Lock()
			defer mu.Unlock()
			st.Downloaded += int64(len(data))
			return nil
		})
	}
	return st, g.Wait()
}

// ErrDamaged marks a shared file whose bytes do not match the manifest.
var ErrDamaged = errors.New("pebble: damaged native snapshot file")

// verifyFile checks a local copy of a file against its shared objects.
func verifyFile(path string, segs []SharedFile) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if int64(len(data)) != fileSize(segs) {
		return fmt.Errorf("%w: %s", ErrDamaged, path)
	}
	for _, f := range segs {
		if !f.matches(data[f.Offset : f.Offset+f.Size]) {
			return fmt.Errorf("%w: %s", ErrDamaged, path)
		}
	}
	return nil
}

// fileSize is the size of the file whose segments, in order from offset
// 0, segs are.
func fileSize(segs []SharedFile) int64 {
	last := segs[len(segs)-1]
	return last.Offset + last.Size
}

// matches reports whether data has the object's size and CRC-32C.
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
	b.lineage.Put(id, scope, n.files())
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
