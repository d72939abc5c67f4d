package pebble

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"

	"github.com/weirstream/weir/internal/keygroup"
	"github.com/weirstream/weir/internal/statebackend"
)

// memShared is a SharedStore in memory that counts what it is given.
type memShared struct {
	mu      sync.Mutex
	scope   string
	objects map[string][]byte
	fail    error           // returned by PutShared when set
	files   map[string]bool // objects put from files (PutSharedFile)
}

func newMemShared() *memShared {
	return &memShared{scope: "mem|job", objects: map[string][]byte{}, files: map[string]bool{}}
}

func (m *memShared) Scope() string { return m.scope }

func (m *memShared) PutShared(_ context.Context, data []byte) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return "", m.fail
	}
	name := fmt.Sprintf("shared/%016x", len(m.objects)+1)
	m.objects[name] = bytes.Clone(data)
	return name, nil
}

func (m *memShared) PutSharedFile(ctx context.Context, path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	name, err := m.PutShared(ctx, data)
	if err == nil {
		m.mu.Lock()
		m.files[name] = true
		m.mu.Unlock()
	}
	return name, err
}

func (m *memShared) fetch(_ context.Context, object string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	d, ok := m.objects[object]
	if !ok {
		return nil, fmt.Errorf("%s: not found", object)
	}
	return d, nil
}

// fill writes n keys of value, list and map state, with 100-byte values.
func fill(b *Backend, from, n int) {
	v, _ := b.Register("v", statebackend.KindValue)
	l, _ := b.Register("l", statebackend.KindList)
	m, _ := b.Register("m", statebackend.KindMap)
	val := bytes.Repeat([]byte("x"), 100)
	for i := from; i < from+n; i++ {
		key := fmt.Appendf(nil, "key-%08d", i)
		b.SetCurrentKey(key, i%keygroup.DefaultMaxParallelism)
		b.Put(v, append(val[:90:90], key[:10]...))
		if i%10 == 0 {
			b.Append(l, key)
			b.MapPut(m, key, val[:20])
		}
	}
}

