package pebble

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/weirstream/weir/internal/invariant"
	"github.com/weirstream/weir/internal/keygroup"
	"github.com/weirstream/weir/internal/statebackend"
	"github.com/weirstream/weir/internal/statebackend/heap"
	"github.com/weirstream/weir/internal/statebackend/statebackendtest"
)

// open opens a backend in a fresh directory of fs (the real file system
// when fs is nil), failing tb on error. The caller closes it.
func open(tb testing.TB, fs vfs.FS, r keygroup.Range, opts Options) *Backend {
	tb.Helper()
	dir := filepath.Join(tb.TempDir(), "state")
	if fs != nil {
		opts.FS = fs
	}
	b, err := Open(dir, r, opts)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func TestConformance(t *testing.T) {
	statebackendtest.Run(t, func(t *testing.T, r keygroup.Range) statebackend.KeyedBackend {
		return open(t, nil, r, Options{})
	})
}

// The suite again on an in-memory file system with a memtable small enough
// that the data of most subtests is flushed to sstables and compacted.
func TestConformanceSmallMemtable(t *testing.T) {
	statebackendtest.Run(t, func(t *testing.T, r keygroup.Range) statebackend.KeyedBackend {
		return open(t, vfs.NewMem(), r, Options{MemoryBytes: 512 << 10})
	})
}

// metamorphicSeeds is how many seeds TestMetamorphic runs; -short runs
// fewer.
const metamorphicSeeds = 300

func TestMetamorphic(t *testing.T) {
	seeds := metamorphicSeeds
	if testing.Short() {
		seeds = 30
	}
	newHeap := func(t *testing.T, r keygroup.Range) statebackend.KeyedBackend { return heap.New(r) }
	newPebble := func(t *testing.T, r keygroup.Range) statebackend.KeyedBackend {
		// A small memory budget, so that flushes and compactions run in the
		// middle of the sequence, not only memtable reads.
		return open(t, vfs.NewMem(), r, Options{MemoryBytes: 256 << 10})
	}
	for seed := range int64(seeds) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			statebackendtest.Metamorphic(t, seed, newHeap, newPebble)
		})
	}
}

func TestOpenRefusesNonEmptyDir(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "leftover"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if b, err := Open(dir, keygroup.Range{Start: 0, End: 128}, Options{}); err == nil {
		_ = b.Close()
		t.Fatal("Open of a directory holding a file succeeded; want an error: the file may be another attempt's state")
	}
}

func TestCloseRemovesDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	b, err := Open(dir, keygroup.Range{Start: 0, End: 128}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	v, _ := b.Register("v", statebackend.KindValue)
	b.SetCurrentKey([]byte("k"), 3)
	b.Put(v, []byte("x"))
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Stat(%s) after Close = %v; want not exist", dir, err)
	}
	if err := b.Close(); err != nil {
		t.Fatalf("second Close = %v; want nil", err)
	}
}

// A key group outside the backend's range means the key was routed to the
// wrong subtask: under -tags invariants SetCurrentKey panics; otherwise the
// backend stops, rather than store state under a key group it does not own.
func TestKeyGroupOutsideRangeStopsBackend(t *testing.T) {
	r := keygroup.Range{Start: 16, End: 48}
	for _, kg := range []int{-1, 0, r.Start - 1, r.End, keygroup.DefaultMaxParallelism} {
		b := open(t, vfs.NewMem(), r, Options{})
		v, _ := b.Register("v", statebackend.KindValue)
		panicked := func() (p bool) {
			defer func() { p = recover() != nil }()
			b.SetCurrentKey([]byte("k"), kg)
			return false
		}()
		switch {
		case invariant.Enabled && !panicked:
			t.Errorf("SetCurrentKey(k, %d) on a backend for %s did not panic under -tags invariants", kg, r)
		case !invariant.Enabled && panicked:
			t.Errorf("SetCurrentKey(k, %d) panicked without -tags invariants", kg)
		case !invariant.Enabled:
			b.Put(v, []byte("x"))
			if err := b.Err(); !errors.Is(err, ErrFailed) {
				t.Errorf("Err() after SetCurrentKey(k, %d) on a backend for %s = %v; want ErrFailed", kg, r, err)
			}
			if _, err := b.Snapshot(); err == nil {
				t.Errorf("Snapshot after SetCurrentKey(k, %d) succeeded", kg)
			}
		}
		if err := b.Close(); err != nil {
			t.Error(err)
		}
	}
}

