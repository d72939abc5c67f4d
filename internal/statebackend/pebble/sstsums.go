package pebble

import (
	"hash/crc32"
	"sync"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// sstSums holds the size and CRC-32C of the SSTs a backend's Pebble has
// written, by file name, computed as Pebble wrote them (summingFS). A
// native snapshot's Persist needs both for every new SST: reading an SST
// back to checksum it costs a copy from the page cache per byte uploaded,
// on a goroutine that competes with the task for a processor, while the
// bytes going by in the compaction that writes the SST are in the CPU's
// cache. An SST is immutable once written, and its name is never reused
// in the database, so the sum of a name stays true until Pebble removes
// the file; Persist still compares the size before it trusts one
// (nativeSnapshot.sum).
type sstSums struct {
	mu sync.Mutex
	m  map[string]sstSum
}

type sstSum struct {
	size int64
	crc  uint32
}

func newSSTSums() *sstSums { return &sstSums{m: map[string]sstSum{}} }

// get returns the sum of the SST named name, if Pebble wrote it through
// the summing file system and has not removed it. A nil sstSums holds
// none.
func (s *sstSums) get(name string) (sstSum, bool) {
	if s == nil {
		return sstSum{}, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sum, ok := s.m[name]
	return sum, ok
}

func (s *sstSums) put(name string, sum sstSum) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[name] = sum
}

func (s *sstSums) forget(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, name)
}

// summingFS is the file system Pebble writes a backend's database through
// when its native snapshots need the sums: it records every SST's size
// and CRC-32C in sums when the file is closed after sequential writes,
// and forgets them when the file is removed, renamed or opened for
// writing again. The backend reads through the file system it wraps.
type summingFS struct {
	vfs.FS
	sums *sstSums
}

func (fs summingFS) Create(name string, c vfs.DiskWriteCategory) (vfs.File, error) {
	fs.forget(name)
	f, err := fs.FS.Create(name, c)
	if err != nil || !isSST(name) {
		return f, err
	}
	return &summingFile{File: f, sums: fs.sums, name: fs.PathBase(name)}, nil
}

func (fs summingFS) OpenReadWrite(name string, c vfs.DiskWriteCategory, opts ...vfs.OpenOption) (vfs.File, error) {
	fs.forget(name)
	return fs.FS.OpenReadWrite(name, c, opts...)
}

func (fs summingFS) Remove(name string) error {
	fs.forget(name)
	return fs.FS.Remove(name)
}

func (fs summingFS) Rename(oldname, newname string) error {
	fs.forget(oldname)
	fs.forget(newname)
	return fs.FS.Rename(oldname, newname)
}

func (fs summingFS) Unwrap() vfs.FS { return fs.FS }

func (fs summingFS) forget(name string) {
	if isSST(name) {
		fs.sums.forget(fs.PathBase(name))
	}
}

// summingFile sums the bytes written to an SST. A write at an offset or a
// failed write leaves the file without a sum: Persist then reads it.
type summingFile struct {
	vfs.File
	sums   *sstSums
	name   string
	size   int64
	crc    uint32
	broken bool
}

func (f *summingFile) Write(p []byte) (int, error) {
	n, err := f.File.Write(p)
	f.crc = crc32.Update(f.crc, castagnoli, p[:n])
	f.size += int64(n)
	if err != nil {
		f.broken = true
	}
	return n, err
}

func (f *summingFile) WriteAt(p []byte, off int64) (int, error) {
	f.broken = true
	return f.File.WriteAt(p, off)
}

func (f *summingFile) Close() error {
	err := f.File.Close()
	if err == nil && !f.broken {
		f.sums.put(f.name, sstSum{size: f.size, crc: f.crc})
	}
	return err
}
