package task

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"

	weirv1 "github.com/weirstream/weir/api/proto/weir/v1"
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
	// backendErr reports a state backend's failure (an I/O error of a
	// Pebble database); nil for backends that cannot fail.
	backendErr func() error
	bytesIn    int64 // bytes of the buffers read from the input gate

	// Checkpointing, all nil or zero when the job takes no checkpoints.
	cp           *Checkpointing
	align        alignment
	lastSnapshot int64  // the newest checkpoint this task has snapshotted
	completed    int64  // the newest checkpoint notified complete
	finalID      int64  // the final checkpoint this source emitted, while pending
	inputEnded   bool   // a source has read all its input
	ended        []bool // per input channel: end of partition received

	// Event time: per input channel its watermark and whether it is idle;
	// idleOut reports whether this task told its consumers it is idle.
	watermarks []int64
	idleIn     []bool
	idleOut    bool
}

// alignment tracks the barrier being aligned across input channels.
type alignment struct {
	barrier *weirv1.Barrier // nil when not aligning
	seen    []bool          // per channel: barrier received
	start   time.Time
}

// publish copies the loop's counters into the task's atomics.
func (l *loop) publish() {
	in, out := l.chain.Counts()
	l.t.recordsIn.Store(in)
	l.t.recordsOut.Store(out)
	var bp time.Duration
	var sent int64
	for _, o := range l.t.outputs {
		bp += o.Backpressured
		sent += o.BytesSent
	}
	l.t.backpressuredNanos.Store(int64(bp))
	l.t.bytesIn.Store(l.bytesIn)
	l.t.bytesOut.Store(sent)
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

// idle waits for ready or a control action, flushing pending output when
// its timeout expires.
func (l *loop) idle(ctx context.Context, ready <-chan struct{}) error {
	if err := l.chain.Flush(); err != nil {
		return err
	}
	for {
		wait, err := l.maybeFlush()
		if err != nil {
			return err
		}
		if at, ok := l.chain.Deadline(); ok {
			d := at.Sub(l.t.cfg.Clock.Now())
			if d <= 0 {
				return l.onTime()
			}
			if wait == 0 || d < wait {
				wait = d
			}
		}
		var timer <-chan time.Time
		if wait > 0 {
			timer = l.t.cfg.Clock.After(wait)
		}
		select {
		case <-ready:
			return nil
		case <-l.t.kick:
			return l.handleMail()
		case <-timer:
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
}

// onTime fires due processing-time timers and lets the chain's timestamp
// assigners emit watermarks and idleness; the loop calls it after every
// batch of input and when a deadline passes.
func (l *loop) onTime() error {
	if err := l.chain.FireProcessingTimers(); err != nil {
		return err
	}
	advanced, idle, err := l.chain.GenerateWatermark(l.t.cfg.Clock.Now())
	if err != nil {
		return err
	}
	if advanced {
		if err := l.broadcastWatermark(); err != nil {
			return err
		}
	}
	if l.chain.HasWatermarkGenerator() {
		return l.setIdle(idle)
	}
	return nil
}

// broadcastWatermark sends the chain's watermark to every consumer.
func (l *loop) broadcastWatermark() error {
	if err := l.setIdle(false); err != nil {
		return err
	}
	wm := network.EncodeTimestamp(l.chain.Watermark())
	for _, o := range l.t.outputs {
		if err := o.Broadcast(network.KindWatermark, wm); err != nil {
			return err
		}
	}
	return nil
}

// setIdle tells the consumers when this task turns idle or active.
func (l *loop) setIdle(idle bool) error {
	if idle == l.idleOut {
		return nil
	}
	l.idleOut = idle
	p := []byte{0}
	if idle {
		p[0] = 1
	}
	for _, o := range l.t.outputs {
		if err := o.Broadcast(network.KindIdle, p); err != nil {
			return err
		}
	}
	return nil
}

// advanceWatermark hands the chain wm and forwards the chain's watermark
// if it advanced.
func (l *loop) advanceWatermark(wm int64) error {
	advanced, err := l.chain.AdvanceWatermark(wm)
	if err != nil {
		return err
	}
	if advanced {
		return l.broadcastWatermark()
	}
	return nil
}

// inputWatermark recomputes the task's input watermark: the minimum over
// the channels that are neither idle nor ended (Flink's
// StatusWatermarkValve). When every open channel is idle, the task is idle.
func (l *loop) inputWatermark() error {
	wm, active, open := stream.MaxWatermark, false, false
	for ch, w := range l.watermarks {
		if l.ended[ch] {
			continue
		}
		open = true
		if l.idleIn[ch] {
			continue
		}
		active = true
		wm = min(wm, w)
	}
	if !open {
		return nil // every channel ended; each sent MaxWatermark before
	}
	if !active {
		if l.chain.HasWatermarkGenerator() {
			return nil
		}
		return l.setIdle(true)
	}
	if err := l.advanceWatermark(wm); err != nil {
		return err
	}
	if l.chain.HasWatermarkGenerator() {
		return nil
	}
	return l.setIdle(false)
}

// handleMail runs the waiting control actions.
func (l *loop) handleMail() error {
	for _, a := range l.t.takeMail() {
		switch {
		case a.trigger != nil:
			if l.gate != nil {
				return fmt.Errorf("checkpoint %d was triggered at a task that is not a source", a.trigger.GetCheckpointId())
			}
			if id := a.trigger.GetCheckpointId(); id <= l.lastSnapshot {
				// Triggers travel separately and may arrive out of order.
				l.cp.Checkpointer.Decline(a.trigger, fmt.Errorf("%w: checkpoint %d was triggered after checkpoint %d", ErrSubsumed, id, l.lastSnapshot))
				continue
			}
			if err := l.checkpoint(a.trigger, 0); err != nil {
				return err
			}
			if a.trigger.GetFinal() {
				l.finalID = a.trigger.GetCheckpointId()
			}
		case a.complete > 0:
			if a.complete <= l.completed {
				continue
			}
			l.completed = a.complete
			if err := l.chain.NotifyCheckpointComplete(a.complete); err != nil {
				return fmt.Errorf("committing checkpoint %d: %w", a.complete, err)
			}
		case a.abort > 0:
			if a.abort == l.finalID {
				l.finalID = 0 // the jobmanager triggers the final checkpoint again
			}
		}
	}
	return nil
}

// checkpoint takes the task's part of checkpoint b: it snapshots the chain,
// sends the barrier downstream after every record written before it, and
// hands the snapshot to the checkpointer for upload.
//
// The acknowledgement's synchronous duration is the snapshot's, as in
// Flink: the time the task stops processing records for the checkpoint.
// The time the barrier's send then waits for a backpressured consumer is
// backpressure, counted with every other send's: a task feeding a slower
// consumer waits as long for each of its buffers of records.
func (l *loop) checkpoint(b *weirv1.Barrier, alignment time.Duration) error {
	start := l.t.cfg.Clock.Now()
	incremental := l.cp.Incremental && b.GetKind() == weirv1.SnapshotKind_SNAPSHOT_KIND_CHECKPOINT
	snap, serr := l.chain.SnapshotAsync(b.GetCheckpointId(), b.GetBaseCheckpointId(), incremental)
	paused := l.t.cfg.Clock.Now().Sub(start)
	if err := l.broadcastBarrier(b); err != nil {
		for i := range snap {
			_ = snap[i].Discard()
		}
		return err
	}
	l.lastSnapshot = max(l.lastSnapshot, b.GetCheckpointId())
	if serr != nil {
		l.cp.Checkpointer.Decline(b, serr)
		return nil
	}
	// Captured and native keyed state is counted by the checkpointer,
	// which encodes or persists it.
	size := int64(0)
	for _, s := range snap {
		size += int64(len(s.Keyed))
		for _, e := range s.Elements {
			size += int64(len(e))
		}
	}
	l.cp.Checkpointer.Acknowledge(b, snap, &weirv1.CheckpointMetrics{
		SyncDurationMillis:      paused.Milliseconds(),
		AlignmentDurationMillis: alignment.Milliseconds(),
		StateSize:               size,
	})
	return nil
}

// broadcastBarrier sends b downstream, after every record written before it.
func (l *loop) broadcastBarrier(b *weirv1.Barrier) error {
	enc, err := proto.Marshal(b)
	if err != nil {
		return err
	}
	for _, o := range l.t.outputs {
		if err := o.Broadcast(network.KindBarrier, enc); err != nil {
			return err
		}
	}
	return nil
}

func (l *loop) runSource(ctx context.Context) error {
	for {
		if err := ctx.Err(); err != nil {
			return context.Cause(ctx)
		}
		select {
		case <-l.t.kick:
			if err := l.handleMail(); err != nil {
				return err
			}
		default:
		}
		if l.inputEnded {
			// Read everything; finish once the final checkpoint completed.
			if l.finalID > 0 && l.completed >= l.finalID {
				return nil
			}
			if err := l.idle(ctx, nil); err != nil {
				return err
			}
			continue
		}
		st, err := l.chain.Poll()
		l.publish()
		if err != nil {
			return err
		}
		switch st {
		case stream.PollEnd:
			// At the end of input every event-time timer fires.
			if err := l.advanceWatermark(stream.MaxWatermark); err != nil {
				return err
			}
			if l.cp == nil {
				return nil
			}
			l.inputEnded = true
			if err := l.flush(); err != nil {
				return err
			}
			l.cp.Checkpointer.EndOfInput()
		case stream.PollIdle:
			if err := l.onTime(); err != nil {
				return err
			}
			if err := l.idle(ctx, l.chain.Available()); err != nil {
				return err
			}
		default:
			if err := l.onTime(); err != nil {
				return err
			}
			if _, err := l.maybeFlush(); err != nil {
				return err
			}
		}
	}
}

func (l *loop) runInputs(ctx context.Context) error {
	gate := l.gate
	l.ended = make([]bool, gate.NumChannels())
	open := len(l.ended)
	l.align.seen = make([]bool, len(l.ended))
	l.watermarks = make([]int64, len(l.ended))
	for i := range l.watermarks {
		l.watermarks[i] = stream.NoTimestamp
	}
	l.idleIn = make([]bool, len(l.ended))
	for open > 0 {
		select {
		case <-l.t.kick:
			if err := l.handleMail(); err != nil {
				return err
			}
		default:
		}
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
		l.bytesIn += int64(len(buf))
		r := network.NewReader(buf)
		consumed := true
	elements:
		for {
			k, payload, more, err := r.Next()
			if err != nil {
				return fmt.Errorf("input channel %d: %w", ch, err)
			}
			if !more {
				break
			}
			switch k {
			case network.KindRecord, network.KindTimedRecord, network.KindKeyedRecord, network.KindKeyedTimedRecord:
				kg, ts, rec, err := network.SplitRecord(k, payload)
				if err != nil {
					return fmt.Errorf("input channel %d: %w", ch, err)
				}
				if err := l.chain.ProcessKeyed(rec, ts, kg); err != nil {
					return err
				}
			case network.KindWatermark:
				wm, err := network.DecodeTimestamp(payload)
				if err != nil {
					return fmt.Errorf("input channel %d: %w", ch, err)
				}
				l.idleIn[ch] = false
				if wm > l.watermarks[ch] {
					l.watermarks[ch] = wm
				}
				if err := l.inputWatermark(); err != nil {
					return err
				}
			case network.KindIdle:
				if len(payload) != 1 {
					return fmt.Errorf("input channel %d: %w: idleness of %d bytes", ch, network.ErrCorruptBuffer, len(payload))
				}
				l.idleIn[ch] = payload[0] == 1
				if err := l.inputWatermark(); err != nil {
					return err
				}
			case network.KindEndOfPartition:
				if !l.ended[ch] {
					l.ended[ch] = true
					open--
				}
				if err := l.maybeAligned(); err != nil {
					return err
				}
				if err := l.inputWatermark(); err != nil {
					return err
				}
			case network.KindBarrier:
				b := &weirv1.Barrier{}
				if err := proto.Unmarshal(payload, b); err != nil {
					return fmt.Errorf("input channel %d: barrier: %w", ch, err)
				}
				held, err := l.onBarrier(ch, b)
				if err != nil {
					return err
				}
				if held && l.cp.ExactlyOnce {
					// Hold the channel: what follows the barrier belongs
					// to the next checkpoint.
					gate.Unread(ch, r.Rest())
					gate.Block(ch)
					consumed = false
					break elements
				}
			}
		}
		if consumed {
			network.Recycle(buf)
		}
		if err := l.onTime(); err != nil {
			return err
		}
		if l.backendErr != nil {
			if err := l.backendErr(); err != nil {
				return fmt.Errorf("state backend: %w", err)
			}
		}
		l.publish()
		if _, err := l.maybeFlush(); err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return context.Cause(ctx)
		}
	}
	// With checkpointing, the output is complete only once the checkpoint
	// that covered the last records has completed.
	for l.cp != nil && l.completed < l.lastSnapshot {
		if err := l.idle(ctx, nil); err != nil {
			return err
		}
	}
	return nil
}

// onBarrier handles barrier b arriving on channel ch. held reports that ch
// delivered the barrier being aligned and must wait for the others; a
// stale barrier holds nothing.
func (l *loop) onBarrier(ch int, b *weirv1.Barrier) (held bool, err error) {
	if l.cp == nil {
		return false, fmt.Errorf("input channel %d: a checkpoint barrier in a job without checkpointing", ch)
	}
	a := &l.align
	id := b.GetCheckpointId()
	switch {
	case id <= l.lastSnapshot:
		return false, nil // a barrier of a checkpoint already taken or given up
	case a.barrier != nil && id < a.barrier.GetCheckpointId():
		return false, nil // stale: a newer checkpoint is being aligned
	case a.barrier != nil && id > a.barrier.GetCheckpointId():
		// The older checkpoint cannot complete here any more.
		l.cp.Checkpointer.Decline(a.barrier, fmt.Errorf("%w: the barrier of checkpoint %d overtook it", ErrSubsumed, id))
		l.resetAlignment()
	}
	if a.barrier == nil {
		a.barrier, a.start = b, l.t.cfg.Clock.Now()
	}
	a.seen[ch] = true
	if err := l.maybeAligned(); err != nil {
		return false, err
	}
	return a.barrier != nil, nil // still aligning: ch waits for the others
}

// maybeAligned completes the alignment once every channel has delivered the
// barrier or ended.
func (l *loop) maybeAligned() error {
	a := &l.align
	if a.barrier == nil {
		return nil
	}
	for ch, seen := range a.seen {
		if !seen && !l.ended[ch] {
			return nil
		}
	}
	b, waited := a.barrier, l.t.cfg.Clock.Now().Sub(a.start)
	l.resetAlignment()
	return l.checkpoint(b, waited)
}

func (l *loop) resetAlignment() {
	a := &l.align
	a.barrier = nil
	clear(a.seen)
	l.gate.UnblockAll()
}
