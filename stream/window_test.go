package stream

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	weirv1 "github.com/weirstream/weir/api/proto/weir/v1"
	"github.com/weirstream/weir/internal/clock"
	"github.com/weirstream/weir/internal/keygroup"
	"github.com/weirstream/weir/internal/plan"
	"github.com/weirstream/weir/internal/statebackend"
	"github.com/weirstream/weir/internal/statebackend/heap"
	"github.com/weirstream/weir/internal/statebackend/pebble"
)

// Test functions for the window and timer tests, registered under names no
// other test uses.

type tsEvent struct {
	Key string
	TS  int64
	N   int64
}

// tsEventCodec keeps JSON off the benchmark's data path.
type tsEventCodec struct{}

func (tsEventCodec) Append(dst []byte, v tsEvent) []byte {
	dst = binary.AppendVarint(dst, v.TS)
	dst = binary.AppendVarint(dst, v.N)
	return append(dst, v.Key...)
}

func (tsEventCodec) Decode(src []byte) (tsEvent, error) {
	ts, n := binary.Varint(src)
	if n <= 0 {
		return tsEvent{}, ErrShortBuffer
	}
	v, m := binary.Varint(src[n:])
	if m <= 0 {
		return tsEvent{}, ErrShortBuffer
	}
	return tsEvent{TS: ts, N: v, Key: string(src[n+m:])}, nil
}

type tsSource struct{}

func (tsSource) CreateReader(*SourceContext) (SourceReader[tsEvent], error) {
	return nil, errors.New("not for running")
}

type tsAssigner struct{}

func (tsAssigner) ExtractTimestamp(v tsEvent, _ int64) int64 { return v.TS }

type tsKey struct{}

func (tsKey) Key(v tsEvent) string { return v.Key }

type tsSum struct{}

func (tsSum) Reduce(a, b tsEvent) (tsEvent, error) {
	a.N += b.N
	a.TS = max(a.TS, b.TS)
	return a, nil
}

type windowCount struct {
	Key        string
	Start, End int64
	Count      int64
}

type tsCount struct{}

func (tsCount) CreateAccumulator() int64        { return 0 }
func (tsCount) Add(_ tsEvent, acc int64) int64  { return acc + 1 }
func (tsCount) GetResult(acc int64) windowCount { return windowCount{Count: acc} }
func (tsCount) Merge(a, b int64) int64          { return a + b }
func (tsCount) WindowResult(ctx *WindowContext[string], acc int64) (windowCount, error) {
	w := ctx.Window()
	return windowCount{Key: ctx.Key(), Start: w.Start, End: w.End, Count: acc}, nil
}

type tsCollect struct{}

func (tsCollect) Process(ctx *WindowContext[string], in []tsEvent, out Collector[string]) error {
	var ns []string
	for _, e := range in {
		ns = append(ns, fmt.Sprint(e.N))
	}
	slices.Sort(ns)
	out.Collect(fmt.Sprintf("%s[%d,%d):%s", ctx.Key(), ctx.Window().Start, ctx.Window().End, strings.Join(ns, " ")))
	return nil
}

type tsSink[T any] struct{}

func (tsSink[T]) CreateWriter(*SinkContext) (SinkWriter[T], error) {
	return nil, errors.New("not for running")
}

func init() {
	RegisterCodec[tsEvent](tsEventCodec{})
	RegisterSource[tsEvent]("ts-test.source", tsSource{})
	RegisterTimestampAssigner[tsEvent]("ts-test.timestamps", tsAssigner{})
	RegisterKeySelector[tsEvent, string]("ts-test.key", tsKey{})
	RegisterReduce[tsEvent]("ts-test.sum", tsSum{})
	RegisterWindowAggregate[string, tsEvent, int64, windowCount]("ts-test.count", tsCount{})
	RegisterProcessWindow[string, tsEvent, string]("ts-test.collect", tsCollect{})
	RegisterProcess[string, tsEvent, string]("ts-test.timers", timerFn{})
	RegisterSink[tsEvent]("ts-test.sink-event", tsSink[tsEvent]{})
	RegisterSink[windowCount]("ts-test.sink-count", tsSink[windowCount]{})
	RegisterSink[string]("ts-test.sink-string", tsSink[string]{})
}