func snapshotOf(t *testing.T, b *Backend) []byte {
	t.Helper()
	s, err := b.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// persistManifest persists ns without a base and decodes its manifest.
func persistManifest(t *testing.T, ns statebackend.NativeSnapshot) *Native {
	t.Helper()
	p, err := ns.Persist(context.Background(), newMemShared(), 0)
	if err != nil {
		t.Fatal(err)
	}
	n, err := DecodeNative(p.Keyed)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func persist(t *testing.T, b *Backend, id, base int64, st *memShared) statebackend.Persisted {
	t.Helper()
	ns, err := b.NativeSnapshot(id, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ns.Discard() }()
	p, err := ns.Persist(context.Background(), st, base)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// A second native snapshot of mostly unchanged state uploads a small
// fraction of the first: only the SSTs written since; the rest are
// referenced again.
func TestNativeSnapshotUploadsOnlyNewFiles(t *testing.T) {
	all := keygroup.Range{Start: 0, End: keygroup.DefaultMaxParallelism}
	b := open(t, nil, all, Options{MemoryBytes: 1 << 20})
	defer func() { _ = b.Close() }()
	st := newMemShared()
	fill(b, 0, 40000)
	// Compacted, so that no compaction rewrites the files between the two
	// snapshots: the test measures what reuse saves, not Pebble's
	// compaction schedule (a compaction's output is uploaded anew).
	if err := b.db.Compact(context.Background(), []byte{0}, []byte{0xff, 0xff, 0xff}, false); err != nil {
		t.Fatal(err)
	}
	first := persist(t, b, 1, 0, st)
	fill(b, 100000, 200) // a few new keys
	second := persist(t, b, 2, 1, st)
	t.Logf("first uploaded %d bytes (full %d), second %d (full %d)", first.Uploaded, first.Full, second.Uploaded, second.Full)
	if first.Uploaded < 512<<10 || first.Uploaded != first.Full-inlineBytes(t, first) {
		t.Fatalf("first snapshot uploaded %d bytes of %d", first.Uploaded, first.Full)
	}
	if second.Uploaded*20 > first.Uploaded {
		t.Fatalf("second snapshot uploaded %d bytes, more than 5%% of the first's %d", second.Uploaded, first.Uploaded)
	}
	// Without a base (or with a base of another scope) everything is
	// uploaded again.
	other := newMemShared()
	other.scope = "mem|other-job"
	if third := persist(t, b, 3, 2, other); third.Uploaded != third.Full-inlineBytes(t, third) {
		t.Fatalf("a snapshot in another scope uploaded %d of %d bytes", third.Uploaded, third.Full)
	}
}

func inlineBytes(t *testing.T, p statebackend.Persisted) int64 {
	n, err := DecodeNative(p.Keyed)
	if err != nil {
		t.Fatal(err)
	}
	var s int64
	for _, d := range n.Inline {
		s += int64(len(d))
	}
	return s
}

// A native snapshot restores (same key groups) to exactly the state it was
// taken of, with the registry's StateIDs, and converts to the same
// canonical snapshot; the restored backend references the restored shared
// objects again.
func TestNativeRoundTrip(t *testing.T) {
	r := keygroup.Range{Start: 0, End: keygroup.DefaultMaxParallelism}
	b := open(t, nil, r, Options{MemoryBytes: 1 << 20, WAL: true})
	defer func() { _ = b.Close() }()
	// Another registration order than fill's, so the StateIDs differ from
	// a fresh backend's order.
	if _, err := b.Register("m", statebackend.KindMap); err != nil {
		t.Fatal(err)
	}
	st := newMemShared()
	fill(b, 0, 20000)
	persist(t, b, 1, 0, st)
	fill(b, 5000, 100)
	// Compacted, so that the restored database has no compaction to do
	// before the snapshot that follows the restore.
	if err := b.db.Compact(context.Background(), []byte{0}, []byte{0xff, 0xff, 0xff}, false); err != nil {
		t.Fatal(err)
	}
	p := persist(t, b, 2, 1, st)
	want := snapshotOf(t, b)

	n, err := DecodeNative(p.Keyed)
	if err != nil {
		t.Fatal(err)
	}
	// On disk, SSTs are handed to the store as files, not read whole;
	// the log's bytes are in memory already.
	for _, f := range n.Shared {
		if sst := strings.HasSuffix(f.Name, ".sst"); st.files[f.Object] != sst {
			t.Errorf("%s (an SST: %v) uploaded from its file: %v", f.Name, sst, st.files[f.Object])
		}
	}
	dir := filepath.Join(t.TempDir(), "restored")
	if _, err := n.Materialize(context.Background(), dir, Source{Fetch: st.fetch}); err != nil {
		t.Fatal(err)
	}
	rb, err := OpenNative(dir, r, n, 2, st.Scope(), Options{WAL: true})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = rb.Close() }()
	if got := snapshotOf(t, rb); !bytes.Equal(got, want) {
		t.Fatalf("restored state differs: %d bytes, want %d", len(got), len(want))
	}
	// Writes go to the states the keys name.
	id, err := rb.Register("v", statebackend.KindValue)
	if err != nil {
		t.Fatal(err)
	}
	rb.SetCurrentKey([]byte("key-00000001"), 1)
	if v, ok := rb.Get(id); !ok || !bytes.HasSuffix(v, []byte("key-000000")) {
		t.Fatalf("Get after restore = %q, %v", v, ok)
	}
	// The restored backend's next snapshot uploads little.
	before := len(st.objects)
	fill(rb, 200000, 10)
	if p3 := persist(t, rb, 3, 2, st); p3.Uploaded*10 > p.Full {
		t.Fatalf("the first snapshot after a restore uploaded %d bytes of %d", p3.Uploaded, p3.Full)
	}
	if len(st.objects)-before > 2 {
		t.Fatalf("the first snapshot after a restore uploaded %d objects", len(st.objects)-before)
	}

	// Conversion to canonical, as a rescale or a heap restore does.
	dir2 := filepath.Join(t.TempDir(), "convert")
	if _, err := n.Materialize(context.Background(), dir2, Source{Fetch: st.fetch}); err != nil {
		t.Fatal(err)
	}
	canon, err := Canonical(dir2, n, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(canon, want) {
		t.Fatal("the canonical conversion differs from the backend's snapshot")
	}
}

// With the write-ahead log a native snapshot flushes nothing: the writes
// still in the memtable reach it through its copy of the log, the writes
// after the barrier do not, and the restore — from the fetched files or
// from the kept local copy — replays the log.
func TestNativeSnapshotCopiesTheLog(t *testing.T) {
	r := keygroup.Range{Start: 0, End: keygroup.DefaultMaxParallelism}
	b := open(t, nil, r, Options{MemoryBytes: 1 << 20, WAL: true})
	defer func() { _ = b.Close() }()
	st := newMemShared()
	fill(b, 0, 2000)
	// Flushed, so that the writes below are the memtable's only content
	// and no flush of earlier writes is left to run during the snapshot.
	if err := b.flush(); err != nil {
		t.Fatal(err)
	}
	v, _ := b.Register("v", statebackend.KindValue)
	put := func(key, value string) {
		b.SetCurrentKey([]byte(key), 7)
		b.Put(v, []byte(value))
	}
	put("barrier", "before")
	put("deleted-after", "kept")
	fill(b, 10000, 10)
	want := snapshotOf(t, b)
	flushes := b.db.Metrics().Flush.Count
	ns, err := b.NativeSnapshot(1, 0)
	if err != nil {
		t.Fatal(err)
	}
	if n := b.db.Metrics().Flush.Count - flushes; n != 0 {
		t.Fatalf("NativeSnapshot flushed %d times", n)
	}
	// The task resumes before the upload.
	put("barrier", "after")
	b.SetCurrentKey([]byte("deleted-after"), 7)
	b.Delete(v)
	fill(b, 20000, 10)
	p, err := ns.Persist(context.Background(), st, 0)
	if err != nil {
		t.Fatal(err)
	}
	local := filepath.Join(t.TempDir(), "local")
	if err := ns.Keep(local); err != nil {
		t.Fatal(err)
	}
	n, err := DecodeNative(p.Keyed)
	if err != nil {
		t.Fatal(err)
	}
	for _, src := range []struct {
		name string
		src  Source
	}{
		{"fetched", Source{Fetch: st.fetch}},
		{"local", Source{Fetch: st.fetch, Local: func(name string) (string, bool) { return filepath.Join(local, name), true }}},
	} {
		dir := filepath.Join(t.TempDir(), src.name)
		if _, err := n.Materialize(context.Background(), dir, src.src); err != nil {
			t.Fatal(err)
		}
		rb, err := OpenNative(dir, r, n, 1, st.Scope(), Options{WAL: true})
		if err != nil {
			t.Fatal(err)
		}
		got := snapshotOf(t, rb)
		if err := rb.Close(); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("restored from the %s files: state differs from the barrier's", src.name)
		}
	}
}

// The MANIFEST a native snapshot copies and inlines does not grow with
// every flush and compaction the database has run: Pebble starts a new
// one past maxManifestBytes.
func TestNativeSnapshotManifestStaysSmall(t *testing.T) {
	defer func(n int64) { maxManifestBytes = n }(maxManifestBytes)
	const limit = 8 << 10
	maxManifestBytes = limit
	r := keygroup.Range{Start: 0, End: keygroup.DefaultMaxParallelism}
	b := open(t, nil, r, Options{MemoryBytes: MinMemoryBytes, WAL: true})
	defer func() { _ = b.Close() }()
	// 400 flushes, each an edit of the MANIFEST, and the compactions they
	// bring on: some 40 KB of edits, more with the compactions'.
	for i := range 400 {
		fill(b, i*20, 20)
		if err := b.flush(); err != nil {
			t.Fatal(err)
		}
	}
	ns, err := b.NativeSnapshot(1, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ns.Discard() }()
	n := persistManifest(t, ns)
	var manifests int
	for name, data := range n.Inline {
		if strings.HasPrefix(name, "MANIFEST-") {
			manifests++
			// The limit, plus the edits until they name more files than
			// the database holds, plus the live files a new MANIFEST
			// starts with (without a limit, 40 KB).
			if len(data) > 3*limit {
				t.Errorf("%s: %d bytes, want a new MANIFEST past %d", name, len(data), limit)
			}
		}
	}
	if manifests != 1 {
		t.Errorf("the snapshot holds %d MANIFESTs, want 1", manifests)
	}
}

// A damaged shared object is refused, and a restore at other key groups
// is refused.
func TestNativeRestoreRefusesDamage(t *testing.T) {
	r := keygroup.Range{Start: 0, End: keygroup.DefaultMaxParallelism}
	b := open(t, nil, r, Options{})
	defer func() { _ = b.Close() }()
	st := newMemShared()
	fill(b, 0, 1000)
	p := persist(t, b, 1, 0, st)
	n, err := DecodeNative(p.Keyed)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range st.objects {
		d[len(d)/2] ^= 1
	}
	_, err = n.Materialize(context.Background(), filepath.Join(t.TempDir(), "x"), Source{Fetch: st.fetch})
	if !errors.Is(err, ErrDamaged) {
		t.Fatalf("Materialize of a damaged object: %v, want ErrDamaged", err)
	}
	if _, err := OpenNative(t.TempDir(), keygroup.Range{Start: 0, End: 64}, n, 1, st.Scope(), Options{}); err == nil {
		t.Fatal("OpenNative at other key groups succeeded")
	}
	if _, err := DecodeNative(p.Keyed[:len(p.Keyed)-3]); err == nil {
		t.Fatal("DecodeNative of a truncated manifest succeeded")
	}
}

// Only a snapshot whose uploads all succeeded becomes a base: after a
// failed upload, the next snapshot based on it uploads everything.
func TestNativeFailedUploadIsNoBase(t *testing.T) {
	r := keygroup.Range{Start: 0, End: keygroup.DefaultMaxParallelism}
	b := open(t, nil, r, Options{})
	defer func() { _ = b.Close() }()
	st := newMemShared()
	fill(b, 0, 2000)
	ns, err := b.NativeSnapshot(1, 0)
	if err != nil {
		t.Fatal(err)
	}
	st.fail = errors.New("injected")
	if _, err := ns.Persist(context.Background(), st, 0); err == nil {
		t.Fatal("Persist with a failing store succeeded")
	}
	_ = ns.Discard()
	st.fail = nil
	if p := persist(t, b, 2, 1, st); p.Uploaded == 0 || p.Uploaded != p.Full-inlineBytes(t, p) {
		t.Fatalf("a snapshot based on a failed one uploaded %d of %d bytes", p.Uploaded, p.Full)
	}
}

// A single fault at each file system operation of a native snapshot (the
// write-ahead log's buffered tail, Pebble's checkpoint and its copy of the
// log, reading its files for upload): the snapshot
// either fails — NativeSnapshot stops the backend, or Persist reports it —
// or restores to exactly the state it was taken of. Never a silently wrong
// snapshot.
func TestNativeSnapshotFaults(t *testing.T) {
	var armed, logWrite atomic.Bool
	var ops, failAt atomic.Int64
	var failedOp atomic.Value
	// Syncs never reach the file system (noSyncFS).
	inj := errorfs.InjectorFunc(func(op errorfs.Op) error {
		if armed.Load() && op.Kind == errorfs.OpFileWrite && strings.HasPrefix(op.Path, "/state/") && strings.HasSuffix(op.Path, ".log") {
			logWrite.Store(true)
		}
		if armed.Load() && ops.Add(1) == failAt.Load() {
			failedOp.Store(fmt.Sprintf("%v %s", op.Kind, op.Path))
			return errorfs.ErrInjected
		}
		return nil
	})
	run := func(at int64) (failed bool) {
		fs := vfs.NewMem()
		b, err := Open("/state", faultRange, Options{FS: errorfs.Wrap(fs, inj), MemoryBytes: 1 << 20, Logger: quiet, WAL: true})
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = b.Close() }()
		fill(b, 0, 500)
		want := snapshotOf(t, b)
		st := newMemShared()
		ops.Store(0)
		failAt.Store(at)
		armed.Store(true)
		ns, err := b.NativeSnapshot(1, 0)
		var p statebackend.Persisted
		if err == nil {
			p, err = ns.Persist(context.Background(), st, 0)
			_ = ns.Discard()
		}
		armed.Store(false)
		if err != nil {
			if !errors.Is(err, errorfs.ErrInjected) && !errors.Is(err, ErrFailed) {
				t.Fatalf("fault at op %d: %v, want the injected error or the backend's failure", at, err)
			}
			return true
		}
		n, err := DecodeNative(p.Keyed)
		if err != nil {
			t.Fatal(err)
		}
		dir := filepath.Join(t.TempDir(), "restored")
		if _, err := n.Materialize(context.Background(), dir, Source{Fetch: st.fetch}); err != nil {
			t.Fatal(err)
		}
		got, err := Canonical(dir, n, Options{Logger: quiet})
		if err != nil {
			t.Fatalf("fault at op %d (%v): the snapshot succeeded but does not restore: %v", at, failedOp.Load(), err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("fault at op %d (%v): the snapshot succeeded but restores to other state", at, failedOp.Load())
		}
		return false
	}
	run(-1) // counts the operations
	total := ops.Load()
	if !logWrite.Load() {
		t.Fatal("the snapshot wrote nothing to the database's write-ahead log: the sweep misses the log's flush")
	}
	failures := 0
	for at := int64(1); at <= total; at++ {
		if run(at) {
			failures++
		}
	}
	t.Logf("%d operations, %d faults failed the snapshot", total, failures)
	if failures == 0 {
		t.Fatal("no injected fault failed the snapshot")
	}
}

// BenchmarkNativeRestore measures restoring a native snapshot of 1 M
// counters: from storage (the shared objects in memory: what a restore
// adds to the download) and from a local copy (hard links). s/GB is per GB
// of the canonical snapshot of the same state, as BenchmarkRestore's.
func BenchmarkNativeRestore(b *testing.B) {
	c := newCounters(b, 1_000_000)
	// Compacted first, so that no compaction of the source competes with
	// the restores for the CPU.
	if err := c.b.db.Compact(context.Background(), []byte{0}, []byte{0xff, 0xff, 0xff}, false); err != nil {
		b.Fatal(err)
	}
	canonical, err := c.b.Snapshot()
	if err != nil {
		b.Fatal(err)
	}
	st := newMemShared()
	ns, err := c.b.NativeSnapshot(1, 0)
	if err != nil {
		b.Fatal(err)
	}
	p, err := ns.Persist(context.Background(), st, 0)
	if err != nil {
		b.Fatal(err)
	}
	local := filepath.Join(b.TempDir(), "copy")
	if err := ns.Keep(local); err != nil {
		b.Fatal(err)
	}
	n, err := DecodeNative(p.Keyed)
	if err != nil {
		b.Fatal(err)
	}
	r := keygroup.Range{Start: 0, End: keygroup.DefaultMaxParallelism}
	for _, bc := range []struct {
		name string
		src  Source
	}{
		{"storage", Source{Fetch: st.fetch}},
		{"local", Source{Fetch: st.fetch, Local: func(name string) (string, bool) { return filepath.Join(local, name), true }}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(canonical)))
			var elapsed time.Duration
			for b.Loop() {
				start := time.Now()
				dir := filepath.Join(b.TempDir(), "db")
				if _, err := n.Materialize(context.Background(), dir, bc.src); err != nil {
					b.Fatal(err)
				}
				be, err := OpenNative(dir, r, n, 1, st.Scope(), Options{})
				if err != nil {
					b.Fatal(err)
				}
				elapsed += time.Since(start)
				b.StopTimer()
				if err := be.Close(); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
			b.ReportMetric(elapsed.Seconds()/float64(b.N)/(float64(len(canonical))/1e9), "s/GB")
			b.ReportMetric(float64(p.Full), "native-bytes")
		})
	}
}

