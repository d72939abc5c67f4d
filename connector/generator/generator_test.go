package generator

import (
	"log/slog"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/weirstream/weir/internal/clock"
	"github.com/weirstream/weir/stream"
)

type collector []string

func (c *collector) Collect(v string) { *c = append(*c, v) }

func newReader(t *testing.T, s Source, subtask, parallelism int, clk clock.Clock) stream.SourceReader[string] {
	t.Helper()
	r, err := s.CreateReader(&stream.SourceContext{TaskInfo: stream.TaskInfo{
		SubtaskIndex: subtask, Parallelism: parallelism, MaxParallelism: 128, Clock: clk, Logger: slog.Default(),
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := r.Close(); err != nil {
			t.Error(err)
		}
	})
	return r
}

// drain polls r until PollEnd; r must not go idle.
func drain(t *testing.T, r stream.SourceReader[string]) []string {
	t.Helper()
	var out collector
	for {
		before := len(out)
		st, err := r.PollNext(&out)
		if err != nil {
			t.Fatal(err)
		}
		if len(out)-before > maxBatch {
			t.Fatalf("one PollNext emitted %d records, more than a batch", len(out)-before)
		}
		switch st {
		case stream.PollEnd:
			return out
		case stream.PollIdle:
			t.Fatal("unthrottled generator went idle")
		}
	}
}

func TestLineDeterministic(t *testing.T) {
	seen := map[string]bool{}
	for k := range int64(1000) {
		l := Line(7, 50, k)
		if l != Line(7, 50, k) {
			t.Fatalf("Line(7, 50, %d) differs between calls", k)
		}
		if n := len(strings.Fields(l)); n < 2 || n > 6 {
			t.Fatalf("Line(7, 50, %d) = %q has %d words, want 2..6", k, l, n)
		}
		for _, w := range strings.Fields(l) {
			seen[w] = true
		}
	}
	if len(seen) != 50 {
		t.Errorf("1000 lines over a vocabulary of 50 used %d distinct words", len(seen))
	}
	if Line(7, 50, 1) == Line(8, 50, 1) && Line(7, 50, 2) == Line(8, 50, 2) {
		t.Error("seeds 7 and 8 generate the same lines")
	}
	if Line(1, 0, 3) != Line(1, DefaultWords, 3) {
		t.Error("words 0 is not DefaultWords")
	}
}

func TestUnionIndependentOfParallelism(t *testing.T) {
	const count = 10_000
	src := Source{Count: count, Seed: 42, Words: 200}
	want := make([]string, count)
	for k := range want {
		want[k] = Line(src.Seed, src.Words, int64(k))
	}
	for p := 1; p <= 3; p++ {
		var union []string
		for i := range p {
			got := drain(t, newReader(t, src, i, p, clock.Real{}))
			// Subtask i emits the records k ≡ i mod p, in order.
			for n, l := range got {
				if k := i + n*p; l != want[k] {
					t.Fatalf("p=%d subtask %d record %d = %q, want record %d %q", p, i, n, l, k, want[k])
				}
			}
			union = append(union, got...)
		}
		if len(union) != count {
			t.Fatalf("p=%d: %d records, want %d", p, len(union), count)
		}
		slices.Sort(union)
		sorted := slices.Sorted(slices.Values(want))
		if !slices.Equal(union, sorted) {
			t.Fatalf("p=%d: union differs from the records of p=1", p)
		}
	}
}

func TestPollEndIsSticky(t *testing.T) {
	r := newReader(t, Source{Count: 3}, 0, 1, clock.Real{})
	if got := drain(t, r); len(got) != 3 {
		t.Fatalf("got %d records, want 3", len(got))
	}
	var out collector
	if st, err := r.PollNext(&out); st != stream.PollEnd || err != nil || len(out) != 0 {
		t.Fatalf("PollNext after end = %v, %v, %d records", st, err, len(out))
	}
}

func TestUnboundedEmitsBatches(t *testing.T) {
	r := newReader(t, Source{}, 0, 1, clock.Real{})
	var out collector
	for range 3 {
		st, err := r.PollNext(&out)
		if st != stream.PollMore || err != nil {
			t.Fatalf("PollNext = %v, %v; want PollMore", st, err)
		}
	}
	if len(out) != 3*maxBatch {
		t.Fatalf("3 polls emitted %d records, want %d", len(out), 3*maxBatch)
	}
}

// waitAvailable waits for r's Available channel; the timeout only keeps a
// broken reader from hanging the test.
func waitAvailable(t *testing.T, r stream.SourceReader[string]) {
	t.Helper()
	select {
	case <-r.Available():
	case <-time.After(10 * time.Second):
		t.Fatal("Available did not fire")
	}
}

func assertNotAvailable(t *testing.T, r stream.SourceReader[string]) {
	t.Helper()
	select {
	case <-r.Available():
		t.Fatal("Available fired before the next record was due")
	default:
	}
}

func poll(t *testing.T, r stream.SourceReader[string], want stream.PollStatus, wantRecords ...string) {
	t.Helper()
	var out collector
	st, err := r.PollNext(&out)
	if err != nil {
		t.Fatal(err)
	}
	if st != want || !slices.Equal(out, wantRecords) {
		t.Fatalf("PollNext = %v %q, want %v %q", st, out, want, wantRecords)
	}
}

func TestRateLimit(t *testing.T) {
	clk := clock.NewManual(time.Unix(1_000_000, 0))
	src := Source{Rate: 10, Seed: 1, Words: 10} // record k is due at k*100ms
	line := func(k int64) string { return Line(src.Seed, src.Words, k) }
	r := newReader(t, src, 0, 1, clk)

	poll(t, r, stream.PollIdle, line(0))
	assertNotAvailable(t, r)
	poll(t, r, stream.PollIdle) // polling early emits nothing

	clk.Advance(99 * time.Millisecond)
	// The timer for 100ms is not due, so nothing can fire.
	assertNotAvailable(t, r)
	clk.Advance(time.Millisecond)
	waitAvailable(t, r)
	poll(t, r, stream.PollIdle, line(1))

	// A second later the ten records due in between come in one poll.
	clk.Advance(time.Second)
	waitAvailable(t, r)
	poll(t, r, stream.PollIdle, line(2), line(3), line(4), line(5), line(6), line(7), line(8), line(9), line(10), line(11))
	assertNotAvailable(t, r)
}

func TestRateIsTotalAcrossSubtasks(t *testing.T) {
	clk := clock.NewManual(time.Unix(1_000_000, 0))
	src := Source{Rate: 10, Count: 6}
	line := func(k int64) string { return Line(src.Seed, src.Words, k) }
	// Subtask 1 of 2 emits records 1, 3, 5, due at 100ms, 300ms, 500ms.
	r := newReader(t, src, 1, 2, clk)
	poll(t, r, stream.PollIdle)
	clk.Advance(100 * time.Millisecond)
	waitAvailable(t, r)
	poll(t, r, stream.PollIdle, line(1))
	clk.Advance(150 * time.Millisecond)
	assertNotAvailable(t, r)
	poll(t, r, stream.PollIdle)
	clk.Advance(250 * time.Millisecond)
	waitAvailable(t, r)
	poll(t, r, stream.PollEnd, line(3), line(5))
}

func TestCloseStopsTimers(t *testing.T) {
	clk := clock.NewManual(time.Unix(0, 0))
	r := newReader(t, Source{Rate: 1}, 0, 1, clk)
	poll(t, r, stream.PollIdle, Line(0, 0, 0))
	// The timer goroutine waits for 1s that never comes; Close must end it.
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		src  Source
		want string
	}{
		{Source{Rate: -1}, "generator: rate -1 must be >= 0"},
		{Source{Count: -5}, "generator: count -5 must be >= 0"},
		{Source{Words: -2}, "generator: words -2 must be >= 0"},
		{Source{Rate: math.NaN()}, "generator: rate NaN must be a finite number"},
	} {
		err := tc.src.Validate()
		if err == nil || err.Error() != tc.want {
			t.Errorf("%+v.Validate() = %v, want %q", tc.src, err, tc.want)
		}
		if _, err := tc.src.CreateReader(&stream.SourceContext{TaskInfo: stream.TaskInfo{Parallelism: 1, Clock: clock.Real{}}}); err == nil {
			t.Errorf("%+v.CreateReader succeeded", tc.src)
		}
	}
	if err := (Source{Count: 10, Rate: 2.5, Seed: -3, Words: 7}).Validate(); err != nil {
		t.Errorf("valid source: %v", err)
	}
}

func TestRegistered(t *testing.T) {
	if !slices.Contains(stream.RegisteredFunctions(), "weir.generator") {
		t.Fatal(`"weir.generator" is not registered`)
	}
}
