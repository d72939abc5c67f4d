package pebble

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"

	"github.com/weirstream/weir/internal/keygroup"
	"github.com/weirstream/weir/internal/statebackend"
	"github.com/weirstream/weir/internal/statebackend/heap"
)

// quiet discards the log of backends whose errors are the point.
var quiet = slog.New(slog.DiscardHandler)

// faultRange is the key-group range of the fault tests' backends.
var faultRange = keygroup.Range{Start: 0, End: keygroup.DefaultMaxParallelism}

// waitFailed waits until b records an error; the timeout only keeps a
// broken backend from hanging the test.
func waitFailed(t *testing.T, b *Backend) {
	t.Helper()
	select {
	case <-b.failure.done:
	case <-time.After(30 * time.Second):
		t.Fatal("the backend did not record the injected error")
	}
}

// Every write to the file system fails from some point on, as on a full or
// dying disk. The flush that follows must stop the backend: the error is
// sticky, reported by Err, Snapshot and Restore, and no read after it
// returns a value — neither the one written nor the one before.
func TestWriteErrorStopsBackend(t *testing.T) {
	var toggle errorfs.Toggle
	toggle.Injector = errorfs.InjectorFunc(func(op errorfs.Op) error {
		if op.Kind.ReadOrWrite() == errorfs.OpIsWrite {
			return errorfs.ErrInjected
		}
		return nil
	})
	fs := vfs.NewMem()
	b, err := Open("/state", faultRange, Options{FS: errorfs.Wrap(fs, &toggle), MemoryBytes: 1 << 20, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	v, _ := b.Register("v", statebackend.KindValue)
	toggle.On()

	// A memtable and a quarter of writes: the memtable is rotated and its
	// flush fails, while the next one has room to spare, so no write waits
	// on the failing flush.
	value := bytes.Repeat([]byte("v"), 1000)
	n := int(b.db.Metrics().MemTable.Size)*5/4/len(value) + 1
	for i := range n {
		b.SetCurrentKey(fmt.Appendf(nil, "key-%d", i), i%128)
		b.Put(v, value)
	}
	waitFailed(t, b)

	err = b.Err()
	if !errors.Is(err, ErrFailed) || !errors.Is(err, errorfs.ErrInjected) {
		t.Fatalf("Err() = %v; want an error matching ErrFailed and the injected error", err)
	}
	t.Logf("Err() = %v", err)
	b.SetCurrentKey([]byte("key-0"), 0)
	b.Put(v, []byte("new"))
	if got, ok := b.Get(v); ok {
		t.Errorf("Get after the backend failed = %q; want absent", got)
	}
	if _, err := b.Snapshot(); !errors.Is(err, ErrFailed) {
		t.Errorf("Snapshot after the backend failed = %v; want its error", err)
	}
	if err := b.Restore(nil); !errors.Is(err, ErrFailed) {
		t.Errorf("Restore after the backend failed = %v; want its error", err)
	}
	if _, err := b.Register("w", statebackend.KindValue); !errors.Is(err, ErrFailed) {
		t.Errorf("Register after the backend failed = %v; want its error", err)
	}

	toggle.Off()
	if err := b.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if names, err := fs.List("/state"); err == nil {
		t.Errorf("the working directory survived Close, holding %q", names)
	}
}

// countingInjector fails the target-th file-system operation of the kind
// it watches, counted from when it is armed, and counts them all.
type countingInjector struct {
	kind   errorfs.OpReadWrite
	armed  atomic.Bool
	n      atomic.Int64
	target int64 // 0: never fail
	hit    atomic.Bool
}

func (c *countingInjector) String() string { return "counting" }

func (c *countingInjector) MaybeError(op errorfs.Op) error {
	if !c.armed.Load() || op.Kind.ReadOrWrite() != c.kind {
		return nil
	}
	if c.n.Add(1) == c.target {
		c.hit.Store(true)
		return errorfs.ErrInjected
	}
	return nil
}

// faultWorkload drives a backend and a heap backend through the same
// seeded operations, reading the state back after every write. It stops at
// the first error the backend reports and returns how many operations ran.
// A read that returns something other than the model's value while Err is
// nil fails the test: an error may stop the backend, never fool it.
func faultWorkload(t *testing.T, b *Backend, model *heap.Backend, ops int) int {
	t.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	var ids [2][3]statebackend.StateID
	for i, kb := range []statebackend.KeyedBackend{b, model} {
		ids[i][0], _ = kb.Register("v", statebackend.KindValue)
		ids[i][1], _ = kb.Register("l", statebackend.KindList)
		ids[i][2], _ = kb.Register("m", statebackend.KindMap)
	}
	value := make([]byte, 200)
	for op := range ops {
		if b.Err() != nil {
			return op
		}
		k := fmt.Appendf(nil, "key-%d", rng.IntN(2000))
		kg := keygroup.Of(keygroup.Hash(k), keygroup.DefaultMaxParallelism)
		uk := fmt.Appendf(nil, "uk-%d", rng.IntN(8))
		for i := range value {
			value[i] = byte(rng.Uint32())
		}
		kind, elem, del := rng.IntN(6), value[:rng.IntN(len(value))], rng.IntN(3)
		for i, kb := range []statebackend.KeyedBackend{b, model} {
			kb.SetCurrentKey(k, kg)
			v, l, m := ids[i][0], ids[i][1], ids[i][2]
			switch kind {
			case 0, 1:
				kb.Put(v, value)
			case 2:
				kb.Append(l, elem)
			case 3:
				kb.MapPut(m, uk, value)
			case 4:
				kb.MapDelete(m, uk)
			case 5:
				kb.Delete(ids[i][del])
			}
		}
		got, ok := b.Get(ids[0][0])
		want, wantOK := model.Get(ids[1][0])
		gotL, okL := b.Get(ids[0][1])
		wantL, wantOKL := model.Get(ids[1][1])
		gotM, okM := b.MapGet(ids[0][2], uk)
		wantM, wantOKM := model.MapGet(ids[1][2], uk)
		if b.Err() != nil {
			return op + 1
		}
		if ok != wantOK || !bytes.Equal(got, want) || okL != wantOKL || !bytes.Equal(gotL, wantL) || okM != wantOKM || !bytes.Equal(gotM, wantM) {
			t.Fatalf("operation %d: the backend read a wrong value and reported no error", op)
		}
	}
	return ops
}

// snapshotEntries decodes a snapshot into sorted strings, one per entry.
func snapshotEntries(t *testing.T, snap []byte) []string {
	t.Helper()
	var descs []statebackend.StateDesc
	var out []string
	err := statebackend.DecodeSnapshot(snap, func(d []statebackend.StateDesc) error {
		descs = d
		return nil
	}, func(e statebackend.Entry) error {
		out = append(out, fmt.Sprintf("%s/%d/%q/%q=%x", descs[e.State].Name, e.KeyGroup, e.Key, e.UserKey, e.Value))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

// TestSingleFaultSweep injects one error, into the i-th write (or read) of
// the file system for a sweep of i over a workload that flushes and
// compacts, and checks each run: either the backend reports the error, or
// everything it read and its snapshot match the heap backend. An error
// may stop the backend; it may never make it wrong without saying so.
//
// The sweep injects into each of the first 20 operations and into about
// spread more; under the race detector or -short it runs a shorter
// workload and a sparser sweep.
func TestSingleFaultSweep(t *testing.T) {
	ops, spread := 3000, int64(60)
	if raceEnabled || testing.Short() {
		ops, spread = 1000, 20
	}
	for _, kind := range []errorfs.OpReadWrite{errorfs.OpIsWrite, errorfs.OpIsRead} {
		t.Run(kind.String(), func(t *testing.T) {
			run := func(target int64) (inj *countingInjector, reported bool) {
				inj = &countingInjector{kind: kind, target: target}
				b, err := Open("/state", faultRange, Options{FS: errorfs.Wrap(vfs.NewMem(), inj), MemoryBytes: 256 << 10, Logger: quiet})
				if err != nil {
					t.Fatal(err)
				}
				defer func() {
					inj.armed.Store(false)
					if err := b.Close(); err != nil && b.Err() == nil {
						t.Errorf("Close: %v", err)
					}
				}()
				model := heap.New(faultRange)
				inj.armed.Store(true)
				faultWorkload(t, b, model, ops)
				snap, err := b.Snapshot()
				if err != nil {
					if !errors.Is(err, ErrFailed) || b.Err() == nil {
						t.Fatalf("injection %d: Snapshot = %v, but Err() = %v", target, err, b.Err())
					}
					return inj, true
				}
				want, err := model.Snapshot()
				if err != nil {
					t.Fatal(err)
				}
				if got, want := snapshotEntries(t, snap), snapshotEntries(t, want); !slices.Equal(got, want) {
					t.Fatalf("injection %d (hit: %v): the snapshot holds %d entries, the model %d, and no error was reported",
						target, inj.hit.Load(), len(got), len(want))
				}
				return inj, b.Err() != nil
			}

			dry, _ := run(0)
			total := dry.n.Load()
			t.Logf("the workload makes %d %s of the file system", total, kind)
			if total == 0 {
				t.Fatalf("the workload makes no %s; the sweep would test nothing", kind)
			}
			// Every one of the first operations, then some spread evenly.
			var targets []int64
			for i := int64(1); i <= min(total, 20); i++ {
				targets = append(targets, i)
			}
			for i := int64(21); i <= total; i += max(1, total/spread) {
				targets = append(targets, i)
			}
			var hits, reported int
			for _, target := range targets {
				inj, rep := run(target)
				if inj.hit.Load() {
					hits++
				}
				if rep {
					reported++
				}
			}
			t.Logf("%d injections, %d hit an operation, %d reported by the backend, the others absorbed with every value correct",
				len(targets), hits, reported)
			if kind == errorfs.OpIsWrite && reported == 0 {
				t.Error("no injected write error was ever reported")
			}
		})
	}
}
