package taskmanager

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/weirstream/weir/internal/metrics"
	"github.com/weirstream/weir/internal/statebackend/pebble"
)

// subtaskStats is what the taskmanager keeps of a running subtask for
// its metrics besides the task's own counters. Safe for concurrent use.
type subtaskStats struct {
	backend string // state.backend of the job

	mu struct {
		sync.Mutex
		stateSize int64           // of the newest snapshot; -1 before the first
		pebble    *pebble.Backend // while open
	}
}

func newSubtaskStats(backend string) *subtaskStats {
	s := &subtaskStats{backend: backend}
	s.mu.stateSize = -1
	return s
}

func (s *subtaskStats) setStateSize(n int64) {
	s.mu.Lock()
	s.mu.stateSize = n
	s.mu.Unlock()
}

// fill adds the state size and Pebble's internals to m.
func (s *subtaskStats) fill(m *metrics.Subtask) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m.Backend, m.StateSize = s.backend, s.mu.stateSize
	if s.mu.pebble == nil {
		return
	}
	if st, ok := s.mu.pebble.Stats(); ok {
		p := metrics.Pebble(st)
		m.Pebble = &p
	}
}

// trackedPebble is a Pebble backend whose internals the taskmanager's
// metrics read until it is closed.
type trackedPebble struct {
	*pebble.Backend
	stats *subtaskStats
}

func track(b *pebble.Backend, s *subtaskStats) *trackedPebble {
	s.mu.Lock()
	s.mu.pebble = b
	s.mu.Unlock()
	return &trackedPebble{Backend: b, stats: s}
}

// Close stops the metrics reading the database before closing it.
func (b *trackedPebble) Close() error {
	b.stats.mu.Lock()
	b.stats.mu.pebble = nil
	b.stats.mu.Unlock()
	return b.Backend.Close()
}

// subtasks lists the running subtasks' metrics.
func (tm *TaskManager) subtasks() []metrics.Subtask {
	tm.mu.Lock()
	rs := make([]*running, 0, len(tm.mu.tasks))
	for _, r := range tm.mu.tasks {
		rs = append(rs, r)
	}
	tm.mu.Unlock()
	out := make([]metrics.Subtask, 0, len(rs))
	for _, r := range rs {
		c := r.task.Counters()
		m := metrics.Subtask{Job: r.id.GetJobId(), Operator: r.name, Subtask: int(r.id.GetSubtaskIndex()),
			RecordsIn: c.RecordsIn, RecordsOut: c.RecordsOut, BytesIn: c.BytesIn, BytesOut: c.BytesOut, Backpressured: c.Backpressured,
			Functions: r.task.FunctionCounters()}
		r.stats.fill(&m)
		out = append(out, m)
	}
	return out
}

// Handler serves the taskmanager's HTTP endpoints: /metrics (Prometheus),
// /healthz (the process runs) and /readyz (it is registered with the
// jobmanager, so it can take tasks).
func (tm *TaskManager) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", metrics.Handler(tm.registry))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if !tm.registered.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte("not registered with the jobmanager\n"))
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	return mux
}

// serveHTTP serves h on lis until ctx ends, then shuts down gracefully.
func serveHTTP(ctx context.Context, lis net.Listener, h http.Handler) error {
	hs := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(lis) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), ShutdownGrace)
	defer cancel()
	err := hs.Shutdown(sctx)
	if serr := <-errc; !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	return err
}