// captured is a record written to a network edge.
type captured struct {
	rec []byte
	ts  int64
}

type captureWriter struct{ recs *[]captured }

func (w captureWriter) WriteRecord(rec []byte, ts int64, _ uint64) error {
	*w.recs = append(*w.recs, captured{append([]byte(nil), rec...), ts})
	return nil
}

// harness runs the chain of one keyed operator (window or process) of a job
// graph directly, as its task would: records in, watermarks in, what it
// writes to its output edges captured.
type harness struct {
	t       testing.TB
	g       *weirv1.JobGraph
	v       *plan.Vertex
	backend statebackend.KeyedBackend
	newB    func() statebackend.KeyedBackend
	clock   *clock.Manual
	chain   *Chain
	out     []captured // main output
	late    []captured // late side output
}

type backendKind string

func newBackend(t testing.TB, kind backendKind) func() statebackend.KeyedBackend {
	r := keygroup.RangeOf(0, 1, keygroup.DefaultMaxParallelism)
	return func() statebackend.KeyedBackend {
		if kind == "pebble" {
			b, err := pebble.Open(t.TempDir(), r, pebble.Options{})
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
		return heap.New(r)
	}
}

// newHarness builds the chain of operator op of g on a fresh backend, or
// restored from snap.
func newHarness(t testing.TB, g *weirv1.JobGraph, op int32, newB func() statebackend.KeyedBackend, c *clock.Manual, snap []OperatorSnapshot) *harness {
	t.Helper()
	p, err := plan.Build(g)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, g: g, v: p.VertexOf(op), newB: newB, clock: c}
	h.backend = newB()
	t.Cleanup(func() { h.backend.Close() })
	restore := map[string]OperatorSnapshot{}
	for _, s := range snap {
		restore[s.UID] = s
	}
	h.chain, err = BuildChain(g, h.v, ChainOptions{
		Info:    TaskInfo{TaskName: h.v.Name, Parallelism: 1, MaxParallelism: keygroup.DefaultMaxParallelism, Clock: c},
		Backend: h.backend,
		Writer: func(e plan.Edge) EdgeWriter {
			if e.SideOutput == LateSideOutput {
				return captureWriter{&h.late}
			}
			return captureWriter{&h.out}
		},
		Restore: restore,
	})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func (h *harness) send(key string, ts, n int64) {
	h.t.Helper()
	rec := CodecFor[tsEvent]().Append(nil, tsEvent{Key: key, TS: ts, N: n})
	if err := h.chain.Process(rec, ts); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) watermark(wm int64) {
	h.t.Helper()
	if _, err := h.chain.AdvanceWatermark(wm); err != nil {
		h.t.Fatal(err)
	}
}

// take returns and forgets the main output so far, decoded.
func take[T any](t testing.TB, recs *[]captured) []T {
	t.Helper()
	var out []T
	for _, c := range *recs {
		v, err := CodecFor[T]().Decode(c.rec)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, v)
	}
	*recs = nil
	return out
}

