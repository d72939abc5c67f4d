package stream

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	weirv1 "github.com/weirstream/weir/api/proto/weir/v1"
)

// timerFn counts records per key and registers, for each record, an
// event-time timer at N (twice: a timer exists once per key and
// timestamp), or with N < 0 a processing-time timer at -N. N == 0 deletes
// the key's event-time timer at TS. OnTimer emits key@ts/domain=count.
type timerFn struct{}

func (timerFn) Open(ctx *OpenContext) error {
	c, err := NewValueState[int64](ctx, "count")
	if err != nil {
		return err
	}
	timerCount = c
	return nil
}

// timerCount is the state of the one timerFn instance a test runs.
var timerCount *ValueState[int64]

func (timerFn) ProcessElement(ctx *KeyedContext[string], in tsEvent, _ Collector[string]) error {
	n, _, err := timerCount.Value()
	if err != nil {
		return err
	}
	timerCount.Update(n + 1)
	ts := ctx.TimerService()
	switch {
	case in.N > 0:
		ts.RegisterEventTimeTimer(in.N)
		ts.RegisterEventTimeTimer(in.N)
	case in.N < 0:
		ts.RegisterProcessingTimeTimer(-in.N)
	default:
		ts.DeleteEventTimeTimer(in.TS)
	}
	return nil
}

func (timerFn) OnTimer(ctx *KeyedContext[string], ts int64, out Collector[string]) error {
	n, _, err := timerCount.Value()
	if err != nil {
		return err
	}
	if ctx.Timestamp() != ts {
		return fmt.Errorf("timestamp %d in OnTimer(%d)", ctx.Timestamp(), ts)
	}
	out.Collect(fmt.Sprintf("%s@%d/%s=%d", ctx.CurrentKey(), ts, ctx.TimeDomain(), n))
	return nil
}

func timerGraph(t *testing.T) (*weirv1.JobGraph, int32) {
	env := NewEnv()
	src := FromSource[tsEvent](env, tsSource{}, "src")
	res := Process[string](KeyBy[string](src, tsKey{}), timerFn{})
	env.SetParallelism(2)
	res.SinkTo(tsSink[string]{}, "sink")
	env.SetParallelism(1)
	g, err := env.Graph()
	if err != nil {
		t.Fatal(err)
	}
	return g, res.op.GetId()
}

// Event-time and processing-time timers fire once per key and timestamp,
// in timestamp order, with state scoped to their key; deleted timers do
// not fire; timers and the watermark survive a checkpoint and restore, on
// both backends.
func TestTimers(t *testing.T) {
	g, op := timerGraph(t)
	for _, kind := range []backendKind{"heap", "pebble"} {
		t.Run(string(kind), func(t *testing.T) {
			nb := newBackend(t, kind)
			c := epoch() // processing time 1_000_000
			h := newHarness(t, g, op, nb, c, nil)
			h.send("a", 1, 30)
			h.send("a", 2, 30) // the same timer again
			h.send("b", 3, 20)
			h.send("b", 4, 40)
			h.send("c", 5, 50)
			h.send("c", 50, 0) // deletes c's timer at 50
			h.send("a", 6, -1_000_500)
			h.watermark(25)
			if got := take[string](t, &h.out); !slices.Equal(got, []string{"b@20/event time=2"}) {
				t.Fatalf("at watermark 25: %v", got)
			}
			if at, ok := h.chain.Deadline(); !ok || at.UnixMilli() != 1_000_500 {
				t.Fatalf("deadline %d %t, want the processing-time timer at 1000500", at.UnixMilli(), ok)
			}

			snap, err := h.chain.Snapshot(1)
			if err != nil {
				t.Fatal(err)
			}
			h2 := newHarness(t, g, op, nb, c, snap)
			h2.watermark(20) // behind the restored watermark: nothing
			if len(h2.out) != 0 {
				t.Fatalf("a watermark behind the restored one fired %v", take[string](t, &h2.out))
			}
			c.Advance(500 * time.Millisecond)
			if err := h2.chain.FireProcessingTimers(); err != nil {
				t.Fatal(err)
			}
			if got := take[string](t, &h2.out); !slices.Equal(got, []string{"a@1000500/processing time=3"}) {
				t.Fatalf("processing-time timer after restore: %v", got)
			}
			h2.watermark(MaxWatermark)
			if got := take[string](t, &h2.out); !slices.Equal(got, []string{"a@30/event time=3", "b@40/event time=2"}) {
				t.Fatalf("event-time timers after restore: %v", got)
			}
			if len(h2.out) != 0 {
				t.Fatalf("timers fired twice: %v", h2.out)
			}
		})
	}
}

func TestReservedStateNames(t *testing.T) {
	ctx := &OpenContext{backend: newBackend(t, "heap")()}
	if _, err := NewValueState[int64](ctx, "__weir.timers"); err == nil || !strings.Contains(err.Error(), "reserved") {
		t.Fatalf("err = %v, want one saying the name is reserved", err)
	}
}
