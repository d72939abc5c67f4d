package pebble

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"

	"github.com/weirstream/weir/internal/keygroup"
	"github.com/weirstream/weir/internal/statebackend"
)

// captureRange is the key groups fill writes.
var captureRange = keygroup.Range{Start: 0, End: keygroup.DefaultMaxParallelism}

// rewrite changes every kind of state of fill's keys [from, from+n) and
// adds keys and a state after them: values overwritten or deleted, lists
// appended to, map entries replaced or deleted, whole maps deleted. Then
// it flushes and compacts the database, so that what a capture taken
// before still reads lives only because its Pebble snapshot pins it.
func rewrite(t *testing.T, b *Backend, from, n int) {
	t.Helper()
	v, _ := b.Register("v", statebackend.KindValue)
	l, _ := b.Register("l", statebackend.KindList)
	m, _ := b.Register("m", statebackend.KindMap)
	late, _ := b.Register("late", statebackend.KindValue)
	for i := from; i < from+n; i++ {
		key := fmt.Appendf(nil, "key-%08d", i)
		b.SetCurrentKey(key, i%keygroup.DefaultMaxParallelism)
		switch i % 4 {
		case 0:
			b.Put(v, []byte("rewritten"))
			b.Append(l, []byte("appended"))
			b.MapPut(m, key, []byte("rewritten"))
			b.MapPut(m, []byte("new"), []byte("entry"))
		case 1:
			b.Delete(v)
		case 2:
			b.Delete(m)
			b.Delete(l)
		case 3:
			b.MapDelete(m, key)
		}
		b.Put(late, key)
	}
	fill(b, from+n, n/4)
	if err := b.db.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := b.db.Compact(context.Background(), appendKeyGroupStart(nil, 0), appendKeyGroupStart(nil, maxKeyGroup-1), false); err != nil {
		t.Fatal(err)
	}
	if err := b.Err(); err != nil {
		t.Fatal(err)
	}
}

// encode encodes s after a few bytes of an earlier snapshot, which it
// must leave alone, failing t on error.
func encode(t *testing.T, s statebackend.CapturedSnapshot) []byte {
	t.Helper()
	dst := []byte("earlier")
	snap, err := s.AppendEncoded(dst)
	if err != nil {
		t.Fatalf("encoding a captured snapshot: %v", err)
	}
	if !bytes.HasPrefix(snap, dst) {
		t.Fatalf("the snapshot was not appended to the buffer given: it starts %q", snap[:min(len(snap), len(dst))])
	}
	return snap[len(dst):]
}

// A capture encoded after the task overwrote, deleted and added state,
// and after compactions, holds exactly the bytes Snapshot returned at the
// capture; the writes are in the state.
func TestSnapshotAsyncHoldsTheStateAtCapture(t *testing.T) {
	b := open(t, vfs.NewMem(), captureRange, Options{MemoryBytes: MinMemoryBytes})
	defer b.Close()
	fill(b, 0, 4000)
	want := snapshotOf(t, b)
	s := b.SnapshotAsync()
	rewrite(t, b, 0, 4000)
	if got := encode(t, s); !bytes.Equal(got, want) {
		t.Errorf("the captured snapshot holds %d entries, not the %d of Snapshot at the capture", len(snapshotEntries(t, got)), len(snapshotEntries(t, want)))
	}
	after := snapshotEntries(t, snapshotOf(t, b))
	for _, e := range []string{`late/0/"key-00000000"`, `v/0/"key-00000000"/""=` + fmt.Sprintf("%x", "rewritten"), `m/0/"key-00000000"/"new"`} {
		if !containsPrefix(after, e) {
			t.Errorf("the state after the writes has no entry %s", e)
		}
	}
	if containsPrefix(after, `v/1/"key-00000001"`) {
		t.Error("the state after the writes still holds a deleted value")
	}
}

func containsPrefix(entries []string, prefix string) bool {
	for _, e := range entries {
		if strings.HasPrefix(e, prefix) {
			return true
		}
	}
	return false
}

