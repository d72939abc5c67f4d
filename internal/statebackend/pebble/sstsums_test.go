package pebble

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/weirstream/weir/internal/keygroup"
)

// Every SST Pebble writes with the log on is summed as it is written, and
// the sum is that of the file's bytes; a removed SST's sum is forgotten,
// so the sums held are those of the live SSTs.
func TestSSTSumsAreTheFilesSums(t *testing.T) {
	all := keygroup.Range{Start: 0, End: keygroup.DefaultMaxParallelism}
	b := open(t, nil, all, Options{MemoryBytes: 1 << 20, WAL: true})
	fill(b, 0, 40000)
	b.commit()
	if err := b.db.Compact(context.Background(), []byte{0}, []byte{0xff, 0xff, 0xff}, false); err != nil {
		t.Fatal(err)
	}
	fill(b, 40000, 5000) // SSTs flushed after the compaction too
	b.commit()
	flushed, err := b.db.AsyncFlush()
	if err != nil {
		t.Fatal(err)
	}
	<-flushed
	// Closing the database waits for its flushes, compactions and
	// removals of obsolete files, so the files and the sums stand still.
	if err := b.db.Close(); err != nil {
		t.Fatal(err)
	}
	b.db = nil
	names, err := b.fs.List(b.dir)
	if err != nil {
		t.Fatal(err)
	}
	ssts := 0
	for _, name := range names {
		if !isSST(name) {
			continue
		}
		ssts++
		size, crc, err := checksumFile(b.fs, filepath.Join(b.dir, name))
		if err != nil {
			t.Fatal(err)
		}
		sum, ok := b.sums.get(name)
		if !ok {
			t.Errorf("%s: no sum", name)
			continue
		}
		if sum.size != size || sum.crc != crc {
			t.Errorf("%s: summed %d bytes, CRC %08x; the file has %d, %08x", name, sum.size, sum.crc, size, crc)
		}
	}
	if ssts < 2 {
		t.Fatalf("the database has %d SSTs: the test wrote too little", ssts)
	}
	if n := b.sums.count(); n != ssts {
		t.Errorf("%d sums held for %d live SSTs: a removed SST's sum was kept", n, ssts)
	}
}

// Persist takes a new SST's CRC-32C from the sums when the file has the
// summed size, and reads the file when it does not.
func TestPersistUsesTheSums(t *testing.T) {
	all := keygroup.Range{Start: 0, End: keygroup.DefaultMaxParallelism}
	b := open(t, nil, all, Options{MemoryBytes: 1 << 20, WAL: true})
	defer func() { _ = b.Close() }()
	fill(b, 0, 20000)
	ns, err := b.NativeSnapshot(1, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ns.Discard() }()
	dir := ns.(*nativeSnapshot).dir
	// Mark the sums: a marked CRC in the manifest was taken from them.
	// One SST's summed size is made wrong, so its CRC must be read.
	const mark = 0x5a5a5a5a
	names, err := b.fs.List(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]uint32{}
	var wrongSize string
	for _, name := range names {
		if !isSST(name) {
			continue
		}
		size, crc, err := checksumFile(b.fs, filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := b.sums.get(name); !ok {
			t.Fatalf("%s: no sum", name)
		}
		if wrongSize == "" {
			wrongSize = name
			b.sums.put(name, sstSum{size: size + 1, crc: crc ^ mark})
			want[name] = crc
			continue
		}
		b.sums.put(name, sstSum{size: size, crc: crc ^ mark})
		want[name] = crc ^ mark
	}
	if len(want) < 2 {
		t.Fatalf("the snapshot has %d SSTs: the test wrote too little", len(want))
	}
	for _, f := range persistManifest(t, ns).Shared {
		if w, ok := want[f.Name]; ok && f.CRC != w {
			t.Errorf("%s: CRC %08x in the manifest, want %08x (summed size wrong: %v)", f.Name, f.CRC, w, f.Name == wrongSize)
		}
		delete(want, f.Name)
	}
	if len(want) > 0 {
		t.Errorf("SSTs missing from the manifest: %v", want)
	}
}

// A write at an offset leaves an SST without a sum, and so does opening
// it for writing again or renaming it.
func TestSummingFSForgets(t *testing.T) {
	sums := newSSTSums()
	fs := summingFS{FS: vfs.NewMem(), sums: sums}
	write := func(name string, at bool) {
		t.Helper()
		f, err := fs.Create(name, vfs.WriteCategoryUnspecified)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Write([]byte("block")); err != nil {
			t.Fatal(err)
		}
		if at {
			if _, err := f.WriteAt([]byte("B"), 0); err != nil {
				t.Fatal(err)
			}
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
	}
	write("000001.sst", false)
	write("000002.sst", true)
	write("000003.sst", false)
	write("000004.sst", false)
	write("000005.log", false)
	if _, ok := sums.get("000001.sst"); !ok {
		t.Fatal("a sequentially written SST has no sum")
	}
	if _, ok := sums.get("000002.sst"); ok {
		t.Error("an SST written at an offset has a sum")
	}
	if _, ok := sums.get("000005.log"); ok {
		t.Error("a log has a sum")
	}
	f, err := fs.OpenReadWrite("000003.sst", vfs.WriteCategoryUnspecified)
	if err != nil {
		t.Fatal(err)
	}
	_ = f.Close()
	if _, ok := sums.get("000003.sst"); ok {
		t.Error("an SST opened for writing again kept its sum")
	}
	if err := fs.Rename("000004.sst", "000006.sst"); err != nil {
		t.Fatal(err)
	}
	if _, ok := sums.get("000004.sst"); ok {
		t.Error("a renamed SST kept its sum")
	}
	if err := fs.Remove("000001.sst"); err != nil {
		t.Fatal(err)
	}
	if n := sums.count(); n != 0 {
		t.Errorf("%d sums left after every SST was removed, renamed or rewritten", n)
	}
}

// count is the number of sums held.
func (s *sstSums) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}