// BenchmarkNativeCheckpointUpload measures the bytes two consecutive
// incremental checkpoints of 1 M counters upload when 1% of the counters
// change between them. The counters are compacted first, as the bulk of a
// long-running job's state sits in the bottom level, which compactions of
// new data rarely rewrite.
func BenchmarkNativeCheckpointUpload(b *testing.B) {
	for b.Loop() {
		b.StopTimer()
		c := newCounters(b, 1_000_000)
		if err := c.b.db.Compact(context.Background(), []byte{0}, []byte{0xff, 0xff, 0xff}, false); err != nil {
			b.Fatal(err)
		}
		st := newMemShared()
		b.StartTimer()
		first := persistB(b, c.b, 1, 0, st)
		for i := 0; i < len(c.keys); i += 100 {
			c.incValue(i)
		}
		second := persistB(b, c.b, 2, 1, st)
		b.ReportMetric(float64(first.Uploaded), "first-uploaded-bytes")
		b.ReportMetric(float64(second.Uploaded), "second-uploaded-bytes")
		b.ReportMetric(float64(second.Full), "second-full-bytes")
	}
}

// BenchmarkNativeSnapshotPause measures the synchronous part of an
// incremental checkpoint, NativeSnapshot, which the task pauses for at a
// barrier: 1 M counters in a backend with its write-ahead log on, as the
// taskmanager opens one for incremental checkpoints, and between two
// checkpoints 100,000 updates of random counters (a second of a busy
// task). Each checkpoint is persisted and discarded before the next, off
// the clock. In "busy", as many goroutines as there are Ps spin while the
// snapshot is taken, as a job's other tasks and Pebble's compactions keep
// a loaded taskmanager's CPUs busy: the pause then also holds the time
// the task's goroutine waits for a P, after each system call whose P the
// runtime handed to another goroutine. Metrics: the pause's p50 and p99
// (ms), and the bytes of the small files the checkpoint copies and
// inlines (the log and the MANIFEST among them) at the last checkpoint.
func BenchmarkNativeSnapshotPause(b *testing.B) {
	b.Run("idle", func(b *testing.B) { benchmarkNativeSnapshotPause(b, 0) })
	b.Run("busy", func(b *testing.B) { benchmarkNativeSnapshotPause(b, runtime.GOMAXPROCS(0)) })
}

