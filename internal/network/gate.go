package network

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
)

// QueueCapacity is the number of buffers an input channel holds before its
// producer blocks.
const QueueCapacity = 4

// InputGate collects the buffers of all input channels of one consumer
// subtask. Producers Push from any goroutine; the task goroutine Polls.
type InputGate struct {
	avail  chan struct{}   // kicked when a buffer arrives or a channel fails; size 1
	space  []chan struct{} // per channel, kicked when a buffer is taken; size 1
	closed chan struct{}   // closed by Close: producers stop blocking

	// RemoteBytesIn counts the bytes received from other taskmanagers.
	RemoteBytesIn atomic.Int64

	mu struct {
		sync.Mutex
		queues  [][][]byte
		blocked []bool // channels Poll skips: held for barrier alignment
		next    int    // channel to poll first, for fairness
		err     error  // first channel failure
	}
}

// NewInputGate returns a gate with n channels.
func NewInputGate(n int) *InputGate {
	g := &InputGate{avail: make(chan struct{}, 1), space: make([]chan struct{}, n), closed: make(chan struct{})}
	for i := range g.space {
		g.space[i] = make(chan struct{}, 1)
	}
	g.mu.queues = make([][][]byte, n)
	g.mu.blocked = make([]bool, n)
	return g
}

// NumChannels returns the number of input channels.
func (g *InputGate) NumChannels() int { return len(g.space) }

// Push appends buf to channel ch, blocking while the channel's queue is full.
// The gate takes ownership of buf.
func (g *InputGate) Push(ctx context.Context, ch int, buf []byte) error {
	for {
		select {
		case <-g.closed:
			return ErrGateClosed
		default:
		}
		g.mu.Lock()
		if len(g.mu.queues[ch]) < QueueCapacity {
			g.mu.queues[ch] = append(g.mu.queues[ch], buf)
			g.mu.Unlock()
			kick(g.avail)
			return nil
		}
		g.mu.Unlock()
		select {
		case <-g.space[ch]:
		case <-g.closed:
			return ErrGateClosed
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
}

// ErrGateClosed is returned to producers pushing into a gate whose consumer
// has ended.
var ErrGateClosed = errors.New("network: consumer has ended")

// Close ends the gate: blocked and later Pushes fail with ErrGateClosed, so
// producers of a failed or cancelled consumer do not wait forever.
func (g *InputGate) Close() {
	g.mu.Lock()
	defer g.mu.Unlock()
	select {
	case <-g.closed:
	default:
		close(g.closed)
	}
	g.mu.queues = make([][][]byte, len(g.mu.queues))
}

// Fail records that channel ch broke (its producer or connection died). The
// consumer sees the error on its next Poll.
func (g *InputGate) Fail(ch int, err error) {
	g.mu.Lock()
	if g.mu.err == nil {
		g.mu.err = fmt.Errorf("input channel %d: %w", ch, err)
	}
	g.mu.Unlock()
	kick(g.avail)
}

// Poll returns the next buffer of any channel, without blocking. ok is false
// when every queue is empty; then wait on Available.
func (g *InputGate) Poll() (ch int, buf []byte, ok bool, err error) {
	g.mu.Lock()
	if g.mu.err != nil {
		err := g.mu.err
		g.mu.Unlock()
		return 0, nil, false, err
	}
	n := len(g.mu.queues)
	for i := range n {
		c := (g.mu.next + i) % n
		q := g.mu.queues[c]
		if len(q) == 0 || g.mu.blocked[c] {
			continue
		}
		buf = q[0]
		copy(q, q[1:])
		q[len(q)-1] = nil
		g.mu.queues[c] = q[:len(q)-1]
		g.mu.next = c + 1
		g.mu.Unlock()
		kick(g.space[c])
		return c, buf, true, nil
	}
	g.mu.Unlock()
	return 0, nil, false, nil
}

// Block makes Poll skip channel ch: its data waits, and its producer
// blocks once the queue is full, while a checkpoint barrier is aligned.
func (g *InputGate) Block(ch int) {
	g.mu.Lock()
	g.mu.blocked[ch] = true
	g.mu.Unlock()
}

// UnblockAll lets Poll take from every channel again.
func (g *InputGate) UnblockAll() {
	g.mu.Lock()
	clear(g.mu.blocked)
	g.mu.Unlock()
	kick(g.avail)
}

// Unread puts the unprocessed rest of a buffer back at the front of channel
// ch, to be returned by a later Poll. It does not count against the
// channel's capacity.
func (g *InputGate) Unread(ch int, rest []byte) {
	if len(rest) == 0 {
		return
	}
	g.mu.Lock()
	g.mu.queues[ch] = append([][]byte{rest}, g.mu.queues[ch]...)
	g.mu.Unlock()
}

// Available is kicked when a buffer arrives or a channel fails.
func (g *InputGate) Available() <-chan struct{} { return g.avail }

func kick(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}
