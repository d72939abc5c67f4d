package heap

import (
	"encoding/binary"
	"fmt"
	"runtime"
	"testing"

	"github.com/weirstream/weir/internal/keygroup"
	"github.com/weirstream/weir/internal/statebackend"
	"github.com/weirstream/weir/internal/statebackend/statebackendtest"
)

func TestConformance(t *testing.T) {
	statebackendtest.Run(t, func(t *testing.T, r keygroup.Range) statebackend.KeyedBackend {
		return New(r)
	})
}

// A backend that logs its writes for incremental checkpoints behaves as
// any other.
func TestConformanceIncremental(t *testing.T) {
	statebackendtest.Run(t, func(t *testing.T, r keygroup.Range) statebackend.KeyedBackend {
		return NewIncremental(r, t.TempDir())
	})
}

// counters is a backend holding an 8-byte counter for each of n keys, in a
// value state and under one user key of a map state: the state of a keyed
// count, ready for updates of existing keys.
type counters struct {
	b      *Backend
	value  statebackend.StateID
	mapped statebackend.StateID
	keys   [][]byte
	kgs    []int
	buf    [8]byte
}

var counterUserKey = []byte("count")

func newCounters(tb testing.TB, n int) *counters {
	tb.Helper()
	r := keygroup.Range{Start: 0, End: keygroup.DefaultMaxParallelism}
	c := &counters{b: New(r), keys: make([][]byte, n), kgs: make([]int, n)}
	var err error
	if c.value, err = c.b.Register("count", statebackend.KindValue); err != nil {
		tb.Fatal(err)
	}
	if c.mapped, err = c.b.Register("counts", statebackend.KindMap); err != nil {
		tb.Fatal(err)
	}
	for i := range c.keys {
		c.keys[i] = []byte(fmt.Sprintf("key-%d", i))
		c.kgs[i] = keygroup.Of(keygroup.Hash(c.keys[i]), r.End)
		c.b.SetCurrentKey(c.keys[i], c.kgs[i])
		c.b.Put(c.value, c.buf[:])
		c.b.MapPut(c.mapped, counterUserKey, c.buf[:])
	}
	return c
}

// incValue gets the value counter of key i and puts it back incremented.
func (c *counters) incValue(i int) {
	c.b.SetCurrentKey(c.keys[i], c.kgs[i])
	v, ok := c.b.Get(c.value)
	if !ok {
		panic(fmt.Sprintf("key %q is absent", c.keys[i]))
	}
	binary.LittleEndian.PutUint64(c.buf[:], binary.LittleEndian.Uint64(v)+1)
	c.b.Put(c.value, c.buf[:])
}

// incMapped does the same with the map counter of key i.
func (c *counters) incMapped(i int) {
	c.b.SetCurrentKey(c.keys[i], c.kgs[i])
	v, ok := c.b.MapGet(c.mapped, counterUserKey)
	if !ok {
		panic(fmt.Sprintf("key %q is absent", c.keys[i]))
	}
	binary.LittleEndian.PutUint64(c.buf[:], binary.LittleEndian.Uint64(v)+1)
	c.b.MapPut(c.mapped, counterUserKey, c.buf[:])
}

// BenchmarkValueUpdate is the hot path of a keyed counter: for one of 100k
// keys, get an 8-byte value and put it back incremented. Every key already
// exists, so an update should not allocate.
func BenchmarkValueUpdate(b *testing.B) {
	const numKeys = 100_000
	c := newCounters(b, numKeys)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		c.incValue(i % numKeys)
	}
}

// BenchmarkMapUpdate is BenchmarkValueUpdate for a counter under a user key
// of a map state.
func BenchmarkMapUpdate(b *testing.B) {
	const numKeys = 100_000
	c := newCounters(b, numKeys)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		c.incMapped(i % numKeys)
	}
}

// wordCounts is a backend holding the state of a WordCount over n distinct
// 16-byte words, inserted in order: a 24-byte value (the word and its
// count) under each word, as the checkpointing benchmark's job keeps it.
func wordCounts(tb testing.TB, n int) *Backend {
	tb.Helper()
	r := keygroup.Range{Start: 0, End: keygroup.DefaultMaxParallelism}
	b := New(r)
	s, err := b.Register("count", statebackend.KindValue)
	if err != nil {
		tb.Fatal(err)
	}
	var key [16]byte
	var value [24]byte
	for i := range n {
		k := fmt.Appendf(key[:0], "w%015d", i)
		copy(value[:], k)
		binary.LittleEndian.PutUint64(value[16:], 1)
		b.SetCurrentKey(k, keygroup.Of(keygroup.Hash(k), r.End))
		b.Put(s, value[:])
	}
	return b
}

// BenchmarkSnapshotEncode encodes a canonical snapshot of 2M words' counts
// into a buffer reused from the one before: the asynchronous part of a
// full checkpoint, per key. The state is far larger than the CPU's caches,
// so what it measures is mostly the reads of each entry's memory.
func BenchmarkSnapshotEncode(b *testing.B) {
	const n = 2_000_000
	be := wordCounts(b, n)
	buf, err := be.SnapshotAsync().AppendEncoded(nil)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if buf, err = be.SnapshotAsync().AppendEncoded(buf[:0]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/key")
	b.SetBytes(int64(len(buf)))
}

// BenchmarkInsert inserts 2M words' counts into an empty backend, and
// reports the heap objects and bytes the state holds per key: what the
// garbage collector marks, and what the state costs in memory.
func BenchmarkInsert(b *testing.B) {
	const n = 2_000_000
	var objects, bytes float64
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		be := wordCounts(b, n)
		runtime.GC()
		runtime.ReadMemStats(&after)
		objects = float64(after.HeapObjects-before.HeapObjects) / n
		bytes = float64(after.HeapAlloc-before.HeapAlloc) / n
		runtime.KeepAlive(be)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/key")
	b.ReportMetric(objects, "objects/key")
	b.ReportMetric(bytes, "B/key")
}
