package metrics

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// The counters of a subtask's functions are exported by name, with the
// subtask's labels.
func TestFunctionCounters(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(TaskManagerCollector(2, func() []Subtask {
		return []Subtask{{Job: "j", Operator: "read", Subtask: 1, StateSize: -1,
			Functions: map[string]int64{"kafka_records_skipped": 3, "kafka_records_dead_lettered": 0}}}
	}))
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != Namespace+"_function_counter_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["job"] != "j" || labels["operator"] != "read" || labels["subtask"] != "1" {
				t.Fatalf("labels %v", labels)
			}
			got[labels["name"]] = m.GetCounter().GetValue()
		}
	}
	if got["kafka_records_skipped"] != 3 || len(got) != 2 {
		t.Fatalf("function counters %v, want kafka_records_skipped 3 and kafka_records_dead_lettered 0", got)
	}
}