// windowGraph is source -> timestamps -> keyBy -> window(fn) -> sink, the
// sink at another parallelism so the window's output is a network edge;
// with late, the late records go to a second sink. It returns the graph
// and the window operator's id.
func windowGraph[Out any](t testing.TB, w func(WindowedStream[string, tsEvent]) DataStream[Out], sink Sink[Out], late bool) (*weirv1.JobGraph, int32) {
	t.Helper()
	env := NewEnv()
	src := FromSource[tsEvent](env, tsSource{}, "src")
	ts := AssignTimestampsAndWatermarks(src, ForBoundedOutOfOrderness[tsEvent](tsAssigner{}, 0))
	res := w(KeyBy[string](ts, tsKey{}).Window(TumblingEventTimeWindows(10 * time.Millisecond)))
	env.SetParallelism(2)
	res.SinkTo(sink, "sink")
	env.SetParallelism(1)
	if late {
		env.SetParallelism(2)
		LateData[tsEvent](res).SinkTo(tsSink[tsEvent]{}, "late")
		env.SetParallelism(1)
	}
	g, err := env.Graph()
	if err != nil {
		t.Fatal(err)
	}
	return g, res.op.GetId()
}

func epoch() *clock.Manual { return clock.NewManual(time.UnixMilli(1_000_000)) }

// Out-of-order records within the watermark's bound all land in their
// window, and each window fires exactly once, when the watermark passes
// its end, with the window's last millisecond as the output's timestamp.
func TestTumblingWindowOutOfOrder(t *testing.T) {
	g, op := windowGraph(t, func(w WindowedStream[string, tsEvent]) DataStream[tsEvent] { return w.Reduce(tsSum{}) }, tsSink[tsEvent]{}, false)
	h := newHarness(t, g, op, newBackend(t, "heap"), epoch(), nil)
	h.send("a", 7, 1)
	h.send("a", 12, 10) // next window
	h.send("a", 3, 100) // out of order, still before the watermark
	h.send("b", 9, 1000)
	h.watermark(8)
	if len(h.out) != 0 {
		t.Fatalf("fired before the watermark passed the window's end: %v", h.out)
	}
	h.watermark(9)
	got := take[tsEvent](t, &h.out)
	slices.SortFunc(got, func(x, y tsEvent) int { return strings.Compare(x.Key, y.Key) })
	if want := []tsEvent{{"a", 7, 101}, {"b", 9, 1000}}; !slices.Equal(got, want) {
		t.Fatalf("window [0,10) emitted %v, want %v", got, want)
	}
	h.watermark(9) // no regression, nothing again
	h.watermark(15)
	if len(h.out) != 0 {
		t.Fatalf("window [10,20) fired at watermark 15: %v", h.out)
	}
	h.watermark(MaxWatermark)
	if len(h.out) != 1 || h.out[0].ts != 19 {
		t.Fatalf("end of input: %v, want one record at 19", h.out)
	}
	if got := take[tsEvent](t, &h.out); got[0] != (tsEvent{"a", 12, 10}) {
		t.Fatalf("window [10,20) emitted %v", got)
	}
}

// With allowed lateness a late record updates its window and fires it
// again; after end + lateness the window is gone and a record for it goes
// to the late side output.
func TestAllowedLatenessAndLateSideOutput(t *testing.T) {
	g, op := windowGraph(t, func(w WindowedStream[string, tsEvent]) DataStream[windowCount] {
		return AggregateWindow[windowCount](w.AllowedLateness(5*time.Millisecond).SideOutputLateData(), tsCount{})
	}, tsSink[windowCount]{}, true)
	h := newHarness(t, g, op, newBackend(t, "heap"), epoch(), nil)
	h.send("a", 1, 0)
	h.send("a", 2, 0)
	h.watermark(10)
	if got := take[windowCount](t, &h.out); !slices.Equal(got, []windowCount{{"a", 0, 10, 2}}) {
		t.Fatalf("on time: %v", got)
	}
	h.send("a", 4, 0) // late, within lateness (cleanup at 9+5=14)
	if got := take[windowCount](t, &h.out); !slices.Equal(got, []windowCount{{"a", 0, 10, 3}}) {
		t.Fatalf("late firing: %v", got)
	}
	h.watermark(14) // state dropped
	h.send("a", 5, 42)
	if len(h.out) != 0 {
		t.Fatalf("a record after the allowed lateness fired its window: %v", take[windowCount](t, &h.out))
	}
	late := take[tsEvent](t, &h.late)
	if !slices.Equal(late, []tsEvent{{"a", 5, 42}}) || len(late) != 1 {
		t.Fatalf("late side output %v, want the record at 5", late)
	}
}

