// Package metrics defines Weir's Prometheus metrics: their names, labels
// and help, and the registries the jobmanager and taskmanagers serve on
// /metrics. Every name starts with weir_. Labels are bounded: job (a job
// ID), operator (a task's name: its chain of operators), subtask (an index
// below the task's parallelism), status and backend (small enums). A
// subtask's series exist while it runs on the taskmanager that reports it;
// attempts are not a label, so a restart resets a counter instead of
// adding a series.
//
// The data path never touches Prometheus: tasks count in their own loop and
// publish totals at batch boundaries (task.Task.Counters); collectors read
// those totals when scraped.
package metrics

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Namespace prefixes every Weir metric.
const Namespace = "weir"

// NewRegistry returns a registry holding the Go runtime and process
// collectors, for one process's /metrics.
func NewRegistry() *prometheus.Registry {
	r := prometheus.NewRegistry()
	r.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return r
}

// Handler serves reg in the Prometheus text format (or OpenMetrics when
// asked for).
func Handler(reg *prometheus.Registry) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg, EnableOpenMetrics: true})
}
