package bench

import (
	"encoding/binary"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"testing"

	"github.com/weirstream/weir/internal/keygroup"
	"github.com/weirstream/weir/internal/statebackend"
	"github.com/weirstream/weir/internal/statebackend/heap"
)

// envInt returns the positive integer in environment variable name, or def
// when it is unset; a value that is not a positive integer fails tb.
func envInt(tb testing.TB, name string, def int) int {
	tb.Helper()
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		tb.Fatalf("%s=%q: want a positive integer", name, s)
	}
	return n
}

// stateKey is the i-th key of the state benchmarks: 8 to 16 bytes, the
// decimal i padded to 8 digits and i%9 letters after it, so keys differ
// in length as words do.
func stateKey(i int) []byte {
	return fmt.Appendf(nil, "%08d%s", i, "abcdefghi"[:i%9])
}

// BenchmarkHeapStateBytesPerKey measures what the heap state backend
// spends to keep the state of a count over short string keys: n keys of
// 8–16 bytes (WEIRBENCH_HEAP_KEYS, default 1,000,000) with an 8-byte count
// each in one value state. It reports B/key, the growth of the live heap
// (runtime.MemStats.HeapAlloc after a GC) per key, against raw-B/key, the
// key and value bytes themselves; overhead-x is their quotient.
func BenchmarkHeapStateBytesPerKey(b *testing.B) {
	n := envInt(b, "WEIRBENCH_HEAP_KEYS", 1_000_000)
	r := keygroup.Range{Start: 0, End: keygroup.DefaultMaxParallelism}
	var raw int64
	for i := range n {
		raw += int64(len(stateKey(i))) + 8
	}
	var grown uint64
	for b.Loop() {
		b.StopTimer()
		before := liveHeap()
		b.StartTimer()
		be := heap.New(r)
		id, err := be.Register("count", statebackend.KindValue)
		if err != nil {
			b.Fatal(err)
		}
		var v [8]byte
		for i := range n {
			k := stateKey(i)
			be.SetCurrentKey(k, keygroup.Of(keygroup.Hash(k), r.End))
			binary.LittleEndian.PutUint64(v[:], uint64(i))
			be.Put(id, v[:])
		}
		b.StopTimer()
		after := liveHeap()
		grown += after - min(before, after)
		runtime.KeepAlive(be)
		b.StartTimer()
	}
	perKey := float64(grown) / float64(b.N) / float64(n)
	rawPerKey := float64(raw) / float64(n)
	b.ReportMetric(perKey, "B/key")
	b.ReportMetric(rawPerKey, "raw-B/key")
	b.ReportMetric(perKey/rawPerKey, "overhead-x")
	b.ReportMetric(0, "ns/op")
}

// liveHeap returns the bytes of live heap objects after a full collection.
func liveHeap() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}