// Without the side output, late records are dropped and counted.
func TestLateRecordsDroppedWithoutSideOutput(t *testing.T) {
	g, op := windowGraph(t, func(w WindowedStream[string, tsEvent]) DataStream[tsEvent] { return w.Reduce(tsSum{}) }, tsSink[tsEvent]{}, false)
	h := newHarness(t, g, op, newBackend(t, "heap"), epoch(), nil)
	h.watermark(20)
	h.send("a", 3, 1)
	h.watermark(MaxWatermark)
	if len(h.out) != 0 {
		t.Fatalf("a late record fired a window: %v", h.out)
	}
}

// Sessions closer than the gap merge, also when a record bridges two
// sessions that were apart.
func TestSessionWindowMerging(t *testing.T) {
	env := NewEnv()
	src := FromSource[tsEvent](env, tsSource{}, "src")
	ts := AssignTimestampsAndWatermarks(src, ForBoundedOutOfOrderness[tsEvent](tsAssigner{}, 0))
	res := ProcessWindow[string](KeyBy[string](ts, tsKey{}).Window(EventTimeSessionWindows(10*time.Millisecond)), tsCollect{})
	env.SetParallelism(2)
	res.SinkTo(tsSink[string]{}, "sink")
	env.SetParallelism(1)
	g, err := env.Graph()
	if err != nil {
		t.Fatal(err)
	}
	for _, kind := range []backendKind{"heap", "pebble"} {
		t.Run(string(kind), func(t *testing.T) {
			h := newHarness(t, g, res.op.GetId(), newBackend(t, kind), epoch(), nil)
			h.send("a", 0, 1)  // [0,10)
			h.send("a", 17, 2) // [17,27): apart
			h.send("b", 5, 9)  // another key
			h.send("a", 8, 3)  // [8,18) bridges both: [0,27)
			h.send("a", 50, 4) // [50,60)
			h.watermark(25)
			if got := take[string](t, &h.out); !slices.Equal(got, []string{"b[5,15):9"}) {
				t.Fatalf("at watermark 25: %v", got)
			}
			h.watermark(26)
			if got := take[string](t, &h.out); !slices.Equal(got, []string{"a[0,27):1 2 3"}) {
				t.Fatalf("at watermark 26: %v", got)
			}
			h.watermark(MaxWatermark)
			if got := take[string](t, &h.out); !slices.Equal(got, []string{"a[50,60):4"}) {
				t.Fatalf("at the end: %v", got)
			}
		})
	}
}

// A record belongs to size/slide sliding windows.
func TestSlidingWindows(t *testing.T) {
	env := NewEnv()
	src := FromSource[tsEvent](env, tsSource{}, "src")
	ts := AssignTimestampsAndWatermarks(src, ForMonotonousTimestamps[tsEvent](tsAssigner{}))
	res := AggregateWindow[windowCount](KeyBy[string](ts, tsKey{}).Window(SlidingEventTimeWindows(10*time.Millisecond, 5*time.Millisecond)), tsCount{})
	env.SetParallelism(2)
	res.SinkTo(tsSink[windowCount]{}, "sink")
	env.SetParallelism(1)
	g, err := env.Graph()
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, g, res.op.GetId(), newBackend(t, "heap"), epoch(), nil)
	h.send("a", 7, 0)
	h.send("a", 12, 0)
	h.watermark(MaxWatermark)
	got := take[windowCount](t, &h.out)
	want := []windowCount{{"a", 0, 10, 1}, {"a", 5, 15, 2}, {"a", 10, 20, 1}}
	if !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

