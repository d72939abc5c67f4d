package jobmanager_test

import (
	"fmt"
	"net/http"
	"sort"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// scrape reads a /metrics page as Prometheus would.
func scrape(t *testing.T, addr string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s/metrics: %s", addr, resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parsing %s/metrics: %v", addr, err)
	}
	return fams
}

func labelsOf(m *dto.Metric) map[string]string {
	out := map[string]string{}
	for _, l := range m.GetLabel() {
		out[l.GetName()] = l.GetValue()
	}
	return out
}

func value(m *dto.Metric) float64 {
	switch {
	case m.GetCounter() != nil:
		return m.GetCounter().GetValue()
	case m.GetGauge() != nil:
		return m.GetGauge().GetValue()
	case m.GetHistogram() != nil:
		return float64(m.GetHistogram().GetSampleCount())
	case m.GetUntyped() != nil:
		return m.GetUntyped().GetValue()
	}
	return 0
}

// sum adds the values of name's series whose labels include match; for a
// histogram it adds the observation counts. ok is false if no series
// matches.
func sum(fams map[string]*dto.MetricFamily, name string, match map[string]string) (total float64, ok bool) {
	f := fams[name]
	if f == nil {
		return 0, false
	}
series:
	for _, m := range f.GetMetric() {
		l := labelsOf(m)
		for k, v := range match {
			if l[k] != v {
				continue series
			}
		}
		total += value(m)
		ok = true
	}
	return total, ok
}

