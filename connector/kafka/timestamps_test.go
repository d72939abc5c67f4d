package kafka

import (
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/weirstream/weir/stream"
)

// timedCollector records what a reader emits with timestamps.
type timedCollector struct {
	collector
	ts []int64
}

func (c *timedCollector) CollectWithTimestamp(v string, ts int64) {
	c.values = append(c.values, v)
	c.ts = append(c.ts, ts)
}

var _ stream.TimestampCollector[string] = (*timedCollector)(nil)

// splitCollector records what a reader emits with splits and timestamps.
type splitCollector struct {
	timedCollector
	splits []int
}

func (c *splitCollector) CollectFromSplit(split int, v string, ts int64) {
	c.CollectWithTimestamp(v, ts)
	c.splits = append(c.splits, split)
}

var _ stream.SplitCollector[string] = (*splitCollector)(nil)

// Each partition of a subtask is a split of its own, numbered densely:
// subtask 1 of 2 reads partitions 1 and 3 as splits 0 and 1.
func TestSourceEmitsPartitionsAsSplits(t *testing.T) {
	tc := newTestCluster(t, 4, "in")
	t0 := time.UnixMilli(1_700_000_000_000)
	for p := range int32(4) {
		tc.produceAt(t, "in", p, t0.Add(time.Duration(p)*time.Minute), fmt.Sprintf("p%d", p))
	}
	r := newReader(t, Source{Brokers: tc.brokers, Topic: "in", StopAtLatest: true}, 1, 2, nil)
	var out splitCollector
	drain(t, r, &out)
	want := map[string]int{"p1": 0, "p3": 1}
	if len(out.values) != 2 {
		t.Fatalf("read %q, want p1 and p3", out.values)
	}
	for i, v := range out.values {
		if out.splits[i] != want[v] {
			t.Errorf("record %q from split %d, want %d", v, out.splits[i], want[v])
		}
		if p, _ := strconv.Atoi(v[1:]); out.ts[i] != t0.Add(time.Duration(p)*time.Minute).UnixMilli() {
			t.Errorf("record %q has timestamp %d", v, out.ts[i])
		}
	}
}

// drain reads a bounded reader to its end into out, which may be a
// TimestampCollector or SplitCollector.
func drain(t *testing.T, r *reader, out stream.Collector[string]) {
	t.Helper()
	for {
		st, err := r.PollNext(out)
		if err != nil {
			t.Fatal(err)
		}
		if st == stream.PollEnd {
			return
		}
		if st == stream.PollIdle {
			select {
			case <-r.Available():
			case <-time.After(waitTimeout):
				t.Fatal("reader idle")
			}
		}
	}
}

// Records carry their Kafka timestamps as event timestamps, per
// partition.
func TestSourceEmitsRecordTimestamps(t *testing.T) {
	tc := newTestCluster(t, 2, "in")
	t0 := time.UnixMilli(1_700_000_000_000)
	tc.produceAt(t, "in", 0, t0, "a", "b")
	tc.produceAt(t, "in", 1, t0.Add(time.Hour), "c")
	r := newReader(t, Source{Brokers: tc.brokers, Topic: "in", StopAtLatest: true}, 0, 1, nil)
	var out timedCollector
	drain(t, r, &out)
	want := map[string]int64{"a": t0.UnixMilli(), "b": t0.UnixMilli(), "c": t0.Add(time.Hour).UnixMilli()}
	if len(out.values) != len(want) {
		t.Fatalf("read %q, want a, b, c", out.values)
	}
	for i, v := range out.values {
		if out.ts[i] != want[v] {
			t.Errorf("record %q has timestamp %d, want %d", v, out.ts[i], want[v])
		}
	}
}