func benchmarkNativeSnapshotPause(b *testing.B, spinners int) {
	c := newCountersWith(b, 1_000_000, Options{WAL: true})
	st := newMemShared()
	rng := rand.New(rand.NewPCG(1, 2))
	var pauses []time.Duration
	var inline int
	var id int64
	for b.Loop() {
		b.StopTimer()
		for range 100_000 {
			c.incValue(rng.IntN(len(c.keys)))
		}
		id++
		stop := spin(spinners)
		b.StartTimer()
		start := time.Now()
		ns, err := c.b.NativeSnapshot(id, id-1)
		pauses = append(pauses, time.Since(start))
		b.StopTimer()
		stop()
		if err != nil {
			b.Fatal(err)
		}
		p, err := ns.Persist(context.Background(), st, id-1)
		if err != nil {
			b.Fatal(err)
		}
		if err := ns.Discard(); err != nil {
			b.Fatal(err)
		}
		n, err := DecodeNative(p.Keyed)
		if err != nil {
			b.Fatal(err)
		}
		inline = 0
		for _, d := range n.Inline {
			inline += len(d)
		}
		b.StartTimer()
	}
	slices.Sort(pauses)
	ms := func(q int) float64 { return float64(pauses[(len(pauses)*q+99)/100-1].Microseconds()) / 1e3 }
	b.ReportMetric(ms(50), "pause-p50-ms")
	b.ReportMetric(ms(99), "pause-p99-ms")
	b.ReportMetric(float64(inline), "inline-bytes")
	b.ReportMetric(0, "ns/op")
}

