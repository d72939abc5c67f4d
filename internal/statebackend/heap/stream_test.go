package heap

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/weirstream/weir/internal/checkpoint/objstore"
	"github.com/weirstream/weir/internal/checkpoint/objstore/file"
	"github.com/weirstream/weir/internal/keygroup"
	"github.com/weirstream/weir/internal/statebackend"
)

// writes records the writes made to it.
type writes struct {
	bytes.Buffer
	sizes []int
}

func (w *writes) Write(p []byte) (int, error) {
	w.sizes = append(w.sizes, len(p))
	return w.Buffer.Write(p)
}

// WriteEncoded writes what AppendEncoded appends, a flushBytes at a time,
// for every kind of state.
func TestWriteEncodedIsAppendEncoded(t *testing.T) {
	defer func(n int) { flushBytes = n }(flushBytes)
	flushBytes = 2048
	tw := newTwin(t)
	tw.mutate(3000)
	want := tw.want(t)
	appended, err := tw.b.SnapshotAsync().AppendEncoded(nil)
	if err != nil {
		t.Fatal(err)
	}
	var w writes
	if _, err := tw.b.SnapshotAsync().(*capture).WriteEncoded(&w, nil); err != nil {
		t.Fatal(err)
	}
	if got := snapshotEntries(t, w.Bytes()); !slices.Equal(got, want) {
		t.Fatalf("WriteEncoded wrote %d entries, not the %d of the state:\n got %q\nwant %q", len(got), len(want), got, want)
	}
	if w.Len() != len(appended) {
		t.Errorf("WriteEncoded wrote %d bytes; AppendEncoded appended %d", w.Len(), len(appended))
	}
	if len(w.sizes) < len(appended)/(2*flushBytes) {
		t.Errorf("%d bytes were written in %d writes; want one about every %d bytes", w.Len(), len(w.sizes), flushBytes)
	}
	for i, n := range w.sizes {
		if n > 2*flushBytes {
			t.Errorf("write %d of %d held %d bytes; want about %d", i+1, len(w.sizes), n, flushBytes)
		}
	}
}

// storeIn is a SharedStore over a file store in a directory, as the
// taskmanager's over a file:// checkpoint storage.
type storeIn struct{ st *file.Store }

func (s storeIn) Scope() string { return "file" }

func (s storeIn) PutShared(ctx context.Context, data []byte) (string, error) {
	name := fmt.Sprintf("shared/%d", rand.Uint64())
	return name, s.st.Put(ctx, name, data)
}

func (s storeIn) PutSharedFile(ctx context.Context, path string) (string, error) {
	name := fmt.Sprintf("shared/%d", rand.Uint64())
	return name, objstore.PutFile(ctx, s.st, name, path)
}

// A full snapshot of a backend with a directory is encoded into a file
// there, holding a MiB of it in memory rather than all of it; the file is
// uploaded, then kept as the local copy or removed, and Close removes the
// directory.
func TestFullSnapshotStreamsToAFile(t *testing.T) {
	const keys = 400_000 // 13 MB encoded
	canonical, err := wordCounts(t, keys).Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	want := snapshotEntries(t, canonical)
	r := keygroup.Range{Start: 0, End: keygroup.DefaultMaxParallelism}
	dir := filepath.Join(t.TempDir(), "heap")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	b := NewIncremental(r, dir)
	if err := b.Restore(canonical); err != nil {
		t.Fatal(err)
	}
	fs, err := file.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	st := storeIn{fs}
	local := filepath.Join(t.TempDir(), "chk-1")
	for id, keep := range map[int64]bool{1: true, 2: false} {
		ns, err := b.NativeSnapshot(id, 0)
		if err != nil {
			t.Fatal(err)
		}
		p, c, obj := persistStreamed(t, ns, st, "a full snapshot")
		if len(p.Shared) != 1 || p.Uploaded < int64(len(canonical)) {
			t.Fatalf("checkpoint %d uploaded %d bytes in %d objects; want a full snapshot", id, p.Uploaded, len(p.Shared))
		}
		if err := c.Verify(0, obj); err != nil {
			t.Fatal(err)
		}
		if got := snapshotEntries(t, obj); !slices.Equal(got, want) {
			t.Fatalf("checkpoint %d holds %d entries, not %d", id, len(got), len(want))
		}
		if keep {
			if err := ns.Keep(local); err != nil {
				t.Fatal(err)
			}
			kept, err := os.ReadFile(filepath.Join(local, LocalName(p.Shared[0])))
			if err != nil || !bytes.Equal(kept, obj) {
				t.Fatalf("the local copy of checkpoint %d is not the object uploaded (%d bytes, %v)", id, len(kept), err)
			}
		}
		if err := ns.Discard(); err != nil {
			t.Fatal(err)
		}
		if left, _ := os.ReadDir(dir); len(left) != 0 {
			t.Errorf("after checkpoint %d (kept: %v) the backend's directory holds %d files", id, keep, len(left))
		}
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("the backend's directory is left after Close: %v", err)
	}
}

