package nexmark

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"testing"

	"github.com/weirstream/weir/connector/nexmark"
	"github.com/weirstream/weir/internal/cputime"
)

// benchEvents is the input of one benchmark job: events across both
// subtasks, at the V2 suite's event-time rate (100,000/s), so 10 s of
// event time per subtask. WEIRBENCH_NEXMARK_EVENTS overrides it (make
// bench's quick mode runs a few thousand).
var benchEvents int64 = 2_000_000

func init() {
	if s := os.Getenv("WEIRBENCH_NEXMARK_EVENTS"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n <= 0 {
			panic(fmt.Sprintf("WEIRBENCH_NEXMARK_EVENTS=%q: want a positive integer", s))
		}
		benchEvents = n
	}
}

// meter adds up the CPU time of the timed regions: this process's and the
// machine's.
type meter struct{ cputime.Meter }

// report adds events/s of wall time; events/cpu-s, events per second of
// this process's CPU time (nexmark's "throughput per core": every
// goroutine of the jobmanager, taskmanager, benchmark and GC counts); and
// other-cpus, the cores other processes and the hypervisor took on average
// while the timer ran.
func (m *meter) report(b *testing.B, events int64) {
	b.Helper()
	m.Report(b, float64(events)*float64(b.N), "events")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkQuery runs every query on a minicluster of one taskmanager with
// two slots at parallelism 2, its results into the blackhole sink, from
// submission to FINISHED. The stateful queries run on both state
// backends; the stateless ones keep no state, so their backend is moot.
func BenchmarkQuery(b *testing.B) {
	for _, q := range []string{"q0", "q1", "q2", "q3", "q4", "q5", "q7", "q8"} {
		bes := backends
		if q == "q0" || q == "q1" || q == "q2" {
			bes = []string{"heap"}
		}
		for _, backend := range bes {
			b.Run(q+"/"+backend, func(b *testing.B) { benchmarkQuery(b, q, backend) })
		}
	}
}

func benchmarkQuery(b *testing.B, q, backend string) {
	b.StopTimer()
	cl := startCluster(b, 1, 2)
	g := graph(b, "nexmark-"+q, 2, map[string]string{"state.backend": backend}, "--events", fmt.Sprint(benchEvents))
	var m meter
	for range b.N {
		cl.waitIdle(b)
		runtime.GC()
		m.Start()
		b.StartTimer()
		job := cl.run(b, g)
		b.StopTimer()
		m.Stop()
		var out int64
		for _, t := range job.GetTasks() {
			out += t.GetMetrics().GetRecordsOut()
		}
		if out == 0 {
			b.Fatal("the job emitted nothing")
		}
	}
	m.report(b, benchEvents)
}

// BenchmarkGenerator is the ceiling of q0: one goroutine generating the
// events, with no runtime around it.
func BenchmarkGenerator(b *testing.B) {
	src := nexmark.Source{Events: benchEvents, Rate: nexmark.DefaultRate}
	var m meter
	var sink nexmark.Event
	b.ResetTimer()
	for range b.N {
		m.Start()
		sp := src.Split(0, 1)
		for k := range sp.Count {
			sink = sp.Event(k)
		}
		m.Stop()
	}
	_ = sink
	m.report(b, benchEvents)
}
