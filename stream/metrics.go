package stream

import (
	"maps"
	"sync"
	"sync/atomic"
)

// Counter is a count a function keeps for monitoring, such as the records
// a source dropped. It is safe for concurrent use; add to it per batch
// where the count is high.
type Counter struct{ n atomic.Int64 }

// Add adds n.
func (c *Counter) Add(n int64) { c.n.Add(n) }

// Inc adds one.
func (c *Counter) Inc() { c.n.Add(1) }

// Load returns the count.
func (c *Counter) Load() int64 { return c.n.Load() }

// MetricGroup holds the named counters of one subtask (Flink's operator
// metric group). The runtime reports them with the subtask's metrics, for
// example in `weir status`.
type MetricGroup struct {
	mu       sync.Mutex
	counters map[string]*Counter
}

// Counter returns the counter called name, created at zero on first use.
// On a nil group it returns a counter nobody reads.
func (g *MetricGroup) Counter(name string) *Counter {
	if g == nil {
		return new(Counter)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	c, ok := g.counters[name]
	if !ok {
		if g.counters == nil {
			g.counters = map[string]*Counter{}
		}
		c = new(Counter)
		g.counters[name] = c
	}
	return c
}

// Counts returns every counter's value by name; nil when there is none.
func (g *MetricGroup) Counts() map[string]int64 {
	if g == nil {
		return nil
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.counters) == 0 {
		return nil
	}
	out := make(map[string]int64, len(g.counters))
	for name, c := range maps.All(g.counters) {
		out[name] = c.Load()
	}
	return out
}