// The checkpointer encodes a capture on its own goroutine while the task
// goes on writing; -race checks that they share nothing unguarded.
func TestSnapshotAsyncEncodedConcurrentlyWithWrites(t *testing.T) {
	b := open(t, vfs.NewMem(), captureRange, Options{MemoryBytes: MinMemoryBytes})
	defer b.Close()
	fill(b, 0, 2000)
	for round := range 3 {
		want := snapshotOf(t, b)
		s := b.SnapshotAsync()
		done := make(chan error)
		var got []byte
		go func() {
			var err error
			got, err = s.AppendEncoded(nil)
			done <- err
		}()
		rewrite(t, b, round*500, 2000)
		if err := <-done; err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("round %d: the captured snapshot is not Snapshot's at the capture", round)
		}
	}
}

// A discarded capture releases its Pebble snapshot, and a capture neither
// encoded nor discarded is released by Close: Pebble's Close reports
// leaked snapshots. Neither can be encoded afterwards.
func TestSnapshotAsyncRelease(t *testing.T) {
	b := open(t, vfs.NewMem(), captureRange, Options{})
	fill(b, 0, 100)
	dropped := b.SnapshotAsync()
	if n := b.db.Metrics().Snapshots.Count; n != 1 {
		t.Fatalf("%d Pebble snapshots open after a capture; want 1", n)
	}
	dropped.Discard()
	dropped.Discard()
	if n := b.db.Metrics().Snapshots.Count; n != 0 {
		t.Errorf("%d Pebble snapshots open after the capture was discarded; want 0", n)
	}
	if _, err := dropped.AppendEncoded(nil); err == nil {
		t.Error("a discarded capture was encoded")
	}
	encoded := b.SnapshotAsync()
	encode(t, encoded)
	if _, err := encoded.AppendEncoded(nil); err == nil {
		t.Error("a capture was encoded twice")
	}
	encoded.Discard()
	held := b.SnapshotAsync()
	if err := b.Close(); err != nil {
		t.Fatalf("Close with a capture held: %v", err)
	}
	if _, err := held.AppendEncoded(nil); err == nil {
		t.Error("a capture was encoded after Close")
	}
	held.Discard()
}

// gate blocks every read of an sstable from when it is shut until open is
// closed.
type gate struct {
	shut atomic.Bool
	open chan struct{}
}

func (g *gate) String() string { return "gate" }

func (g *gate) MaybeError(op errorfs.Op) error {
	if !g.shut.Load() || op.Kind != errorfs.OpFileReadAt || !strings.HasSuffix(op.Path, ".sst") {
		return nil
	}
	<-g.open
	return nil
}

// Close during an AppendEncoded interrupts it and waits for it, so that the
// AppendEncoded's Pebble snapshot is released before the database is closed.
func TestCloseInterruptsEncode(t *testing.T) {
	g := &gate{open: make(chan struct{})}
	// A cache far smaller than the state: the AppendEncoded reads sstables.
	b := open(t, errorfs.Wrap(vfs.NewMem(), g), captureRange, Options{MemoryBytes: MinMemoryBytes})
	fill(b, 0, 20000)
	if err := b.db.Flush(); err != nil {
		t.Fatal(err)
	}
	s := b.SnapshotAsync()
	g.shut.Store(true)
	encoded := make(chan error)
	go func() {
		_, err := s.AppendEncoded(nil)
		encoded <- err
	}()
	// The AppendEncoded is in flight once it owns the Pebble snapshot, and it
	// cannot end before the gate opens.
	for held := 1; held > 0; runtime.Gosched() {
		b.captures.mu.Lock()
		held = len(b.captures.mu.held)
		b.captures.mu.Unlock()
	}
	closed := make(chan error)
	go func() { closed <- b.Close() }()
	for !b.captures.closed.Load() {
		runtime.Gosched()
	}
	close(g.open)
	if err := <-encoded; !errors.Is(err, errClosedWhileEncoding) {
		t.Errorf("AppendEncoded during Close returned %v; want %v", err, errClosedWhileEncoding)
	}
	if err := <-closed; err != nil {
		t.Errorf("Close during an AppendEncoded: %v", err)
	}
}