// BenchmarkFullSnapshotPersist persists full native snapshots of 2M words'
// counts into a file store and keeps each as a local copy, on the same
// file system: encoded into memory ("memory", NewIncremental without a
// directory), the store writes it and Keep writes it again; encoded into
// a file ("file"), the store links the file and Keep moves it.
func BenchmarkFullSnapshotPersist(b *testing.B) {
	const n = 2_000_000
	canonical, err := wordCounts(b, n).Snapshot()
	if err != nil {
		b.Fatal(err)
	}
	for _, mode := range []string{"memory", "file"} {
		b.Run(mode, func(b *testing.B) {
			root := b.TempDir()
			var dir string
			if mode == "file" {
				dir = filepath.Join(root, "heap")
				if err := os.Mkdir(dir, 0o755); err != nil {
					b.Fatal(err)
				}
			}
			be := NewIncremental(keygroup.Range{Start: 0, End: keygroup.DefaultMaxParallelism}, dir)
			if err := be.Restore(canonical); err != nil {
				b.Fatal(err)
			}
			fs, err := file.Open(filepath.Join(root, "store"))
			if err != nil {
				b.Fatal(err)
			}
			st := storeIn{fs}
			b.ReportAllocs()
			b.SetBytes(int64(len(canonical)))
			var id int64
			for b.Loop() {
				id++
				// Based on no checkpoint: full.
				ns, err := be.NativeSnapshot(id, 0)
				if err != nil {
					b.Fatal(err)
				}
				p, err := ns.Persist(context.Background(), st, 0)
				if err != nil {
					b.Fatal(err)
				}
				if len(p.Shared) != 1 {
					b.Fatalf("checkpoint %d has %d objects; want a full snapshot", id, len(p.Shared))
				}
				local := filepath.Join(root, "local", fmt.Sprint(id))
				if err := ns.Keep(local); err != nil {
					b.Fatal(err)
				}
				// What the store and the local copies hold goes, as
				// their pruning would remove it.
				if err := errors.Join(os.RemoveAll(local), fs.Delete(context.Background(), p.Shared[0])); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/key")
		})
	}
}

// A full snapshot into a file is persisted once: again, it is refused and
// leaves no file. Once the backend is closed, it is refused with ErrClosed.
func TestFullSnapshotFileRefused(t *testing.T) {
	dir := t.TempDir()
	b := NewIncremental(cowRange, dir)
	v, _ := b.Register("v", statebackend.KindValue)
	b.SetCurrentKey([]byte("k"), cowRange.Start)
	b.Put(v, []byte("x"))
	snap, err := b.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	// After a restore from a canonical snapshot the next one is full.
	if err := b.Restore(snap); err != nil {
		t.Fatal(err)
	}
	st := newMemStore()
	ns, err := b.NativeSnapshot(1, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ns.Persist(context.Background(), st, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := ns.Persist(context.Background(), st, 0); err == nil {
		t.Error("a full snapshot was persisted twice")
	}
	if err := ns.Discard(); err != nil {
		t.Fatal(err)
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("the backend's directory holds %d files after its only snapshot was discarded", len(left))
	}

	ns, err = b.NativeSnapshot(2, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := ns.Persist(context.Background(), st, 0); !errors.Is(err, ErrClosed) {
		t.Errorf("persisting a full snapshot of a closed backend = %v; want ErrClosed", err)
	}
	if n := b.inflight.Load(); n != 0 {
		t.Errorf("%d snapshots in flight after the only one was refused", n)
	}
}

// A delta is encoded into a file in the backend's directory as a full
// snapshot is, a flushBytes at a time, and uploaded and kept from it.
func TestDeltaStreamsToAFile(t *testing.T) {
	const keys = 400_000 // 13 MB encoded
	r := keygroup.Range{Start: 0, End: keygroup.DefaultMaxParallelism}
	dir := filepath.Join(t.TempDir(), "heap")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	b := NewIncremental(r, dir)
	s, err := b.Register("count", statebackend.KindValue)
	if err != nil {
		t.Fatal(err)
	}
	for i := range keys {
		k := fmt.Appendf(nil, "w%015d", i)
		b.SetCurrentKey(k, keygroup.Of(keygroup.Hash(k), r.End))
		b.Put(s, k)
	}
	canonical, err := b.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	fs, err := file.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	st := storeIn{fs}
	// The backend started empty: its first checkpoint is a delta of
	// every write.
	ns, err := b.NativeSnapshot(1, 0)
	if err != nil {
		t.Fatal(err)
	}
	p, c, obj := persistStreamed(t, ns, st, "a delta")
	if p.Whole != "" || p.Uploaded < keys*16 {
		t.Fatalf("checkpoint 1 uploaded %d bytes, whole because %q; want a delta of every key", p.Uploaded, p.Whole)
	}
	restored := NewIncremental(r, "")
	if err := restored.RestoreNative(1, c, Objects([][]byte{obj})); err != nil {
		t.Fatal(err)
	}
	got, err := restored.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if g, w := snapshotEntries(t, got), snapshotEntries(t, canonical); !slices.Equal(g, w) {
		t.Fatalf("the delta restores %d entries, not %d", len(g), len(w))
	}
	local := filepath.Join(t.TempDir(), "chk-1")
	if err := ns.Keep(local); err != nil {
		t.Fatal(err)
	}
	if kept, err := os.ReadFile(filepath.Join(local, LocalName(p.Shared[0]))); err != nil || !bytes.Equal(kept, obj) {
		t.Fatalf("the local copy is not the object uploaded (%d bytes, %v)", len(kept), err)
	}
	if err := ns.Discard(); err != nil {
		t.Fatal(err)
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("after the checkpoint the backend's directory holds %d files", len(left))
	}
}

// persistStreamed persists ns into st, which must allocate no more than
// about flushBytes, and returns what it persisted, its chain and the
// object it uploaded.
func persistStreamed(t *testing.T, ns statebackend.NativeSnapshot, st storeIn, what string) (statebackend.Persisted, Chain, []byte) {
	t.Helper()
	var p statebackend.Persisted
	var err error
	_, allocs := allocated(func() { p, err = ns.Persist(context.Background(), st, 0) })
	if err != nil {
		t.Fatal(err)
	}
	if allocs > 4<<20 {
		t.Errorf("persisting %s of %d bytes allocated %d bytes; want about %d", what, p.Uploaded, allocs, flushBytes)
	}
	c, err := DecodeNative(p.Keyed)
	if err != nil {
		t.Fatal(err)
	}
	obj, err := st.st.Get(context.Background(), p.Shared[len(p.Shared)-1])
	if err != nil {
		t.Fatal(err)
	}
	return p, c, obj
}

// BenchmarkRestoreChain restores a chain of 2M words' counts written in
// four checkpoints' deltas into an empty backend, as a restore of
// incremental checkpoints does: the apply, per key.
func BenchmarkRestoreChain(b *testing.B) {
	const n, deltas = 2_000_000, 4
	c, objs := wordCountChain(b, n, deltas)
	b.SetBytes(c.bytes())
	for b.Loop() {
		restored := NewIncremental(keygroup.Range{Start: 0, End: keygroup.DefaultMaxParallelism}, "")
		if err := restored.RestoreNative(deltas, c, Objects(objs)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/key")
}

// wordCountChain writes n words' counts into a backend that started empty,
// a deltas-th of them before each of deltas checkpoints, and returns the
// last one's chain: deltas objects.
func wordCountChain(tb testing.TB, n, deltas int) (Chain, [][]byte) {
	tb.Helper()
	r := keygroup.Range{Start: 0, End: keygroup.DefaultMaxParallelism}
	be := NewIncremental(r, "")
	s, err := be.Register("count", statebackend.KindValue)
	if err != nil {
		tb.Fatal(err)
	}
	st := newMemStore()
	var key [16]byte
	var value [24]byte
	var p statebackend.Persisted
	for id := range int64(deltas) {
		for i := int(id) * n / deltas; i < int(id+1)*n/deltas; i++ {
			k := fmt.Appendf(key[:0], "w%015d", i)
			copy(value[:], k)
			binary.LittleEndian.PutUint64(value[16:], 1)
			be.SetCurrentKey(k, keygroup.Of(keygroup.Hash(k), r.End))
			be.Put(s, value[:])
		}
		ns, err := be.NativeSnapshot(id+1, id)
		if err != nil {
			tb.Fatal(err)
		}
		if p, err = ns.Persist(context.Background(), st, id); err != nil {
			tb.Fatal(err)
		}
		if err := ns.Discard(); err != nil {
			tb.Fatal(err)
		}
	}
	c, objs := st.objects(tb, p)
	if len(objs) != deltas {
		tb.Fatalf("a chain of %d objects, want %d deltas", len(objs), deltas)
	}
	return c, objs
}