// Processing-time windows fire from the injected clock.
func TestProcessingTimeWindow(t *testing.T) {
	env := NewEnv()
	src := FromSource[tsEvent](env, tsSource{}, "src")
	res := AggregateWindow[windowCount](KeyBy[string](src, tsKey{}).Window(TumblingProcessingTimeWindows(time.Second)), tsCount{})
	env.SetParallelism(2)
	res.SinkTo(tsSink[windowCount]{}, "sink")
	env.SetParallelism(1)
	g, err := env.Graph()
	if err != nil {
		t.Fatal(err)
	}
	c := clock.NewManual(time.UnixMilli(10_500))
	h := newHarness(t, g, res.op.GetId(), newBackend(t, "heap"), c, nil)
	h.send("a", NoTimestamp, 0)
	h.send("a", NoTimestamp, 0)
	if at, ok := h.chain.Deadline(); !ok || at.UnixMilli() != 10_999 {
		t.Fatalf("deadline %v %t, want 10999", at.UnixMilli(), ok)
	}
	if err := h.chain.FireProcessingTimers(); err != nil {
		t.Fatal(err)
	}
	if len(h.out) != 0 {
		t.Fatal("fired before its end")
	}
	c.Advance(499 * time.Millisecond)
	if err := h.chain.FireProcessingTimers(); err != nil {
		t.Fatal(err)
	}
	if got := take[windowCount](t, &h.out); !slices.Equal(got, []windowCount{{"a", 10_000, 11_000, 2}}) {
		t.Fatalf("got %v", got)
	}
}

// An event-time window needs timestamps: a record without one fails the
// task with an error that says so.
func TestEventTimeWindowWithoutTimestamps(t *testing.T) {
	g, op := windowGraph(t, func(w WindowedStream[string, tsEvent]) DataStream[tsEvent] { return w.Reduce(tsSum{}) }, tsSink[tsEvent]{}, false)
	h := newHarness(t, g, op, newBackend(t, "heap"), epoch(), nil)
	rec := CodecFor[tsEvent]().Append(nil, tsEvent{Key: "a"})
	err := h.chain.Process(rec, NoTimestamp)
	if err == nil || !strings.Contains(err.Error(), "no event timestamp") {
		t.Fatalf("err = %v, want one about the missing timestamp", err)
	}
}

// A checkpoint taken with windows open restores them: each fires once,
// with the records from before and after the checkpoint, on both backends.
// The restored operator keeps the checkpoint's watermark, so a record the
// operator had found late is late again after the restore.
func TestWindowsRestoreMidWindow(t *testing.T) {
	g, op := windowGraph(t, func(w WindowedStream[string, tsEvent]) DataStream[tsEvent] { return w.Reduce(tsSum{}) }, tsSink[tsEvent]{}, false)
	for _, kind := range []backendKind{"heap", "pebble"} {
		t.Run(string(kind), func(t *testing.T) {
			nb := newBackend(t, kind)
			h := newHarness(t, g, op, nb, epoch(), nil)
			h.send("a", 12, 1)
			h.send("b", 25, 1)
			h.watermark(10)
			snap, err := h.chain.Snapshot(1)
			if err != nil {
				t.Fatal(err)
			}
			h2 := newHarness(t, g, op, nb, epoch(), snap)
			if wm := h2.chain.Watermark(); wm != 10 {
				t.Fatalf("restored watermark %d, want 10", wm)
			}
			h2.send("a", 5, 1000) // late: its window fired before the checkpoint
			h2.send("a", 15, 2)
			h2.watermark(19)
			if got := take[tsEvent](t, &h2.out); !slices.Equal(got, []tsEvent{{"a", 15, 3}}) {
				t.Fatalf("window [10,20) after restore: %v", got)
			}
			h2.watermark(MaxWatermark)
			if got := take[tsEvent](t, &h2.out); !slices.Equal(got, []tsEvent{{"b", 25, 1}}) {
				t.Fatalf("window [20,30) after restore: %v", got)
			}
		})
	}
}

