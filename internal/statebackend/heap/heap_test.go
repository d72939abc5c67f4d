package heap

import (
	"encoding/binary"
	"fmt"
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
		return NewIncremental(r)
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
