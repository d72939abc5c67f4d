package stream

import (
	"errors"
	"maps"
	"math"
	"slices"
	"testing"

	"github.com/weirstream/weir/internal/keygroup"
	"github.com/weirstream/weir/internal/statebackend"
	"github.com/weirstream/weir/internal/statebackend/heap"
)

// newStateContext returns an OpenContext over a heap backend for every key
// group, and a function that makes key the current key, as the keyed
// operators do before calling the user's function.
func newStateContext(t *testing.T) (*OpenContext, func(key string)) {
	t.Helper()
	r := keygroup.Range{Start: 0, End: keygroup.DefaultMaxParallelism}
	be := heap.New(r)
	t.Cleanup(func() {
		if err := be.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return &OpenContext{backend: be}, func(key string) {
		k := []byte(key)
		be.SetCurrentKey(k, keygroup.Of(keygroup.Hash(k), r.End))
	}
}

// stateMust returns v, and panics, failing the test, if err is not nil.
func stateMust[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// wantStateValue checks that a value state holds want for the current key.
func wantStateValue[T comparable](t *testing.T, s *ValueState[T], want T) {
	t.Helper()
	got, ok, err := s.Value()
	if err != nil || !ok || got != want {
		t.Errorf("Value() = %v, %v, %v; want %v, true, nil", got, ok, err, want)
	}
}

// wantStateUnset checks that a value state holds nothing for the current key.
func wantStateUnset[T comparable](t *testing.T, s *ValueState[T]) {
	t.Helper()
	var zero T
	got, ok, err := s.Value()
	if err != nil || ok || got != zero {
		t.Errorf("Value() = %v, %v, %v; want the zero value, false, nil", got, ok, err)
	}
}

// statePoint has no codec of its own, so state holding it uses JSON.
type statePoint struct {
	X, Y  int
	Label string
}

func TestValueState(t *testing.T) {
	t.Run("ScopedPerKey", func(t *testing.T) {
		ctx, at := newStateContext(t)
		s := stateMust(NewValueState[int64](ctx, "count"))
		at("a")
		wantStateUnset(t, s)
		s.Update(1)
		at("b")
		wantStateUnset(t, s)
		s.Update(2)
		at("a")
		wantStateValue(t, s, 1)
		at("b")
		wantStateValue(t, s, 2)
	})

	t.Run("UpdateOverwrites", func(t *testing.T) {
		ctx, at := newStateContext(t)
		s := stateMust(NewValueState[string](ctx, "last"))
		at("a")
		for _, v := range []string{"a long first value", "short", "a value longer than the first one"} {
			s.Update(v)
			wantStateValue(t, s, v)
		}
	})

	t.Run("Clear", func(t *testing.T) {
		ctx, at := newStateContext(t)
		s := stateMust(NewValueState[int64](ctx, "count"))
		at("a")
		s.Update(1)
		at("b")
		s.Update(2)
		s.Clear()
		wantStateUnset(t, s)
		at("a")
		wantStateValue(t, s, 1)
	})

	t.Run("ZeroValueIsSet", func(t *testing.T) {
		// The empty string encodes to no bytes; it is still a value.
		ctx, at := newStateContext(t)
		str := stateMust(NewValueState[string](ctx, "str"))
		n := stateMust(NewValueState[int64](ctx, "n"))
		at("a")
		str.Update("")
		n.Update(0)
		wantStateValue(t, str, "")
		wantStateValue(t, n, 0)
	})

	t.Run("DecodeErrorIsReturned", func(t *testing.T) {
		ctx, at := newStateContext(t)
		s := stateMust(NewValueState[int64](ctx, "count"))
		at("a")
		ctx.backend.Put(s.id, nil) // no bytes: not a varint
		if _, _, err := s.Value(); !errors.Is(err, ErrShortBuffer) {
			t.Errorf("Value() over an empty encoding: err = %v; want ErrShortBuffer", err)
		}
	})
}

// The codec CodecFor picks is the encoding state is kept in, in both
// backends and in snapshots; these pin the encodings as well as the round
// trips.
func TestValueStateCodecs(t *testing.T) {
	t.Run("String", func(t *testing.T) {
		ctx, at := newStateContext(t)
		s := stateMust(NewValueState[string](ctx, "s"))
		for _, v := range []string{"", "hello", "zero\x00byte", "ünïcødé"} {
			at("k")
			s.Update(v)
			wantStateValue(t, s, v)
			if raw, _ := ctx.backend.Get(s.id); string(raw) != v {
				t.Errorf("stored %q as %q; want its bytes", v, raw)
			}
		}
	})

	t.Run("Int64", func(t *testing.T) {
		ctx, at := newStateContext(t)
		s := stateMust(NewValueState[int64](ctx, "n"))
		for _, v := range []int64{0, 1, -1, 63, -64, 64, math.MaxInt64, math.MinInt64} {
			at("k")
			s.Update(v)
			wantStateValue(t, s, v)
		}
		s.Update(-1)
		if raw, _ := ctx.backend.Get(s.id); string(raw) != "\x01" {
			t.Errorf("stored -1 as %q; want the zig-zag varint %q", raw, "\x01")
		}
	})

	t.Run("StructFallsBackToJSON", func(t *testing.T) {
		if _, ok := CodecFor[statePoint]().(JSONCodec[statePoint]); !ok {
			t.Fatalf("CodecFor[statePoint]() = %T; want JSONCodec", CodecFor[statePoint]())
		}
		ctx, at := newStateContext(t)
		s := stateMust(NewValueState[statePoint](ctx, "p"))
		at("a")
		s.Update(statePoint{X: 1, Y: -2, Label: "a"})
		at("b")
		s.Update(statePoint{Label: "b"})
		at("a")
		wantStateValue(t, s, statePoint{X: 1, Y: -2, Label: "a"})
		if raw, _ := ctx.backend.Get(s.id); string(raw) != `{"X":1,"Y":-2,"Label":"a"}` {
			t.Errorf("stored as %s; want JSON", raw)
		}
		at("b")
		wantStateValue(t, s, statePoint{Label: "b"})
	})
}

func TestListState(t *testing.T) {
	wantList := func(t *testing.T, s *ListState[string], want []string) {
		t.Helper()
		got, err := s.Get()
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("Get() = %q, %v; want %q, nil", got, err, want)
		}
	}

	t.Run("AddIsScopedPerKey", func(t *testing.T) {
		ctx, at := newStateContext(t)
		s := stateMust(NewListState[string](ctx, "events"))
		at("a")
		wantList(t, s, nil)
		s.Add("a1")
		at("b")
		s.Add("b1")
		at("a")
		s.Add("")
		s.Add("a3")
		wantList(t, s, []string{"a1", "", "a3"})
		at("b")
		wantList(t, s, []string{"b1"})
	})

	t.Run("UpdateReplaces", func(t *testing.T) {
		ctx, at := newStateContext(t)
		s := stateMust(NewListState[string](ctx, "events"))
		at("a")
		s.Add("old")
		s.Update([]string{"x", "y"})
		wantList(t, s, []string{"x", "y"})
		s.Add("z")
		wantList(t, s, []string{"x", "y", "z"})
	})

	t.Run("UpdateWithNothingClears", func(t *testing.T) {
		ctx, at := newStateContext(t)
		s := stateMust(NewListState[string](ctx, "events"))
		at("a")
		s.Add("x")
		s.Update(nil)
		wantList(t, s, nil)
		s.Add("y")
		s.Update([]string{})
		wantList(t, s, nil)
	})

	t.Run("Clear", func(t *testing.T) {
		ctx, at := newStateContext(t)
		s := stateMust(NewListState[string](ctx, "events"))
		at("a")
		s.Add("a1")
		at("b")
		s.Add("b1")
		s.Clear()
		wantList(t, s, nil)
		at("a")
		wantList(t, s, []string{"a1"})
	})

	t.Run("StructElements", func(t *testing.T) {
		ctx, at := newStateContext(t)
		s := stateMust(NewListState[statePoint](ctx, "points"))
		at("a")
		want := []statePoint{{X: 1}, {Y: 2, Label: "two"}}
		for _, p := range want {
			s.Add(p)
		}
		got, err := s.Get()
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("Get() = %v, %v; want %v, nil", got, err, want)
		}
	})

	t.Run("CorruptListIsAnError", func(t *testing.T) {
		ctx, at := newStateContext(t)
		s := stateMust(NewListState[string](ctx, "events"))
		at("a")
		ctx.backend.Put(s.id, []byte("\x05ab"))
		if _, err := s.Get(); !errors.Is(err, statebackend.ErrCorruptList) {
			t.Errorf("Get() over a corrupt list: err = %v; want ErrCorruptList", err)
		}
	})

	t.Run("ElementDecodeErrorIsReturned", func(t *testing.T) {
		ctx, at := newStateContext(t)
		s := stateMust(NewListState[int64](ctx, "numbers"))
		at("a")
		s.Add(7)
		ctx.backend.Append(s.id, nil) // an element that is not a varint
		if _, err := s.Get(); !errors.Is(err, ErrShortBuffer) {
			t.Errorf("Get() with an undecodable element: err = %v; want ErrShortBuffer", err)
		}
	})
}

func TestMapState(t *testing.T) {
	entries := func(t *testing.T, s *MapState[string, int64]) map[string]int64 {
		t.Helper()
		got := map[string]int64{}
		if err := s.Range(func(k string, v int64) bool {
			got[k] = v
			return true
		}); err != nil {
			t.Fatalf("Range: %v", err)
		}
		return got
	}
	wantEntries := func(t *testing.T, s *MapState[string, int64], want map[string]int64) {
		t.Helper()
		if got := entries(t, s); !maps.Equal(got, want) {
			t.Errorf("Range visited %v; want %v", got, want)
		}
	}
	wantGet := func(t *testing.T, s *MapState[string, int64], uk string, want int64, wantOK bool) {
		t.Helper()
		got, ok, err := s.Get(uk)
		if err != nil || ok != wantOK || got != want {
			t.Errorf("Get(%q) = %v, %v, %v; want %v, %v, nil", uk, got, ok, err, want, wantOK)
		}
	}

	t.Run("PutGetRemove", func(t *testing.T) {
		ctx, at := newStateContext(t)
		s := stateMust(NewMapState[string, int64](ctx, "counts"))
		at("a")
		wantGet(t, s, "x", 0, false)
		s.Put("x", 1)
		s.Put("y", 0)
		s.Put("x", -5)
		wantGet(t, s, "x", -5, true)
		wantGet(t, s, "y", 0, true)
		s.Remove("x")
		s.Remove("never put")
		wantGet(t, s, "x", 0, false)
		wantEntries(t, s, map[string]int64{"y": 0})
	})

	t.Run("ScopedPerKey", func(t *testing.T) {
		ctx, at := newStateContext(t)
		s := stateMust(NewMapState[string, int64](ctx, "counts"))
		at("a")
		s.Put("x", 1)
		at("b")
		wantGet(t, s, "x", 0, false)
		s.Put("x", 2)
		s.Put("y", 3)
		at("a")
		wantEntries(t, s, map[string]int64{"x": 1})
		at("b")
		wantEntries(t, s, map[string]int64{"x": 2, "y": 3})
	})

	t.Run("ClearRemovesEveryEntryOfTheKey", func(t *testing.T) {
		ctx, at := newStateContext(t)
		s := stateMust(NewMapState[string, int64](ctx, "counts"))
		at("a")
		s.Put("x", 1)
		at("b")
		s.Put("x", 2)
		s.Put("y", 3)
		s.Clear()
		wantEntries(t, s, map[string]int64{})
		wantGet(t, s, "y", 0, false)
		at("a")
		wantEntries(t, s, map[string]int64{"x": 1})
	})

	t.Run("RangeStopsWhenFnReturnsFalse", func(t *testing.T) {
		ctx, at := newStateContext(t)
		s := stateMust(NewMapState[string, int64](ctx, "counts"))
		at("a")
		for _, k := range []string{"x", "y", "z"} {
			s.Put(k, 1)
		}
		calls := 0
		if err := s.Range(func(string, int64) bool {
			calls++
			return false
		}); err != nil {
			t.Fatalf("Range: %v", err)
		}
		if calls != 1 {
			t.Errorf("Range called fn %d times after it returned false; want 1", calls)
		}
	})

	t.Run("Int64KeysAndStructValues", func(t *testing.T) {
		ctx, at := newStateContext(t)
		s := stateMust(NewMapState[int64, statePoint](ctx, "points"))
		at("a")
		want := map[int64]statePoint{-1: {X: 1}, 0: {Label: "zero"}, math.MaxInt64: {Y: 9}}
		for k, v := range want {
			s.Put(k, v)
		}
		got := map[int64]statePoint{}
		if err := s.Range(func(k int64, v statePoint) bool {
			got[k] = v
			return true
		}); err != nil {
			t.Fatalf("Range: %v", err)
		}
		if !maps.Equal(got, want) {
			t.Errorf("Range visited %v; want %v", got, want)
		}
		if v, ok, err := s.Get(0); err != nil || !ok || v != want[0] {
			t.Errorf("Get(0) = %v, %v, %v; want %v, true, nil", v, ok, err, want[0])
		}
	})

	t.Run("DecodeErrorIsReturned", func(t *testing.T) {
		ctx, at := newStateContext(t)
		s := stateMust(NewMapState[string, int64](ctx, "counts"))
		at("a")
		ctx.backend.MapPut(s.id, []byte("x"), nil) // not a varint
		if _, _, err := s.Get("x"); !errors.Is(err, ErrShortBuffer) {
			t.Errorf("Get over an undecodable value: err = %v; want ErrShortBuffer", err)
		}
		if err := s.Range(func(string, int64) bool { return true }); !errors.Is(err, ErrShortBuffer) {
			t.Errorf("Range over an undecodable value: err = %v; want ErrShortBuffer", err)
		}
	})
}

// stateSum adds int64s, and fails on the value fail if that is not zero.
type stateSum struct{ fail int64 }

var errStateReduce = errors.New("reduce refused the value")

func (r stateSum) Reduce(acc, in int64) (int64, error) {
	if r.fail != 0 && in == r.fail {
		return 0, errStateReduce
	}
	return acc + in, nil
}

func TestReducingState(t *testing.T) {
	wantSum := func(t *testing.T, s *ReducingState[int64], want int64, wantOK bool) {
		t.Helper()
		got, ok, err := s.Get()
		if err != nil || ok != wantOK || got != want {
			t.Errorf("Get() = %v, %v, %v; want %v, %v, nil", got, ok, err, want, wantOK)
		}
	}

	t.Run("ReducesPerKey", func(t *testing.T) {
		ctx, at := newStateContext(t)
		s := stateMust(NewReducingState[int64](ctx, "sum", stateSum{}))
		at("a")
		wantSum(t, s, 0, false)
		for _, v := range []int64{1, 2, 3} {
			if err := s.Add(v); err != nil {
				t.Fatal(err)
			}
		}
		at("b")
		if err := s.Add(10); err != nil {
			t.Fatal(err)
		}
		at("a")
		wantSum(t, s, 6, true)
		at("b")
		wantSum(t, s, 10, true)
	})

	t.Run("FirstValueIsNotReduced", func(t *testing.T) {
		// The first value of a key becomes the state as is: a reduce
		// function that fails on it is never called with it.
		ctx, at := newStateContext(t)
		s := stateMust(NewReducingState[int64](ctx, "sum", stateSum{fail: 5}))
		at("a")
		if err := s.Add(5); err != nil {
			t.Fatalf("Add(5) as the first value: %v", err)
		}
		wantSum(t, s, 5, true)
	})

	t.Run("ReduceErrorLeavesStateUnchanged", func(t *testing.T) {
		ctx, at := newStateContext(t)
		s := stateMust(NewReducingState[int64](ctx, "sum", stateSum{fail: 5}))
		at("a")
		if err := s.Add(1); err != nil {
			t.Fatal(err)
		}
		if err := s.Add(5); !errors.Is(err, errStateReduce) {
			t.Errorf("Add(5) = %v; want the reduce function's error", err)
		}
		wantSum(t, s, 1, true)
	})

	t.Run("Clear", func(t *testing.T) {
		ctx, at := newStateContext(t)
		s := stateMust(NewReducingState[int64](ctx, "sum", stateSum{}))
		at("a")
		if err := s.Add(4); err != nil {
			t.Fatal(err)
		}
		s.Clear()
		wantSum(t, s, 0, false)
		if err := s.Add(2); err != nil {
			t.Fatal(err)
		}
		wantSum(t, s, 2, true)
	})
}

// stateAverage averages int64s. Its accumulator has no codec of its own, so
// it is kept as JSON.
type stateAverage struct{}

type stateAverageAcc struct{ Sum, Count int64 }

func (stateAverage) CreateAccumulator() stateAverageAcc { return stateAverageAcc{} }
func (stateAverage) Add(in int64, acc stateAverageAcc) stateAverageAcc {
	return stateAverageAcc{Sum: acc.Sum + in, Count: acc.Count + 1}
}
func (stateAverage) GetResult(acc stateAverageAcc) float64 {
	return float64(acc.Sum) / float64(acc.Count)
}
func (stateAverage) Merge(a, b stateAverageAcc) stateAverageAcc {
	return stateAverageAcc{Sum: a.Sum + b.Sum, Count: a.Count + b.Count}
}

func TestAggregatingState(t *testing.T) {
	wantAverage := func(t *testing.T, s *AggregatingState[int64, stateAverageAcc, float64], want float64, wantOK bool) {
		t.Helper()
		got, ok, err := s.Get()
		if err != nil || ok != wantOK || got != want {
			t.Errorf("Get() = %v, %v, %v; want %v, %v, nil", got, ok, err, want, wantOK)
		}
	}
	add := func(t *testing.T, s *AggregatingState[int64, stateAverageAcc, float64], vs ...int64) {
		t.Helper()
		for _, v := range vs {
			if err := s.Add(v); err != nil {
				t.Fatalf("Add(%d): %v", v, err)
			}
		}
	}

	t.Run("AveragesPerKey", func(t *testing.T) {
		ctx, at := newStateContext(t)
		s := stateMust(NewAggregatingState[int64, stateAverageAcc, float64](ctx, "avg", stateAverage{}))
		at("a")
		wantAverage(t, s, 0, false)
		add(t, s, 1, 2, 3, 4)
		at("b")
		add(t, s, -10)
		at("a")
		wantAverage(t, s, 2.5, true)
		at("b")
		wantAverage(t, s, -10, true)
	})

	t.Run("Clear", func(t *testing.T) {
		ctx, at := newStateContext(t)
		s := stateMust(NewAggregatingState[int64, stateAverageAcc, float64](ctx, "avg", stateAverage{}))
		at("a")
		add(t, s, 100)
		s.Clear()
		wantAverage(t, s, 0, false)
		// A new accumulator starts from CreateAccumulator, not the old one.
		add(t, s, 2, 4)
		wantAverage(t, s, 3, true)
	})
}

func TestStateDeclaration(t *testing.T) {
	t.Run("SameNameOtherKindFails", func(t *testing.T) {
		ctx, _ := newStateContext(t)
		stateMust(NewValueState[int64](ctx, "s"))
		if _, err := NewListState[int64](ctx, "s"); !errors.Is(err, statebackend.ErrKindMismatch) {
			t.Errorf("NewListState(s) after NewValueState(s): err = %v; want ErrKindMismatch", err)
		}
		if _, err := NewMapState[string, int64](ctx, "s"); !errors.Is(err, statebackend.ErrKindMismatch) {
			t.Errorf("NewMapState(s) after NewValueState(s): err = %v; want ErrKindMismatch", err)
		}
		stateMust(NewMapState[string, int64](ctx, "m"))
		if _, err := NewReducingState[int64](ctx, "m", stateSum{}); !errors.Is(err, statebackend.ErrKindMismatch) {
			t.Errorf("NewReducingState(m) after NewMapState(m): err = %v; want ErrKindMismatch", err)
		}
		if _, err := NewAggregatingState[int64, stateAverageAcc, float64](ctx, "m", stateAverage{}); !errors.Is(err, statebackend.ErrKindMismatch) {
			t.Errorf("NewAggregatingState(m) after NewMapState(m): err = %v; want ErrKindMismatch", err)
		}
	})

	t.Run("SameNameSameKindShares", func(t *testing.T) {
		ctx, at := newStateContext(t)
		s1 := stateMust(NewValueState[int64](ctx, "s"))
		s2 := stateMust(NewValueState[int64](ctx, "s"))
		at("a")
		s1.Update(7)
		wantStateValue(t, s2, 7)
	})

	t.Run("OutsideKeyedOperatorFails", func(t *testing.T) {
		if _, err := NewValueState[int64](&OpenContext{}, "s"); err == nil {
			t.Error("NewValueState on a context without a backend succeeded")
		}
	})

	t.Run("EmptyNameFails", func(t *testing.T) {
		ctx, _ := newStateContext(t)
		if _, err := NewValueState[int64](ctx, ""); err == nil {
			t.Error(`NewValueState(ctx, "") succeeded`)
		}
	})
}

// At a barrier a chain on the heap only captures its keyed state, for the
// checkpointer to encode off the task goroutine: the snapshot leaves the
// barrier with Captured and no Keyed, the task goes on writing, and the
// encoding holds the state as it was at the barrier.
func TestSnapshotAsyncLeavesHeapStateToEncode(t *testing.T) {
	ctx, key := newStateContext(t)
	ctx.chain = &Chain{backend: ctx.backend, headUID: "op"}
	v := stateMust(NewValueState[string](ctx, "v"))
	key("k")
	v.Update("at the barrier")
	snaps, err := ctx.chain.SnapshotAsync(1, 0, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(snaps) != 1 || snaps[0].Captured == nil || snaps[0].Keyed != nil {
		t.Fatalf("SnapshotAsync = %+v; want the heap's state captured, not encoded at the barrier", snaps)
	}
	v.Update("after the barrier")
	if err := snaps[0].EncodeKeyed(); err != nil {
		t.Fatal(err)
	}
	restored, key2 := newStateContext(t)
	if err := restored.backend.Restore(snaps[0].Keyed); err != nil {
		t.Fatal(err)
	}
	v2 := stateMust(NewValueState[string](restored, "v"))
	key2("k")
	wantStateValue(t, v2, "at the barrier")
	key("k")
	wantStateValue(t, v, "after the barrier")
}
