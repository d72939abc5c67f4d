package task

import (
	"testing"
	"time"

	weirv1 "github.com/weirstream/weir/api/proto/weir/v1"
	"github.com/weirstream/weir/internal/clock"
	"github.com/weirstream/weir/internal/network"
	"github.com/weirstream/weir/stream"
)

type recorder struct {
	acks, declines []int64
	metrics        []*weirv1.CheckpointMetrics // of each acknowledgement
}

func (r *recorder) Acknowledge(b *weirv1.Barrier, _ []stream.OperatorSnapshot, m *weirv1.CheckpointMetrics) {
	r.acks = append(r.acks, b.GetCheckpointId())
	r.metrics = append(r.metrics, m)
}
func (r *recorder) Decline(b *weirv1.Barrier, _ error) {
	r.declines = append(r.declines, b.GetCheckpointId())
}
func (r *recorder) EndOfInput() {}

func alignLoop(channels int, exactlyOnce bool) (*loop, *recorder) {
	rec := &recorder{}
	l := &loop{t: &Task{cfg: Config{Clock: clock.Real{}}}, chain: &stream.Chain{}, gate: network.NewInputGate(channels),
		cp: &Checkpointing{ExactlyOnce: exactlyOnce, Checkpointer: rec}, ended: make([]bool, channels)}
	l.align.seen = make([]bool, channels)
	return l, rec
}

func barrier(id int64) *weirv1.Barrier { return &weirv1.Barrier{CheckpointId: id} }

func mustBarrier(t *testing.T, l *loop, ch int, id int64, wantHeld bool) {
	t.Helper()
	held, err := l.onBarrier(ch, barrier(id))
	if err != nil {
		t.Fatal(err)
	}
	if held != wantHeld {
		t.Fatalf("barrier %d on channel %d: held %t, want %t", id, ch, held, wantHeld)
	}
}

// Triggers reach sources out of order, so a task may see a newer barrier
// on one channel before an older one on another. The older barrier is
// stale: it must not hold its channel, or the newer barrier behind it never
// arrives and the checkpoint never completes.
func TestStaleBarrierDoesNotHoldItsChannel(t *testing.T) {
	l, rec := alignLoop(2, true)
	mustBarrier(t, l, 1, 41, true)  // aligning 41: channel 1 waits
	mustBarrier(t, l, 0, 40, false) // stale: channel 0 goes on to its 41
	mustBarrier(t, l, 0, 41, false) // aligned: checkpoint 41 taken
	if len(rec.acks) != 1 || rec.acks[0] != 41 {
		t.Fatalf("acks %v, want [41]", rec.acks)
	}
}

// A newer barrier overtaking the one being aligned declines the older one
// and aligns the newer.
func TestOvertakingBarrierDeclinesTheOlder(t *testing.T) {
	l, rec := alignLoop(2, true)
	mustBarrier(t, l, 0, 40, true)
	mustBarrier(t, l, 1, 41, true)
	if len(rec.declines) != 1 || rec.declines[0] != 40 {
		t.Fatalf("declines %v, want [40]", rec.declines)
	}
	mustBarrier(t, l, 0, 41, false)
	if len(rec.acks) != 1 || rec.acks[0] != 41 {
		t.Fatalf("acks %v, want [41]", rec.acks)
	}
	mustBarrier(t, l, 1, 40, false) // late: already given up
	mustBarrier(t, l, 1, 41, false) // already taken
	if len(rec.acks) != 1 {
		t.Fatalf("acks %v after late barriers, want [41]", rec.acks)
	}
}

// A channel that ends counts as aligned.
func TestEndedChannelCountsAsAligned(t *testing.T) {
	l, rec := alignLoop(3, true)
	mustBarrier(t, l, 0, 7, true)
	l.ended[2] = true
	if err := l.maybeAligned(); err != nil {
		t.Fatal(err)
	}
	if len(rec.acks) != 0 {
		t.Fatalf("acks %v before channel 1 delivered the barrier", rec.acks)
	}
	mustBarrier(t, l, 1, 7, false)
	if len(rec.acks) != 1 {
		t.Fatalf("acks %v, want [7]", rec.acks)
	}
}

// blockedChannel is a consumer under backpressure: each Send takes wait
// on the task's clock.
type blockedChannel struct {
	clock *clock.Manual
	wait  time.Duration
	sent  int
}

func (c *blockedChannel) Send([]byte) error { c.sent++; c.clock.Advance(c.wait); return nil }
func (c *blockedChannel) Close() error      { return nil }
func (c *blockedChannel) Abort(error)       {}

// The synchronous duration of an acknowledgement is the snapshot's, as in
// Flink; the time the barrier then waits for a backpressured consumer is
// the output's backpressure, not a pause the checkpoint made.
func TestSyncDurationLeavesOutBackpressure(t *testing.T) {
	l, rec := alignLoop(1, true)
	c := clock.NewManual(time.Unix(0, 0))
	l.t.cfg.Clock = c
	ch := &blockedChannel{clock: c, wait: 300 * time.Millisecond}
	out := network.NewOutput(weirv1.Partitioning_PARTITIONING_FORWARD, 128, []network.ChannelWriter{ch}, c, 0)
	l.t.outputs = []*network.Output{out}
	mustBarrier(t, l, 0, 7, false)
	if ch.sent != 1 {
		t.Fatalf("the barrier was sent %d times, want once", ch.sent)
	}
	if len(rec.metrics) != 1 {
		t.Fatalf("acks %v, want [7]", rec.acks)
	}
	if got := rec.metrics[0].GetSyncDurationMillis(); got != 0 {
		t.Errorf("sync duration %d ms, want 0: the snapshot took no time, the send to the blocked consumer 300 ms", got)
	}
	if out.Backpressured != 300*time.Millisecond {
		t.Errorf("backpressure %v, want the barrier's 300ms", out.Backpressured)
	}
}