// TestMetrics scrapes /metrics of the jobmanager and both taskmanagers of
// a running job and checks that the key series exist with bounded labels,
// and that they move as the job runs, checkpoints and restarts.
func TestMetrics(t *testing.T) {
	a := startAPICluster(t)
	until(t, "two completed checkpoints", func() bool { return a.latestCheckpoint(t) >= 2 })
	restarts := a.running(t)
	job := map[string]string{"job": a.job}
	tmAddrs := []string{a.c.MetricsAddress(0), a.c.MetricsAddress(1)}

	taskSeries := []string{"weir_task_records_in_total", "weir_task_records_out_total", "weir_task_bytes_in_total",
		"weir_task_bytes_out_total", "weir_task_backpressured_seconds_total"}
	pebbleSeries := []string{"weir_pebble_compactions_total", "weir_pebble_compaction_debt_bytes", "weir_pebble_flushes_total",
		"weir_pebble_block_cache_hits_total", "weir_pebble_block_cache_misses_total", "weir_pebble_disk_usage_bytes",
		"weir_pebble_memtable_size_bytes", "weir_pebble_read_amplification", "weir_pebble_write_stall_seconds_total"}
	tmTotals := func() map[string]float64 {
		out := map[string]float64{}
		for _, addr := range tmAddrs {
			fams := scrape(t, addr)
			for _, name := range []string{"go_goroutines", "go_memstats_alloc_bytes", "process_cpu_seconds_total", "weir_taskmanager_slots"} {
				if _, ok := sum(fams, name, nil); !ok {
					t.Errorf("taskmanager %s: no %s", addr, name)
				}
			}
			if n, _ := sum(fams, "weir_taskmanager_subtasks", nil); n != 2 {
				t.Errorf("taskmanager %s: weir_taskmanager_subtasks = %v, want 2", addr, n)
			}
			for _, name := range taskSeries {
				f := fams[name]
				if f == nil {
					t.Fatalf("taskmanager %s: no %s", addr, name)
				}
				// One series per subtask running here: the labels are
				// job, operator and subtask, nothing unbounded.
				if len(f.GetMetric()) != 2 {
					t.Errorf("taskmanager %s: %d series of %s, want one per subtask (2)", addr, len(f.GetMetric()), name)
				}
				for _, m := range f.GetMetric() {
					l := labelsOf(m)
					if len(l) != 3 || l["job"] != a.job || l["operator"] == "" || (l["subtask"] != "0" && l["subtask"] != "1") {
						t.Errorf("taskmanager %s: %s labels %v", addr, name, l)
					}
				}
				v, _ := sum(fams, name, job)
				out[name] += v
			}
			for _, name := range pebbleSeries {
				if _, ok := sum(fams, name, job); !ok {
					t.Errorf("taskmanager %s: no %s for the job's keyed subtask", addr, name)
				}
			}
			if v, ok := sum(fams, "weir_pebble_disk_usage_bytes", job); !ok || v <= 0 {
				t.Errorf("taskmanager %s: weir_pebble_disk_usage_bytes = %v", addr, v)
			}
			v, ok := sum(fams, "weir_state_size_bytes", map[string]string{"job": a.job, "backend": "pebble"})
			if !ok {
				t.Errorf("taskmanager %s: no weir_state_size_bytes{backend=\"pebble\"}", addr)
			}
			out["weir_state_size_bytes"] += v
		}
		return out
	}
	jmSeries := func() map[string]float64 {
		fams := scrape(t, a.c.HTTPAddress())
		out := map[string]float64{}
		for _, name := range []string{"go_goroutines", "process_cpu_seconds_total"} {
			if _, ok := sum(fams, name, nil); !ok {
				t.Errorf("jobmanager: no %s", name)
			}
		}
		get := func(key, name string, match map[string]string) {
			v, ok := sum(fams, name, match)
			if !ok {
				t.Errorf("jobmanager: no %s%v", name, match)
			}
			out[key] = v
		}
		get("completed", "weir_checkpoints_total", map[string]string{"job": a.job, "status": "completed"})
		get("failed", "weir_checkpoints_total", map[string]string{"job": a.job, "status": "failed"})
		get("duration", "weir_checkpoint_duration_seconds", job)
		get("size", "weir_checkpoint_size_bytes", job)
		get("alignment", "weir_checkpoint_alignment_seconds", job)
		get("last size", "weir_checkpoint_last_size_bytes", job)
		get("restarts", "weir_job_restarts_total", job)
		get("taskmanagers", "weir_taskmanagers", nil)
		get("free slots", "weir_slots", map[string]string{"state": "free"})
		get("running jobs", "weir_jobs", map[string]string{"status": "RUNNING"})
		return out
	}

	// A loaded machine may restart the job on its own, which starts the
	// subtasks' counters again: then measure again.
	for try := 1; ; try++ {
		tm1, jm1 := tmTotals(), jmSeries()
		if jm1["completed"] < 2 || jm1["duration"] != jm1["completed"] || jm1["size"] != jm1["completed"] || jm1["last size"] <= 0 {
			t.Errorf("jobmanager checkpoint series after 2 checkpoints: %v", jm1)
		}
		if jm1["taskmanagers"] != 2 || jm1["free slots"] != 0 || jm1["running jobs"] != 1 || jm1["restarts"] != float64(restarts) {
			t.Errorf("jobmanager cluster series after %d restarts: %v", restarts, jm1)
		}
		if tm1["weir_task_records_out_total"] <= 0 || tm1["weir_task_bytes_out_total"] <= 0 || tm1["weir_task_bytes_in_total"] <= 0 || tm1["weir_state_size_bytes"] <= 0 {
			t.Errorf("taskmanager totals: %v", tm1)
		}

		// They move: more records, bytes and checkpoints.
		until(t, "two more checkpoints", func() bool { return a.latestCheckpoint(t) >= int64(jm1["completed"])+2 })
		if r := a.running(t); r != restarts {
			if try == 3 {
				t.Fatalf("the job keeps restarting (%d restarts)", r)
			}
			restarts = r
			continue
		}
		tm2, jm2 := tmTotals(), jmSeries()
		for _, name := range []string{"weir_task_records_in_total", "weir_task_records_out_total", "weir_task_bytes_in_total", "weir_task_bytes_out_total"} {
			if tm2[name] <= tm1[name] {
				t.Errorf("%s did not move: %v -> %v", name, tm1[name], tm2[name])
			}
		}
		for _, k := range []string{"completed", "duration", "size", "alignment"} {
			if jm2[k] <= jm1[k] {
				t.Errorf("jobmanager %s did not move: %v -> %v", k, jm1[k], jm2[k])
			}
		}
		break
	}

	// A lost taskmanager restarts the job.
	a.c.StopTaskManager(1)
	if _, err := a.c.AddTaskManager(); err != nil {
		t.Fatal(err)
	}
	until(t, "weir_job_restarts_total to count the restart", func() bool {
		v, _ := sum(scrape(t, a.c.HTTPAddress()), "weir_job_restarts_total", job)
		return v > float64(restarts)
	})
	if t.Failed() {
		var names []string
		for n := range scrape(t, tmAddrs[0]) {
			if strings.HasPrefix(n, "weir_") {
				names = append(names, n)
			}
		}
		sort.Strings(names)
		t.Log(fmt.Sprint("taskmanager series: ", names))
	}
}
