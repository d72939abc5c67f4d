package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Checkpoint statuses, the values of the status label.
const (
	StatusCompleted = "completed"
	StatusFailed    = "failed"
)

// JobManager holds the jobmanager's metrics of checkpoints and restarts,
// labelled by job. Safe for concurrent use; a nil *JobManager records
// nothing.
type JobManager struct {
	checkpoints *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	size        *prometheus.HistogramVec
	alignment   *prometheus.HistogramVec
	lastSize    *prometheus.GaugeVec
	restarts    *prometheus.CounterVec
}

// NewJobManager registers the jobmanager's metrics with reg.
func NewJobManager(reg prometheus.Registerer) *JobManager {
	m := &JobManager{
		checkpoints: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: "checkpoints_total",
			Help: "Checkpoints and savepoints that ended, by status (completed, failed)."}, []string{"job", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: Namespace, Name: "checkpoint_duration_seconds",
			Help:    "Time from triggering a completed checkpoint to its _metadata being durable.",
			Buckets: prometheus.ExponentialBuckets(0.01, 2, 16)}, []string{"job"}),
		size: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: Namespace, Name: "checkpoint_size_bytes",
			Help:    "State size of completed checkpoints, summed over subtasks.",
			Buckets: prometheus.ExponentialBuckets(1024, 4, 14)}, []string{"job"}),
		alignment: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: Namespace, Name: "checkpoint_alignment_seconds",
			Help:    "Longest barrier alignment of any subtask in a completed checkpoint.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16)}, []string{"job"}),
		lastSize: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: Namespace, Name: "checkpoint_last_size_bytes",
			Help: "State size of the newest completed checkpoint."}, []string{"job"}),
		restarts: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: "job_restarts_total",
			Help: "Restarts of a job after a failure."}, []string{"job"}),
	}
	reg.MustRegister(m.checkpoints, m.duration, m.size, m.alignment, m.lastSize, m.restarts)
	return m
}

// CheckpointCompleted records a completed checkpoint or savepoint of job.
func (m *JobManager) CheckpointCompleted(job string, duration time.Duration, size int64, alignment time.Duration) {
	if m == nil {
		return
	}
	m.checkpoints.WithLabelValues(job, StatusCompleted).Inc()
	m.duration.WithLabelValues(job).Observe(duration.Seconds())
	m.size.WithLabelValues(job).Observe(float64(size))
	m.alignment.WithLabelValues(job).Observe(alignment.Seconds())
	m.lastSize.WithLabelValues(job).Set(float64(size))
}

// CheckpointFailed records a failed checkpoint or savepoint of job.
func (m *JobManager) CheckpointFailed(job string) {
	if m == nil {
		return
	}
	m.checkpoints.WithLabelValues(job, StatusFailed).Inc()
}

// Restarted records a restart of job.
func (m *JobManager) Restarted(job string) {
	if m == nil {
		return
	}
	m.restarts.WithLabelValues(job).Inc()
}

// JobStarted creates a job's series at zero, so that rates and alerts see
// them before the first event.
func (m *JobManager) JobStarted(job string) {
	if m == nil {
		return
	}
	m.checkpoints.WithLabelValues(job, StatusCompleted)
	m.checkpoints.WithLabelValues(job, StatusFailed)
	m.restarts.WithLabelValues(job)
}

// Cluster is the state of the cluster at a scrape.
type Cluster struct {
	TaskManagers int
	SlotsTotal   int
	SlotsFree    int
	// Jobs counts jobs by status name (RUNNING, FINISHED, …).
	Jobs map[string]int
}

// ClusterCollector returns a collector of the cluster's gauges, read from
// state at every scrape.
func ClusterCollector(state func() Cluster) prometheus.Collector {
	return &clusterCollector{state: state}
}

var (
	taskManagersDesc = prometheus.NewDesc(Namespace+"_taskmanagers", "Registered taskmanagers.", nil, nil)
	slotsDesc        = prometheus.NewDesc(Namespace+"_slots", "Task slots of the registered taskmanagers, by state (free, used).", []string{"state"}, nil)
	jobsDesc         = prometheus.NewDesc(Namespace+"_jobs", "Jobs by status.", []string{"status"}, nil)
)

type clusterCollector struct{ state func() Cluster }

func (c *clusterCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- taskManagersDesc
	ch <- slotsDesc
	ch <- jobsDesc
}

func (c *clusterCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.state()
	ch <- prometheus.MustNewConstMetric(taskManagersDesc, prometheus.GaugeValue, float64(s.TaskManagers))
	ch <- prometheus.MustNewConstMetric(slotsDesc, prometheus.GaugeValue, float64(s.SlotsFree), "free")
	ch <- prometheus.MustNewConstMetric(slotsDesc, prometheus.GaugeValue, float64(s.SlotsTotal-s.SlotsFree), "used")
	for st, n := range s.Jobs {
		ch <- prometheus.MustNewConstMetric(jobsDesc, prometheus.GaugeValue, float64(n), st)
	}
}
