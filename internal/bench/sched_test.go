package bench

import (
	"math"
	"runtime/metrics"
	"testing"
)

// schedLatency is the Go scheduler's latency histogram
// (/sched/latencies:seconds: how long goroutines waited runnable before
// they ran), read at a job's start and end.
type schedLatency struct {
	start       []uint64
	counts      []uint64
	buckets     []float64
	jobs        int
	sum, waited float64
}

const schedLatencies = "/sched/latencies:seconds"

func readSchedLatencies() *metrics.Float64Histogram {
	s := []metrics.Sample{{Name: schedLatencies}}
	metrics.Read(s)
	return s[0].Value.Float64Histogram()
}

func (l *schedLatency) Start() { l.start = readSchedLatencies().Counts }

// Stop adds the waits since Start.
func (l *schedLatency) Stop() {
	h := readSchedLatencies()
	if l.counts == nil {
		l.counts, l.buckets = make([]uint64, len(h.Counts)), h.Buckets
	}
	for i, c := range h.Counts {
		d := c - l.start[i]
		l.counts[i] += d
		lo, hi := h.Buckets[i], h.Buckets[i+1]
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

// Report adds sched-wait-s (the time goroutines waited runnable, per job,
// summed over goroutines) and sched-p99-us.
func (l *schedLatency) Report(b *testing.B) {
	if l.jobs == 0 {
		return
	}
	b.ReportMetric(l.waited/float64(l.jobs), "sched-wait-s")
	var total uint64
	for _, c := range l.counts {
		total += c
	}
	var seen uint64
	for i, c := range l.counts {
		seen += c
		if seen*100 >= total*99 {
			b.ReportMetric(l.buckets[i+1]*1e6, "sched-p99-us")
			break
		}
	}
}
