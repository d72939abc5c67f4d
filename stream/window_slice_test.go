package stream

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	weirv1 "github.com/weirstream/weir/api/proto/weir/v1"
	"github.com/weirstream/weir/internal/statebackend"
)

// tsSumN sums the N of a window's records: a double-counted, dropped or
// misplaced record changes the sum.
type tsSumN struct{}

func (tsSumN) CreateAccumulator() int64        { return 0 }
func (tsSumN) Add(e tsEvent, acc int64) int64  { return acc + e.N }
func (tsSumN) GetResult(acc int64) windowCount { return windowCount{Count: acc} }
func (tsSumN) Merge(a, b int64) int64          { return a + b }
func (tsSumN) WindowResult(ctx *WindowContext[string], acc int64) (windowCount, error) {
	w := ctx.Window()
	return windowCount{Key: ctx.Key(), Start: w.Start, End: w.End, Count: acc}, nil
}

func init() {
	RegisterWindowAggregate[string, tsEvent, int64, windowCount]("ts-test.sum-n", tsSumN{})
}

// countingBackend counts the keyed-state reads and writes of the operator
// it serves, and tracks which map entries are live.
type countingBackend struct {
	statebackend.KeyedBackend
	reads, writes int
	key           string
	live          map[string]bool // state, key and user key of the map entries
}

func (b *countingBackend) SetCurrentKey(key []byte, kg int) {
	b.key = string(key)
	b.KeyedBackend.SetCurrentKey(key, kg)
}

func (b *countingBackend) entry(s statebackend.StateID, uk []byte) string {
	return fmt.Sprintf("%d/%q/%q", s, b.key, uk)
}

func (b *countingBackend) Get(s statebackend.StateID) ([]byte, bool) {
	b.reads++
	return b.KeyedBackend.Get(s)
}

func (b *countingBackend) Put(s statebackend.StateID, v []byte) {
	b.writes++
	b.KeyedBackend.Put(s, v)
}

func (b *countingBackend) MapGet(s statebackend.StateID, uk []byte) ([]byte, bool) {
	b.reads++
	return b.KeyedBackend.MapGet(s, uk)
}

func (b *countingBackend) MapPut(s statebackend.StateID, uk, v []byte) {
	b.writes++
	b.live[b.entry(s, uk)] = true
	b.KeyedBackend.MapPut(s, uk, v)
}

func (b *countingBackend) MapDelete(s statebackend.StateID, uk []byte) {
	b.writes++
	delete(b.live, b.entry(s, uk))
	b.KeyedBackend.MapDelete(s, uk)
}

// slidingGraph is source -> timestamps -> keyBy -> sliding window summing
// N -> sink, with the late records to a second sink.
func slidingGraph(t testing.TB, size, slide, offset, lateness int64) (*weirv1.JobGraph, int32) {
	t.Helper()
	env := NewEnv()
	src := FromSource[tsEvent](env, tsSource{}, "src")
	ts := AssignTimestampsAndWatermarks(src, ForBoundedOutOfOrderness[tsEvent](tsAssigner{}, 0))
	a := SlidingEventTimeWindows(time.Duration(size)*time.Millisecond, time.Duration(slide)*time.Millisecond).WithOffset(time.Duration(offset) * time.Millisecond)
	w := KeyBy[string](ts, tsKey{}).Window(a).AllowedLateness(time.Duration(lateness) * time.Millisecond).SideOutputLateData()
	res := AggregateWindow[windowCount](w, tsSumN{})
	env.SetParallelism(2)
	res.SinkTo(tsSink[windowCount]{}, "sink")
	LateData[tsEvent](res).SinkTo(tsSink[tsEvent]{}, "late")
	env.SetParallelism(1)
	g, err := env.Graph()
	if err != nil {
		t.Fatal(err)
	}
	return g, res.op.GetId()
}

// windowModel is the reference: one sum per key and window, computed from
// the definition of sliding windows with allowed lateness, with none of
// the operator's code.
type windowModel struct {
	size, slide, offset, lateness int64
	wm                            int64
	sums                          map[windowCount]int64 // Count unused
	out                           []windowCount
	late                          []tsEvent
}

