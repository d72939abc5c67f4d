package pebble

import (
	"fmt"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/weirstream/weir/internal/keygroup"
	"github.com/weirstream/weir/internal/statebackend"
)

// TestStats checks that Stats reflects the database's work: writing more
// than the memtables hold flushes, the data takes disk space, reads count
// in the block cache, and a closed backend reports nothing.
func TestStats(t *testing.T) {
	b := open(t, vfs.NewMem(), keygroup.Range{Start: 0, End: 128}, Options{MemoryBytes: MinMemoryBytes})
	before, ok := b.Stats()
	if !ok {
		t.Fatal("Stats of an open backend: not ok")
	}
	id, err := b.Register("v", statebackend.KindValue)
	if err != nil {
		t.Fatal(err)
	}
	val := make([]byte, 256)
	const n = 20000
	for i := range n {
		b.SetCurrentKey(fmt.Appendf(nil, "key-%06d", i), i%128)
		b.Put(id, val)
	}
	for i := 0; i < n; i += 97 {
		b.SetCurrentKey(fmt.Appendf(nil, "key-%06d", i), i%128)
		if _, ok := b.Get(id); !ok {
			t.Fatalf("key %d lost", i)
		}
	}
	if err := b.Err(); err != nil {
		t.Fatal(err)
	}
	after, ok := b.Stats()
	if !ok {
		t.Fatal("Stats: not ok")
	}
	if after.Flushes <= before.Flushes {
		t.Errorf("flushes %d -> %d after writing %d bytes, want more", before.Flushes, after.Flushes, n*len(val))
	}
	if after.DiskUsage <= before.DiskUsage {
		t.Errorf("disk usage %d -> %d, want more", before.DiskUsage, after.DiskUsage)
	}
	if after.BlockCacheHits+after.BlockCacheMisses <= before.BlockCacheHits+before.BlockCacheMisses {
		t.Errorf("block cache hits+misses %d -> %d after reads, want more",
			before.BlockCacheHits+before.BlockCacheMisses, after.BlockCacheHits+after.BlockCacheMisses)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if _, ok := b.Stats(); ok {
		t.Error("Stats of a closed backend: ok")
	}
}
