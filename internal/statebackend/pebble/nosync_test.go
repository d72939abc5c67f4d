package pebble

import (
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// A recycled log must come back empty: a native snapshot copies the live
// logs whole, and a stale tail would be copied at the barrier.
func TestNoSyncFSReuseForWriteEmptiesTheFile(t *testing.T) {
	fs := noSyncFS{vfs.NewMem()}
	f, err := fs.Create("000001.log", vfs.WriteCategoryUnspecified)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(make([]byte, 1<<20)); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	r, err := fs.ReuseForWrite("000001.log", "000002.log", vfs.WriteCategoryUnspecified)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Write([]byte("record")); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := fs.Stat("000001.log"); err == nil {
		t.Error("the recycled log is still under its old name")
	}
	fi, err := fs.Stat("000002.log")
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() != int64(len("record")) {
		t.Errorf("recycled log is %d bytes after writing %d: it kept its old contents", fi.Size(), len("record"))
	}
}
