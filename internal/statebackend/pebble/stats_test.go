package pebble

import (
	"fmt"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"

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

// While flushes cannot finish, the task's writes are held back, and Stats
// counts the time, the stall still on included; it stops counting once
// the flushes resume.
func TestWriteStallIsCounted(t *testing.T) {
	gate := make(chan struct{})
	var blocked atomic.Bool
	blocked.Store(true)
	// Every write to an SST waits while blocked: no flush can end.
	inj := errorfs.InjectorFunc(func(op errorfs.Op) error {
		if op.Kind == errorfs.OpFileWrite && strings.HasSuffix(op.Path, ".sst") && blocked.Load() {
			<-gate
		}
		return nil
	})
	b := open(t, errorfs.Wrap(vfs.NewMem(), inj), keygroup.Range{Start: 0, End: 128}, Options{MemoryBytes: 1 << 20, Logger: quiet})
	id, err := b.Register("v", statebackend.KindValue)
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := b.Stats(); st.WriteStall != 0 {
		t.Fatalf("write stall %v before any write", st.WriteStall)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		val := make([]byte, 256)
		for i := range 20000 { // 5 MB: many memtables' worth
			b.SetCurrentKey(fmt.Appendf(nil, "key-%06d", i), i%128)
			b.Put(id, val)
		}
	}()
	// The writer is held back at two memtables' worth; the stall shows
	// while it lasts.
	deadline := time.Now().Add(time.Minute)
	for st, _ := b.Stats(); st.WriteStall == 0; st, _ = b.Stats() {
		select {
		case <-done:
			t.Fatal("every write went through while no flush could end")
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("no write stall counted in a minute")
		}
		runtime.Gosched()
	}
	blocked.Store(false)
	close(gate)
	<-done
	if err := b.Err(); err != nil {
		t.Fatal(err)
	}
	st, _ := b.Stats()
	if st.WriteStall <= 0 {
		t.Fatalf("write stall %v after the writer was held back", st.WriteStall)
	}
	if again, _ := b.Stats(); again.WriteStall != st.WriteStall {
		t.Fatalf("write stall grew from %v to %v with no write held back", st.WriteStall, again.WriteStall)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
}
