package bench

import (
	"math"
	"runtime/metrics"
	"testing"
)

// schedLatency is the Go scheduler's latency histogram
// (/sched/latencies:seconds: how long goroutines waited runnable before
// they ran), summed over jobs: each read at the job's start and end.
type schedLatency struct {
	start   []uint64
	counts  []uint64
	buckets []float64
	jobs    int
	waited  float64 // seconds, each wait taken at its bucket's middle
}

func readSchedLatencies() *metrics.Float64Histogram {
	s := []metrics.Sample{{Name: "/sched/latencies:seconds"}}
	metrics.Read(s)
	return s[0].Value.Float64Histogram()
}

func (l *schedLatency) Start() { l.start = readSchedLatencies().Counts }

// Stop adds the waits since Start.
func (l *schedLatency) Stop() {
	h := readSchedLatencies()
	l.add(l.start, h.Counts, h.Buckets)
}

// add adds the waits between two reads of the histogram.
func (l *schedLatency) add(start, end []uint64, buckets []float64) {
	if l.counts == nil {
		l.counts, l.buckets = make([]uint64, len(end)), buckets
	}
	for i, c := range end {
		d := c - start[i]
		l.counts[i] += d
		lo, hi := buckets[i], buckets[i+1]
		if math.IsInf(hi, 1) {
			hi = lo
		}
		if math.IsInf(lo, -1) {
			lo = 0
		}
		l.waited += float64(d) * (lo + hi) / 2
	}
	l.jobs++
}

// p99 is the upper bound of the bucket holding the 99th percentile wait,
// in seconds.
func (l *schedLatency) p99() float64 {
	var total, seen uint64
	for _, c := range l.counts {
		total += c
	}
	for i, c := range l.counts {
		seen += c
		if seen*100 >= total*99 {
			return l.buckets[i+1]
		}
	}
	return 0
}

// Report adds sched-wait-s (the time goroutines waited runnable, per job,
// summed over goroutines) and sched-p99-us.
func (l *schedLatency) Report(b *testing.B) {
	if l.jobs == 0 {
		return
	}
	b.ReportMetric(l.waited/float64(l.jobs), "sched-wait-s")
	b.ReportMetric(l.p99()*1e6, "sched-p99-us")
}

// The scheduling metrics count only the waits between a job's two reads,
// each at its bucket's middle, and the p99 is the bucket that holds it.
func TestSchedLatency(t *testing.T) {
	buckets := []float64{math.Inf(-1), 1e-6, 1e-3, 1e-2, math.Inf(1)}
	var l schedLatency
	// Before the job: 5 waits under a microsecond, 10 under a
	// millisecond. During it: 90 more under a millisecond, 9 under 10 ms
	// and 1 beyond.
	l.add([]uint64{5, 10, 0, 0}, []uint64{5, 100, 9, 1}, buckets)
	want := 90*(1e-6+1e-3)/2 + 9*(1e-3+1e-2)/2 + 1*1e-2
	if math.Abs(l.waited-want) > 1e-12 {
		t.Errorf("waited %g s, want %g", l.waited, want)
	}
	if got := l.p99(); got != 1e-2 {
		t.Errorf("p99 %g s, want the 10 ms bucket's bound", got)
	}
	l.add([]uint64{0, 0, 0, 0}, []uint64{0, 900, 0, 0}, buckets)
	if got := l.p99(); got != 1e-3 {
		t.Errorf("after a second job of short waits, p99 %g s, want 1 ms", got)
	}
}
