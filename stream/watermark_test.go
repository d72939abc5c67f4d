package stream

import (
	"testing"
	"time"

	"github.com/weirstream/weir/internal/keygroup"
	"github.com/weirstream/weir/internal/plan"
)

type splitRecord struct {
	split int
	ts    int64
}

// splitScript is what the splitSource reader of the running test emits,
// one batch per PollNext.
var splitScript [][]splitRecord

type splitSource struct{}

func (splitSource) CreateReader(*SourceContext) (SourceReader[tsEvent], error) {
	return &splitReader{}, nil
}

type splitReader struct{ next int }

func (r *splitReader) PollNext(out Collector[tsEvent]) (PollStatus, error) {
	if r.next >= len(splitScript) {
		return PollIdle, nil
	}
	for _, rec := range splitScript[r.next] {
		out.(SplitCollector[tsEvent]).CollectFromSplit(rec.split, tsEvent{Key: "k", TS: rec.ts}, NoTimestamp)
	}
	r.next++
	return PollMore, nil
}
func (r *splitReader) Available() <-chan struct{} { return nil }
func (r *splitReader) Close() error               { return nil }

func init() { RegisterSource[tsEvent]("ts-test.split-source", splitSource{}) }

// A source reading several splits gets a watermark per split, the minimum
// over the splits that are not idle; a split without records for the
// idleness timeout stops holding the watermark back, and when every split
// is idle the source is idle.
func TestSourceWatermarksPerSplitAndIdleness(t *testing.T) {
	env := NewEnv()
	src := FromSource[tsEvent](env, splitSource{}, "src")
	ts := AssignTimestampsAndWatermarks(src, ForMonotonousTimestamps[tsEvent](tsAssigner{}).WithIdleness(100*time.Millisecond))
	env.SetParallelism(2)
	KeyBy[string](ts, tsKey{}).Window(TumblingEventTimeWindows(time.Second)).Reduce(tsSum{}).SinkTo(tsSink[tsEvent]{}, "sink")
	g, err := env.Graph()
	if err != nil {
		t.Fatal(err)
	}
	p, err := plan.Build(g)
	if err != nil {
		t.Fatal(err)
	}
	var out []captured
	c := epoch()
	chain, err := BuildChain(g, p.VertexOf(0), ChainOptions{
		Info:   TaskInfo{Parallelism: 1, MaxParallelism: keygroup.DefaultMaxParallelism, Clock: c},
		Writer: func(plan.Edge) EdgeWriter { return captureWriter{&out} },
	})
	if err != nil {
		t.Fatal(err)
	}
	splitScript = [][]splitRecord{{{0, 10}, {1, 50}}, {{1, 80}}, {{1, 90}}}
	step := func(want int64, wantAdvanced, wantIdle bool) {
		t.Helper()
		if _, err := chain.Poll(); err != nil {
			t.Fatal(err)
		}
		advanced, idle, err := chain.GenerateWatermark(c.Now())
		if err != nil {
			t.Fatal(err)
		}
		if wm := chain.Watermark(); wm != want || advanced != wantAdvanced || idle != wantIdle {
			t.Fatalf("watermark %d advanced %t idle %t, want %d %t %t", wm, advanced, idle, want, wantAdvanced, wantIdle)
		}
	}
	step(9, true, false)  // the minimum over the splits, minus 1
	step(9, false, false) // split 0 holds it back
	c.Advance(100 * time.Millisecond)
	step(89, true, false) // split 0 idle
	if at, ok := chain.Deadline(); !ok || at != c.Now().Add(100*time.Millisecond) {
		t.Fatalf("deadline %v %t, want when split 1 turns idle", at, ok)
	}
	c.Advance(100 * time.Millisecond)
	step(89, false, true) // every split idle
	for _, r := range out {
		if r.ts == NoTimestamp {
			t.Fatal("a record left the source without its timestamp")
		}
	}
	if len(out) != 4 || out[0].ts != 10 || out[1].ts != 50 {
		t.Fatalf("records %v, want the 4 records with their timestamps", out)
	}
}