// spin starts n goroutines that keep a P busy until the returned stop is
// called, and waits until they all run.
func spin(n int) (stop func()) {
	var done atomic.Bool
	var started, wg sync.WaitGroup
	started.Add(n)
	for range n {
		wg.Go(func() {
			started.Done()
			x := uint64(1)
			for !done.Load() {
				for range 1000 {
					x = x*6364136223846793005 + 1442695040888963407
				}
			}
			_ = x
		})
	}
	started.Wait()
	return func() { done.Store(true); wg.Wait() }
}

func persistB(b *testing.B, be *Backend, id, base int64, st *memShared) statebackend.Persisted {
	ns, err := be.NativeSnapshot(id, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = ns.Discard() }()
	p, err := ns.Persist(context.Background(), st, base)
	if err != nil {
		b.Fatal(err)
	}
	return p
}

// TestMaterializeStopsAtTheFirstFailure: a download that fails cancels the
// others in flight, and Materialize returns its error without waiting for
// them to finish on their own.
func TestMaterializeStopsAtTheFirstFailure(t *testing.T) {
	n := &Native{}
	for i := range 3 * fetchParallelism {
		n.Shared = append(n.Shared, SharedFile{Name: fmt.Sprintf("%06d.sst", i), Object: fmt.Sprintf("obj-%d", i), Size: 1})
	}
	broken := errors.New("connection reset")
	var started atomic.Int32
	fetch := func(ctx context.Context, object string) ([]byte, error) {
		// The last download of the first round fails; the others wait for
		// the restore to be canceled.
		if started.Add(1) == fetchParallelism {
			return nil, broken
		}
		<-ctx.Done()
		return nil, ctx.Err()
	}
	done := make(chan error, 1)
	go func() {
		_, err := n.Materialize(t.Context(), filepath.Join(t.TempDir(), "x"), Source{Fetch: fetch})
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, broken) {
			t.Fatalf("Materialize = %v, want the failed download's error", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Materialize still waits for downloads after one failed")
	}
}

// writeFile writes a file of data into fs.
func writeFile(t *testing.T, fs vfs.FS, name string, data []byte) {
	t.Helper()
	f, err := fs.Create(name, vfs.WriteCategoryUnspecified)
	if err != nil {
		t.Fatal(err)
	}
	// Pebble's checks (under -race) scribble over a written buffer.
	if _, err := f.Write(bytes.Clone(data)); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestReadFileInto(t *testing.T) {
	fs := vfs.NewMem()
	write := func(name string, data []byte) { writeFile(t, fs, name, data) }
	big := bytes.Repeat([]byte("0123456789abcdef"), 64<<10) // 1 MiB
	write("empty", nil)
	write("big", big)
	write("small", big[:1000])

	var buf []byte
	for _, c := range []struct {
		name string
		want []byte
	}{{"empty", nil}, {"big", big}, {"small", big[:1000]}, {"big", big}} {
		got, err := readFileInto(fs, c.name, &buf)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if !bytes.Equal(got, c.want) {
			t.Fatalf("%s: read %d bytes, want %d", c.name, len(got), len(c.want))
		}
	}
	// The buffer grew once, to the big file, and was reused after it.
	if cap(buf) != len(big)+1 {
		t.Errorf("buffer capacity %d, want %d", cap(buf), len(big)+1)
	}
	first := &buf[0]
	if _, err := readFileInto(fs, "small", &buf); err != nil || &buf[0] != first {
		t.Errorf("a smaller file did not reuse the buffer (err %v)", err)
	}
	if _, err := readFileInto(fs, "absent", &buf); err == nil || !strings.Contains(err.Error(), "absent") {
		t.Errorf("reading an absent file: %v, want an error naming it", err)
	}
}

// BenchmarkNativeEncode encodes the manifest of a native snapshot as a
// busy incremental checkpoint's is: an 8 MiB write-ahead log and a
// 128 KiB MANIFEST inlined, 300 shared files.
func BenchmarkNativeEncode(b *testing.B) {
	n := Native{Groups: keygroup.Range{Start: 0, End: 128}, Inline: map[string][]byte{
		"000123.log": make([]byte, 8<<20), "MANIFEST-000045": make([]byte, 128<<10), "OPTIONS-000007": make([]byte, 4<<10)}}
	for i := range 300 {
		n.Shared = append(n.Shared, SharedFile{Name: fmt.Sprintf("%06d.sst", i), Object: fmt.Sprintf("shared/%032x", i), Size: 4 << 20, CRC: uint32(i)})
	}
	b.ReportAllocs()
	for b.Loop() {
		if len(n.encode()) < 8<<20 {
			b.Fatal("short encoding")
		}
	}
}