func (m *windowModel) windowsOf(t int64) []Window {
	var ws []Window
	for s := t - m.size - m.slide; s <= t+m.slide; s++ {
		if ((s-m.offset)%m.slide+m.slide)%m.slide == 0 && s <= t && t < s+m.size {
			ws = append(ws, Window{s, s + m.size})
		}
	}
	return ws
}

func (m *windowModel) send(e tsEvent) {
	late := true
	for _, w := range m.windowsOf(e.TS) {
		if w.End-1+m.lateness <= m.wm {
			continue
		}
		late = false
		k := windowCount{Key: e.Key, Start: w.Start, End: w.End}
		m.sums[k] += e.N
		if w.End-1 <= m.wm {
			m.out = append(m.out, windowCount{e.Key, w.Start, w.End, m.sums[k]})
		}
	}
	if late {
		m.late = append(m.late, e)
	}
}

func (m *windowModel) watermark(wm int64) {
	if wm <= m.wm {
		return
	}
	for k, sum := range m.sums {
		if m.wm < k.End-1 && k.End-1 <= wm {
			m.out = append(m.out, windowCount{k.Key, k.Start, k.End, sum})
		}
		if k.End-1+m.lateness <= wm {
			delete(m.sums, k)
		}
	}
	m.wm = wm
}

func sortedCounts(cs []windowCount) []windowCount {
	return slices.SortedFunc(slices.Values(cs), func(a, b windowCount) int {
		return cmp.Or(cmp.Compare(a.Start, b.Start), cmp.Compare(a.Key, b.Key), cmp.Compare(a.Count, b.Count))
	})
}

// Sliding windows kept as slices emit what one sum per window would, after
// every record and watermark, for random out-of-order input, with and
// without allowed lateness, across checkpoints restored on both backends;
// and once the watermark passes every window's cleanup, no state is left.
func TestSlicedWindowsMatchPerWindowSums(t *testing.T) {
	for _, c := range []struct{ size, slide, offset, lateness int64 }{
		{10, 2, 0, 0},
		{10, 4, 0, 0}, // slices of 2 ms
		{12, 3, 1, 5},
		{10, 5, 0, 7},
		{10, 5, 0, 1},
		{9, 6, 2, 4},  // slices of 3 ms
		{6, 6, 0, 3},  // a tumbling window
		{12, 4, 2, 8}, // cleanup timers fall on the ends of later windows
	} {
		for _, kind := range []backendKind{"heap", "pebble"} {
			t.Run(fmt.Sprintf("size=%d,slide=%d,offset=%d,lateness=%d/%s", c.size, c.slide, c.offset, c.lateness, kind), func(t *testing.T) {
				g, op := slidingGraph(t, c.size, c.slide, c.offset, c.lateness)
				// The restored backends share the entries they restore.
				var cb *countingBackend
				nb, live := newBackend(t, kind), map[string]bool{}
				newB := func() statebackend.KeyedBackend {
					cb = &countingBackend{KeyedBackend: nb(), live: live}
					return cb
				}
				h := newHarness(t, g, op, newB, epoch(), nil)
				m := &windowModel{size: c.size, slide: c.slide, offset: c.offset, lateness: c.lateness, wm: NoTimestamp, sums: map[windowCount]int64{}}
				r := rand.New(rand.NewPCG(uint64(c.size), uint64(c.slide*100+c.lateness)))
				now := int64(100)
				check := func(step string) {
					t.Helper()
					got, want := sortedCounts(take[windowCount](t, &h.out)), sortedCounts(m.out)
					if !slices.Equal(got, want) {
						t.Fatalf("%s: emitted %v, want %v", step, got, want)
					}
					if late := take[tsEvent](t, &h.late); !slices.Equal(late, m.late) {
						t.Fatalf("%s: late %v, want %v", step, late, m.late)
					}
					m.out, m.late = nil, nil
				}
				for i := range 600 {
					switch p := r.IntN(100); {
					case p < 70:
						now += r.Int64N(2)
						e := tsEvent{Key: string(rune('a' + r.IntN(3))), TS: now - r.Int64N(c.size+c.lateness+4), N: 1 + r.Int64N(1000)}
						h.send(e.Key, e.TS, e.N)
						m.send(e)
						check(fmt.Sprintf("step %d: record %v", i, e))
					case p < 95:
						wm := now - r.Int64N(6)
						h.watermark(wm)
						m.watermark(wm)
						check(fmt.Sprintf("step %d: watermark %d", i, wm))
					default:
						snap, err := h.chain.Snapshot(int64(i))
						if err != nil {
							t.Fatal(err)
						}
						h = newHarness(t, g, op, newB, epoch(), snap)
					}
				}
				h.watermark(MaxWatermark)
				m.watermark(MaxWatermark)
				check("end of input")
				if len(cb.live) != 0 {
					t.Fatalf("state left after every window's cleanup: %v", cb.live)
				}
			})
		}
	}
}