func TestWindowSpecValidation(t *testing.T) {
	for _, c := range []struct {
		spec *weirv1.WindowSpec
		want string
	}{
		{TumblingEventTimeWindows(0).spec, "window.size_millis"},
		{SlidingEventTimeWindows(time.Second, 2*time.Second).spec, "window.slide_millis"},
		{EventTimeSessionWindows(0).spec, "window.gap_millis"},
		{&weirv1.WindowSpec{Kind: weirv1.WindowKind_WINDOW_KIND_TUMBLING, SizeMillis: 1}, "window.time"},
		{&weirv1.WindowSpec{Kind: weirv1.WindowKind_WINDOW_KIND_TUMBLING, SizeMillis: 1, Time: weirv1.TimeDomain_TIME_DOMAIN_PROCESSING, AllowedLatenessMillis: 5}, "window.allowed_lateness_millis"},
	} {
		err := ValidateWindowSpec(c.spec)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: err = %v, want one naming %s", c.spec, err, c.want)
		}
	}
	// And at submission.
	g, op := windowGraph(t, func(w WindowedStream[string, tsEvent]) DataStream[tsEvent] { return w.Reduce(tsSum{}) }, tsSink[tsEvent]{}, false)
	g.Operators[op].Window.SizeMillis = -1
	if err := ValidateGraph(g); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("operators[%d]", op)) || !strings.Contains(err.Error(), "size_millis") {
		t.Fatalf("ValidateGraph: %v", err)
	}
}

func TestLateDataNeedsSideOutput(t *testing.T) {
	env := NewEnv()
	src := FromSource[tsEvent](env, tsSource{}, "src")
	ts := AssignTimestampsAndWatermarks(src, ForMonotonousTimestamps[tsEvent](tsAssigner{}))
	res := KeyBy[string](ts, tsKey{}).Window(TumblingEventTimeWindows(time.Second)).Reduce(tsSum{})
	LateData[tsEvent](res).SinkTo(tsSink[tsEvent]{}, "late")
	if _, err := env.Graph(); err == nil || !strings.Contains(err.Error(), "SideOutputLateData") {
		t.Fatalf("err = %v, want one naming SideOutputLateData", err)
	}
}

// BenchmarkWindowAggregate measures the per-record cost of a tumbling
// event-time count window on the heap and Pebble backends: 100 keys, 10
// records per key and window, the watermark advanced every 1,000 records
// (one window).
func BenchmarkWindowAggregate(b *testing.B) {
	for _, kind := range []backendKind{"heap", "pebble"} {
		b.Run(string(kind), func(b *testing.B) {
			env := NewEnv()
			src := FromSource[tsEvent](env, tsSource{}, "src")
			ts := AssignTimestampsAndWatermarks(src, ForMonotonousTimestamps[tsEvent](tsAssigner{}))
			res := AggregateWindow[windowCount](KeyBy[string](ts, tsKey{}).Window(TumblingEventTimeWindows(time.Second)), tsCount{})
			env.SetParallelism(2)
			res.SinkTo(tsSink[windowCount]{}, "sink")
			g, err := env.Graph()
			if err != nil {
				b.Fatal(err)
			}
			h := newHarness(b, g, res.op.GetId(), newBackend(b, kind), epoch(), nil)
			keys := make([][]byte, 100)
			for i := range keys {
				keys[i] = CodecFor[tsEvent]().Append(nil, tsEvent{Key: fmt.Sprintf("key-%d", i)})
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				t := int64(i) // 1 ms per record: 1,000 records per 1 s window
				if err := h.chain.Process(keys[i%len(keys)], t); err != nil {
					b.Fatal(err)
				}
				if i%1000 == 999 {
					if _, err := h.chain.AdvanceWatermark(t); err != nil {
						b.Fatal(err)
					}
					h.out = h.out[:0]
				}
			}
		})
	}
}
