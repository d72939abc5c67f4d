// Package pace throttles a source reader to a fixed rate of records on an
// injected clock, for the built-in sources' Rate parameters.
package pace

import (
	"math"
	"sync"
	"time"

	"github.com/weirstream/weir/internal/clock"
)

// Pacer says when records are due and wakes an idle reader when the next
// one is. Record k is due k/rate seconds after the Pacer was created.
//
// Only the reader's task goroutine calls its methods. Ready starts a timer
// goroutine when the reader must wait, because the clock's timers deliver
// on a chan time.Time and SourceReader.Available is a chan struct{}; the
// goroutine forwards one to the other and exits when the timer fires or
// Close is called.
type Pacer struct {
	clock clock.Clock
	rate  float64
	start time.Time

	wake  chan struct{} // a token means "poll again"
	armed time.Time     // the due time a timer goroutine waits for
	stop  chan struct{} // closed by Close
	wg    sync.WaitGroup
	done  bool
}

// New returns a Pacer for rate > 0 records per second, starting now.
func New(clk clock.Clock, rate float64) *Pacer {
	return &Pacer{clock: clk, rate: rate, start: clk.Now(), wake: make(chan struct{}, 1), stop: make(chan struct{})}
}

// Clock returns the pacer's clock.
func (p *Pacer) Clock() clock.Clock { return p.clock }

// Now reads the clock.
func (p *Pacer) Now() time.Time { return p.clock.Now() }

// Due returns when record k is due.
func (p *Pacer) Due(k int64) time.Time {
	d := float64(k) / p.rate * float64(time.Second)
	if d >= math.MaxInt64 {
		return p.start.Add(math.MaxInt64)
	}
	return p.start.Add(time.Duration(d))
}

// Ready reports whether record k is due at now. If it is not, Available
// fires when it is.
func (p *Pacer) Ready(k int64, now time.Time) bool {
	due := p.Due(k)
	if !due.After(now) {
		return true
	}
	// Due times only grow, so when a new timer starts the previous one is
	// due already and its goroutine about to exit.
	if !p.armed.Equal(due) {
		p.armed = due
		c := p.clock.After(due.Sub(now))
		p.wg.Go(func() {
			select {
			case <-c:
				select {
				case p.wake <- struct{}{}:
				default: // a token is already waiting
				}
			case <-p.stop:
			}
		})
	}
	return false
}

// Available is ready after a record that Ready refused has become due. It
// may be ready spuriously too; the reader then reports PollIdle again.
func (p *Pacer) Available() <-chan struct{} { return p.wake }

// Close stops the timer goroutines and waits for them.
func (p *Pacer) Close() {
	if !p.done {
		p.done = true
		close(p.stop)
		p.wg.Wait()
	}
}
