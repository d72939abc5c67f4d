package metrics

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Subtask is what a taskmanager reports of one running subtask at a
// scrape. Counters are totals since the subtask's attempt started.
type Subtask struct {
	Job      string
	Operator string // the task's name
	Subtask  int
	// Backend names the keyed state backend (heap, pebble); empty for a
	// task without keyed state.
	Backend string

	RecordsIn, RecordsOut int64
	BytesIn, BytesOut     int64
	Backpressured         time.Duration
	// StateSize is the size of the subtask's newest snapshot; -1 before
	// its first.
	StateSize int64
	// Pebble holds the internals of a subtask's Pebble database; nil on
	// the heap backend.
	Pebble *Pebble
	// Functions are the counters the subtask's functions keep
	// (stream.MetricGroup), by name: names come from code, not data, so
	// they are bounded.
	Functions map[string]int64
}

// Pebble is a Pebble database's internals (pebble.DB.Metrics).
type Pebble struct {
	Compactions      int64
	CompactionDebt   int64
	Flushes          int64
	BlockCacheHits   int64
	BlockCacheMisses int64
	DiskUsage        int64
	MemTableSize     int64
	ReadAmp          int64
	WriteStall       time.Duration
}

var subtaskLabels = []string{"job", "operator", "subtask"}

func desc(name, help string, extra ...string) *prometheus.Desc {
	return prometheus.NewDesc(Namespace+"_"+name, help, append(append([]string{}, subtaskLabels...), extra...), nil)
}

var (
	recordsInDesc     = desc("task_records_in_total", "Records the subtask's chain read (from its inputs, or its source).")
	recordsOutDesc    = desc("task_records_out_total", "Records the subtask's chain emitted.")
	bytesInDesc       = desc("task_bytes_in_total", "Bytes of buffers the subtask read from its input channels.")
	bytesOutDesc      = desc("task_bytes_out_total", "Bytes of buffers the subtask sent on its output channels.")
	backpressureDesc  = desc("task_backpressured_seconds_total", "Time the subtask spent blocked on full output channels.")
	stateSizeDesc     = desc("state_size_bytes", "Size of the subtask's newest snapshot of its state, by backend.", "backend")
	compactionsDesc   = desc("pebble_compactions_total", "Compactions of the subtask's Pebble database.")
	compactDebtDesc   = desc("pebble_compaction_debt_bytes", "Estimated bytes to compact for the LSM to be stable.")
	flushesDesc       = desc("pebble_flushes_total", "Memtable flushes of the subtask's Pebble database.")
	cacheHitsDesc     = desc("pebble_block_cache_hits_total", "Block cache hits of the subtask's Pebble database.")
	cacheMissesDesc   = desc("pebble_block_cache_misses_total", "Block cache misses of the subtask's Pebble database.")
	diskUsageDesc     = desc("pebble_disk_usage_bytes", "Disk space the subtask's Pebble database uses.")
	memTableDesc      = desc("pebble_memtable_size_bytes", "Bytes allocated by the subtask's Pebble memtables.")
	readAmpDesc       = desc("pebble_read_amplification", "Read amplification of the subtask's Pebble database.")
	writeStallDesc    = desc("pebble_write_stall_seconds_total", "Time the subtask's writes were held back while its Pebble database's flushes and compactions caught up.")
	functionDesc      = desc("function_counter_total", "Counters the subtask's functions keep (stream.MetricGroup), such as kafka_records_skipped.", "name")
	subtasksDesc      = prometheus.NewDesc(Namespace+"_taskmanager_subtasks", "Subtasks running on this taskmanager.", nil, nil)
	taskManagerSlots  = prometheus.NewDesc(Namespace+"_taskmanager_slots", "Task slots this taskmanager offers.", nil, nil)
	allTaskManagerDsc = []*prometheus.Desc{recordsInDesc, recordsOutDesc, bytesInDesc, bytesOutDesc, backpressureDesc, stateSizeDesc,
		compactionsDesc, compactDebtDesc, flushesDesc, cacheHitsDesc, cacheMissesDesc, diskUsageDesc, memTableDesc, readAmpDesc,
		writeStallDesc, functionDesc, subtasksDesc, taskManagerSlots}
)

// TaskManagerCollector returns a collector of a taskmanager's subtasks,
// listed by subtasks at every scrape, and of its slots.
func TaskManagerCollector(slots int, subtasks func() []Subtask) prometheus.Collector {
	return &tmCollector{slots: slots, subtasks: subtasks}
}

type tmCollector struct {
	slots    int
	subtasks func() []Subtask
}

func (c *tmCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range allTaskManagerDsc {
		ch <- d
	}
}

func (c *tmCollector) Collect(ch chan<- prometheus.Metric) {
	subs := c.subtasks()
	ch <- prometheus.MustNewConstMetric(subtasksDesc, prometheus.GaugeValue, float64(len(subs)))
	ch <- prometheus.MustNewConstMetric(taskManagerSlots, prometheus.GaugeValue, float64(c.slots))
	for _, s := range subs {
		l := []string{s.Job, s.Operator, strconv.Itoa(s.Subtask)}
		counter := func(d *prometheus.Desc, v float64) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, l...)
		}
		gauge := func(d *prometheus.Desc, v float64, extra ...string) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, append(l, extra...)...)
		}
		counter(recordsInDesc, float64(s.RecordsIn))
		counter(recordsOutDesc, float64(s.RecordsOut))
		counter(bytesInDesc, float64(s.BytesIn))
		counter(bytesOutDesc, float64(s.BytesOut))
		counter(backpressureDesc, s.Backpressured.Seconds())
		for name, v := range s.Functions {
			ch <- prometheus.MustNewConstMetric(functionDesc, prometheus.CounterValue, float64(v), append(l, name)...)
		}
		if s.Backend != "" && s.StateSize >= 0 {
			gauge(stateSizeDesc, float64(s.StateSize), s.Backend)
		}
		if p := s.Pebble; p != nil {
			counter(compactionsDesc, float64(p.Compactions))
			gauge(compactDebtDesc, float64(p.CompactionDebt))
			counter(flushesDesc, float64(p.Flushes))
			counter(cacheHitsDesc, float64(p.BlockCacheHits))
			counter(cacheMissesDesc, float64(p.BlockCacheMisses))
			gauge(diskUsageDesc, float64(p.DiskUsage))
			gauge(memTableDesc, float64(p.MemTableSize))
			gauge(readAmpDesc, float64(p.ReadAmp))
			counter(writeStallDesc, p.WriteStall.Seconds())
		}
	}
}