// The key layout puts the key group first, so that a key-group range is a
// contiguous key range, and keeps a key's state apart from a longer key's.
func TestKeyLayout(t *testing.T) {
	k := appendKeyPrefix(nil, 0x0102, 3, []byte("key"))
	if want := []byte{0x01, 0x02, 0x00, 0x03, 3, 'k', 'e', 'y'}; !bytes.Equal(k, want) {
		t.Fatalf("appendKeyPrefix = %x; want %x", k, want)
	}
	d, err := decodeKey(append(k, "uk"...))
	if err != nil || d.kg != 0x0102 || d.state != 3 || string(d.key) != "key" || string(d.userKey) != "uk" {
		t.Fatalf("decodeKey = %+v, %v", d, err)
	}
	for _, key := range []string{"", "a", "a\xff", "\xff\xff"} {
		p := appendKeyPrefix(nil, 7, 1, []byte(key))
		end := appendPrefixEnd(nil, p)
		for _, inside := range []string{"", "x", "\xff\xff\xff"} {
			if k := append(bytes.Clone(p), inside...); bytes.Compare(k, p) < 0 || bytes.Compare(k, end) >= 0 {
				t.Errorf("key %q, user key %q: %x outside [%x, %x)", key, inside, k, p, end)
			}
		}
		longer := appendKeyPrefix(nil, 7, 1, []byte(key+"\x00"))
		if bytes.Compare(longer, p) >= 0 && bytes.Compare(longer, end) < 0 {
			t.Errorf("key %q: the prefix of key %q lies in its range", key, key+"\x00")
		}
	}
}

// TestLargerThanMemory writes 50 MB of state with a 4 MiB budget to the real
// file system, reads it all back, and checks that the Go heap stays bounded.
// Under the race detector, which slows Pebble down tenfold, it writes the
// same bytes in a quarter of the keys.
func TestLargerThanMemory(t *testing.T) {
	const (
		budget    = 4 << 20
		heapBound = 64 << 20
	)
	numKeys, valueBytes := 200_000, 256
	if raceEnabled {
		numKeys, valueBytes = 50_000, 1024
	}
	if testing.Short() {
		t.Skip("writes 50 MB")
	}
	b := open(t, nil, keygroup.Range{Start: 0, End: keygroup.DefaultMaxParallelism}, Options{MemoryBytes: budget})
	defer func() {
		if err := b.Close(); err != nil {
			t.Error(err)
		}
	}()
	v, _ := b.Register("v", statebackend.KindValue)

	var peak uint64
	sample := func() {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		peak = max(peak, ms.HeapInuse)
	}
	// Values are pseudo-random, so that compression does not shrink them
	// below the budget, and regenerated from the key's index to check.
	value := func(i int, buf []byte) []byte {
		buf = buf[:valueBytes]
		for j := 0; j < valueBytes; j += 8 {
			binary.LittleEndian.PutUint64(buf[j:], splitmix64(uint64(i)<<16|uint64(j)))
		}
		return buf
	}
	key := func(i int) ([]byte, int) {
		k := fmt.Appendf(nil, "key-%d", i)
		return k, keygroup.Of(keygroup.Hash(k), keygroup.DefaultMaxParallelism)
	}
	buf := make([]byte, valueBytes)
	for i := range numKeys {
		k, kg := key(i)
		b.SetCurrentKey(k, kg)
		b.Put(v, value(i, buf))
		if i%10_000 == 0 {
			sample()
		}
	}
	for i := range numKeys {
		k, kg := key(i)
		b.SetCurrentKey(k, kg)
		got, ok := b.Get(v)
		if !ok || !bytes.Equal(got, value(i, buf)) {
			t.Fatalf("key %d: Get = %d bytes, %v; want the value put", i, len(got), ok)
		}
		if i%10_000 == 0 {
			sample()
		}
	}
	if err := b.Err(); err != nil {
		t.Fatal(err)
	}
	m := b.db.Metrics()
	var sst int64
	for _, l := range m.Levels {
		sst += l.TablesSize
	}
	t.Logf("%d keys x %d B = %d MiB of values, %d MiB in sstables; budget %d MiB; peak Go HeapInuse %.1f MiB (bound %d MiB); block cache %.1f MiB; %s",
		numKeys, valueBytes, numKeys*valueBytes>>20, sst>>20, budget>>20, float64(peak)/(1<<20), heapBound>>20,
		float64(m.BlockCache.Size)/(1<<20), rss())
	if sst < 10*budget {
		t.Errorf("sstables hold %d bytes; want at least 10x the %d-byte budget, or the test proves nothing", sst, budget)
	}
	if peak > heapBound {
		t.Errorf("peak HeapInuse %d MiB; want under %d MiB", peak>>20, heapBound>>20)
	}
}

func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

