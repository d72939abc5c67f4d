package task

import (
	"context"
	"fmt"
	"time"

	"github.com/weirstream/weir/internal/network"
	"github.com/weirstream/weir/stream"
)

// loop is the task's mailbox loop: the only goroutine that touches the
// chain, its state and its outputs.
type loop struct {
	t         *Task
	chain     *stream.Chain
	gate      *network.InputGate // nil for sources
	lastFlush time.Time
}

// publish copies the loop's counters into the task's atomics.
func (l *loop) publish() {
	in, out := l.chain.Counts()
	l.t.recordsIn.Store(in)
	l.t.recordsOut.Store(out)
	var bp time.Duration
	for _, o := range l.t.outputs {
		bp += o.Backpressured
	}
	l.t.backpressuredNanos.Store(int64(bp))
}

func (l *loop) pending() bool {
	for _, o := range l.t.outputs {
		if o.Pending() {
			return true
		}
	}
	return false
}

func (l *loop) flush() error {
	for _, o := range l.t.outputs {
		if err := o.Flush(); err != nil {
			return err
		}
	}
	l.lastFlush = l.t.cfg.Clock.Now()
	return nil
}

// maybeFlush sends partly filled buffers whose oldest record has waited the
// buffer timeout, and returns how long until the next flush is due (0: none
// pending).
func (l *loop) maybeFlush() (time.Duration, error) {
	if !l.pending() {
		l.lastFlush = l.t.cfg.Clock.Now()
		return 0, nil
	}
	wait := l.t.cfg.BufferTimeout - l.t.cfg.Clock.Now().Sub(l.lastFlush)
	if wait > 0 {
		return wait, nil
	}
	return 0, l.flush()
}

// idle waits for ready, flushing pending output when its timeout expires.
func (l *loop) idle(ctx context.Context, ready <-chan struct{}) error {
	if err := l.chain.Flush(); err != nil {
		return err
	}
	for {
		wait, err := l.maybeFlush()
		if err != nil {
			return err
		}
		var timer <-chan time.Time
		if wait > 0 {
			timer = l.t.cfg.Clock.After(wait)
		}
		select {
		case <-ready:
			return nil
		case <-timer:
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
}

func (l *loop) runSource(ctx context.Context) error {
	for {
		if err := ctx.Err(); err != nil {
			return context.Cause(ctx)
		}
		st, err := l.chain.Poll()
		l.publish()
		if err != nil {
			return err
		}
		switch st {
		case stream.PollEnd:
			return nil
		case stream.PollIdle:
			if err := l.idle(ctx, l.chain.Available()); err != nil {
				return err
			}
		default:
			if _, err := l.maybeFlush(); err != nil {
				return err
			}
		}
	}
}

func (l *loop) runInputs(ctx context.Context) error {
	gate := l.gate
	ended := make([]bool, gate.NumChannels())
	open := len(ended)
	for open > 0 {
		ch, buf, ok, err := gate.Poll()
		if err != nil {
			return err
		}
		if !ok {
			if err := l.idle(ctx, gate.Available()); err != nil {
				return err
			}
			continue
		}
		r := network.NewReader(buf)
		for {
			k, payload, more, err := r.Next()
			if err != nil {
				return fmt.Errorf("input channel %d: %w", ch, err)
			}
			if !more {
				break
			}
			switch k {
			case network.KindRecord:
				if err := l.chain.Process(payload); err != nil {
					return err
				}
			case network.KindEndOfPartition:
				if !ended[ch] {
					ended[ch] = true
					open--
				}
			}
		}
		network.Recycle(buf)
		l.publish()
		if _, err := l.maybeFlush(); err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return context.Cause(ctx)
		}
	}
	return nil
}