// A record of a slice that exists reads and writes its accumulator and
// nothing else, whatever the number of windows it belongs to.
func TestSlicedWindowRecordCost(t *testing.T) {
	g, op := slidingGraph(t, 10, 2, 0, 0)
	for _, kind := range []backendKind{"heap", "pebble"} {
		t.Run(string(kind), func(t *testing.T) {
			nb := newBackend(t, kind)
			var cb *countingBackend
			h := newHarness(t, g, op, func() statebackend.KeyedBackend {
				cb = &countingBackend{KeyedBackend: nb(), live: map[string]bool{}}
				return cb
			}, epoch(), nil)
			h.send("a", 4, 1) // creates the slice [4,6) of five windows
			cb.reads, cb.writes = 0, 0
			for range 10 {
				h.send("a", 5, 1)
			}
			if cb.reads != 10 || cb.writes != 10 {
				t.Fatalf("10 records of a slice: %d reads, %d writes of keyed state, want 10 and 10", cb.reads, cb.writes)
			}
			h.watermark(MaxWatermark)
			got := sortedCounts(take[windowCount](t, &h.out))
			want := []windowCount{{"a", -4, 6, 11}, {"a", -2, 8, 11}, {"a", 0, 10, 11}, {"a", 2, 12, 11}, {"a", 4, 14, 11}}
			if !slices.Equal(got, want) {
				t.Fatalf("emitted %v, want %v", got, want)
			}
		})
	}
}

// A late record within the allowed lateness fires its window again with
// every slice of it, including those whose last window it is; once the
// watermark passes that window's cleanup, the slice is gone and records of
// it count only in the windows still open, or are late.
func TestSlicedWindowLateFiring(t *testing.T) {
	g, op := slidingGraph(t, 10, 5, 0, 1)
	for _, kind := range []backendKind{"heap", "pebble"} {
		t.Run(string(kind), func(t *testing.T) {
			h := newHarness(t, g, op, newBackend(t, kind), epoch(), nil)
			h.send("a", 2, 1)
			h.send("a", 7, 10)
			h.watermark(9)
			if got, want := sortedCounts(take[windowCount](t, &h.out)), []windowCount{{"a", -5, 5, 1}, {"a", 0, 10, 11}}; !slices.Equal(got, want) {
				t.Fatalf("at watermark 9: %v, want %v", got, want)
			}
			h.send("a", 8, 100) // [0,10) is cleaned up at 10
			if got, want := take[windowCount](t, &h.out), []windowCount{{"a", 0, 10, 111}}; !slices.Equal(got, want) {
				t.Fatalf("late firing: %v, want %v", got, want)
			}
			h.watermark(10)
			h.send("a", 3, 1000) // every window of [0,5) is gone
			h.send("a", 6, 10000)
			if late := take[tsEvent](t, &h.late); !slices.Equal(late, []tsEvent{{"a", 3, 1000}}) {
				t.Fatalf("late records %v, want the one at 3", late)
			}
			h.watermark(MaxWatermark)
			if got, want := sortedCounts(take[windowCount](t, &h.out)), []windowCount{{"a", 5, 15, 10110}}; !slices.Equal(got, want) {
				t.Fatalf("at the end: %v, want %v", got, want)
			}
		})
	}
}