// rss reports the process's resident set from /proc, where there is one.
func rss() string {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return "RSS unknown"
	}
	var out []string
	for _, line := range strings.Split(string(status), "\n") {
		if strings.HasPrefix(line, "VmRSS:") || strings.HasPrefix(line, "VmHWM:") {
			out = append(out, strings.Join(strings.Fields(line), " "))
		}
	}
	return strings.Join(out, ", ")
}

// counters is a backend holding an 8-byte counter for each of n keys in a
// value state, as heap's benchmarks do.
type counters struct {
	b     *Backend
	value statebackend.StateID
	keys  [][]byte
	kgs   []int
	buf   [8]byte
}

func newCounters(tb testing.TB, n int) *counters {
	tb.Helper()
	return newCountersWith(tb, n, Options{})
}

// newCountersWith is newCounters with a backend opened with opts.
func newCountersWith(tb testing.TB, n int, opts Options) *counters {
	tb.Helper()
	r := keygroup.Range{Start: 0, End: keygroup.DefaultMaxParallelism}
	c := &counters{b: open(tb, nil, r, opts), keys: make([][]byte, n), kgs: make([]int, n)}
	tb.Cleanup(func() {
		if err := c.b.Close(); err != nil {
			tb.Error(err)
		}
	})
	var err error
	if c.value, err = c.b.Register("count", statebackend.KindValue); err != nil {
		tb.Fatal(err)
	}
	for i := range c.keys {
		c.keys[i] = fmt.Appendf(nil, "key-%d", i)
		c.kgs[i] = keygroup.Of(keygroup.Hash(c.keys[i]), r.End)
		c.b.SetCurrentKey(c.keys[i], c.kgs[i])
		c.b.Put(c.value, c.buf[:])
	}
	return c
}

func (c *counters) incValue(i int) {
	c.b.SetCurrentKey(c.keys[i], c.kgs[i])
	v, ok := c.b.Get(c.value)
	if !ok {
		panic(fmt.Sprintf("key %q is absent", c.keys[i]))
	}
	binary.LittleEndian.PutUint64(c.buf[:], binary.LittleEndian.Uint64(v)+1)
	c.b.Put(c.value, c.buf[:])
}

// BenchmarkValueUpdate is heap's benchmark of the same name on Pebble: for
// one of 100k keys, get an 8-byte counter and put it back incremented.
// With the write-ahead log (wal) as incremental checkpoints keep it.
func BenchmarkValueUpdate(b *testing.B) {
	for _, wal := range []bool{false, true} {
		name := "no-wal"
		if wal {
			name = "wal"
		}
		b.Run(name, func(b *testing.B) {
			const numKeys = 100_000
			c := newCountersWith(b, numKeys, Options{WAL: wal})
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				c.incValue(i % numKeys)
			}
			if err := c.b.Err(); err != nil {
				b.Fatal(err)
			}
		})
	}
}

// BenchmarkAppend appends a 16-byte element to the list of one of 10k keys:
// a blind write through the merge operator.
func BenchmarkAppend(b *testing.B) {
	const numKeys = 10_000
	c := newCounters(b, numKeys)
	l, _ := c.b.Register("list", statebackend.KindList)
	elem := make([]byte, 16)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		k := i % numKeys
		c.b.SetCurrentKey(c.keys[k], c.kgs[k])
		c.b.Append(l, elem)
	}
}

// BenchmarkSnapshot encodes the snapshot of 100k counters.
func BenchmarkSnapshot(b *testing.B) {
	c := newCounters(b, 100_000)
	b.ReportAllocs()
	for b.Loop() {
		snap, err := c.b.Snapshot()
		if err != nil {
			b.Fatal(err)
		}
		b.SetBytes(int64(len(snap)))
	}
}

// BenchmarkRestore loads the canonical snapshot of 1M counters (keys of
// 9–11 bytes, 8-byte values) into an empty backend on local disk with the
// default memory budget: the part of recovery that grows with the state,
// reported as seconds per GB of snapshot.
func BenchmarkRestore(b *testing.B) {
	c := newCounters(b, 1_000_000)
	snap, err := c.b.Snapshot()
	if err != nil {
		b.Fatal(err)
	}
	r := keygroup.Range{Start: 0, End: keygroup.DefaultMaxParallelism}
	b.SetBytes(int64(len(snap)))
	var elapsed time.Duration
	for i := 0; b.Loop(); i++ {
		start := time.Now()
		be, err := Open(filepath.Join(b.TempDir(), "db"), r, Options{})
		if err != nil {
			b.Fatal(err)
		}
		if err := be.Restore(snap); err != nil {
			b.Fatal(err)
		}
		elapsed += time.Since(start)
		b.StopTimer()
		if err := be.Close(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.ReportMetric(elapsed.Seconds()/float64(b.N)/(float64(len(snap))/1e9), "s/GB")
}
