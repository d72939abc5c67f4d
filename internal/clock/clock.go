// Package clock injects time. Code outside cmd/ reads time through a Clock so
// that tests drive it (Manual) instead of sleeping.
package clock

import (
	"sync"
	"time"
)

// Clock is the source of wall and monotonic time.
type Clock interface {
	Now() time.Time
	// After returns a channel that receives once d has elapsed.
	After(d time.Duration) <-chan time.Time
	// NewTicker returns a ticker firing every d.
	NewTicker(d time.Duration) Ticker
}

// Ticker is a time.Ticker behind an interface.
type Ticker interface {
	C() <-chan time.Time
	Stop()
}

// Real is the system clock.
type Real struct{}

var _ Clock = Real{}

func (Real) Now() time.Time                         { return time.Now() }
func (Real) After(d time.Duration) <-chan time.Time { return time.After(d) }
func (Real) NewTicker(d time.Duration) Ticker       { return realTicker{time.NewTicker(d)} }

type realTicker struct{ t *time.Ticker }

func (t realTicker) C() <-chan time.Time { return t.t.C }
func (t realTicker) Stop()               { t.t.Stop() }

// Manual is a clock that moves only when Advance is called.
type Manual struct {
	mu struct {
		sync.Mutex
		now     time.Time
		waiters []waiter
	}
}

type waiter struct {
	at     time.Time
	ch     chan time.Time
	period time.Duration // > 0 for tickers
	stop   *bool
}

var _ Clock = (*Manual)(nil)

// NewManual returns a manual clock reading start.
func NewManual(start time.Time) *Manual {
	m := &Manual{}
	m.mu.now = start
	return m
}

func (m *Manual) Now() time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.mu.now
}

func (m *Manual) After(d time.Duration) <-chan time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	ch := make(chan time.Time, 1)
	m.mu.waiters = append(m.mu.waiters, waiter{at: m.mu.now.Add(d), ch: ch})
	return ch
}

func (m *Manual) NewTicker(d time.Duration) Ticker {
	m.mu.Lock()
	defer m.mu.Unlock()
	t := &manualTicker{ch: make(chan time.Time, 1)}
	m.mu.waiters = append(m.mu.waiters, waiter{at: m.mu.now.Add(d), ch: t.ch, period: d, stop: &t.stopped})
	t.m = m
	return t
}

// Advance moves the clock forward by d and fires every timer that is due.
func (m *Manual) Advance(d time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.mu.now = m.mu.now.Add(d)
	kept := m.mu.waiters[:0]
	for _, w := range m.mu.waiters {
		if w.stop != nil && *w.stop {
			continue
		}
		if w.at.After(m.mu.now) {
			kept = append(kept, w)
			continue
		}
		select {
		case w.ch <- m.mu.now:
		default: // a ticker drops ticks its reader missed, like time.Ticker
		}
		if w.period > 0 {
			for !w.at.After(m.mu.now) {
				w.at = w.at.Add(w.period)
			}
			kept = append(kept, w)
		}
	}
	m.mu.waiters = kept
}

type manualTicker struct {
	m       *Manual
	ch      chan time.Time
	stopped bool // guarded by m.mu
}

func (t *manualTicker) C() <-chan time.Time { return t.ch }
func (t *manualTicker) Stop() {
	t.m.mu.Lock()
	t.stopped = true
	t.m.mu.Unlock()
}
