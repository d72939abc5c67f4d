package task

import (
	"context"
	"slices"
	"testing"

	weirv1 "github.com/weirstream/weir/api/proto/weir/v1"
	"github.com/weirstream/weir/internal/clock"
	"github.com/weirstream/weir/internal/network"
	"github.com/weirstream/weir/stream"
)

// captureChannel records the events a task broadcasts.
type captureChannel struct{ events []string }

func (c *captureChannel) Send(buf []byte) error {
	r := network.NewReader(buf)
	for {
		k, p, ok, err := r.Next()
		if err != nil {
			return err
		}
		if !ok {
			return nil
		}
		switch k {
		case network.KindWatermark:
			wm, err := network.DecodeTimestamp(p)
			if err != nil {
				return err
			}
			c.events = append(c.events, "wm "+itoa(wm))
		case network.KindIdle:
			if p[0] == 1 {
				c.events = append(c.events, "idle")
			} else {
				c.events = append(c.events, "active")
			}
		case network.KindEndOfPartition:
			c.events = append(c.events, "end")
		}
	}
}
func (c *captureChannel) Close() error { return nil }
func (c *captureChannel) Abort(error)  {}

func itoa(v int64) string {
	if v == stream.MaxWatermark {
		return "max"
	}
	b := []byte{}
	neg := v < 0
	if neg {
		v = -v
	}
	for {
		b = append([]byte{byte('0' + v%10)}, b...)
		if v /= 10; v == 0 {
			break
		}
	}
	if neg {
		b = append([]byte{'-'}, b...)
	}
	return string(b)
}

func watermarkLoop(channels int) (*loop, *captureChannel) {
	out := &captureChannel{}
	t := &Task{cfg: Config{Clock: clock.Real{}}, kick: make(chan struct{}, 1)}
	t.outputs = []*network.Output{network.NewOutput(weirv1.Partitioning_PARTITIONING_FORWARD, 128, []network.ChannelWriter{out}, clock.Real{}, 0)}
	l := &loop{t: t, chain: &stream.Chain{}, gate: network.NewInputGate(channels), ended: make([]bool, channels),
		watermarks: make([]int64, channels), idleIn: make([]bool, channels)}
	for i := range l.watermarks {
		l.watermarks[i] = stream.NoTimestamp
	}
	return l, out
}

func step(t *testing.T, l *loop, f func()) {
	t.Helper()
	f()
	if err := l.inputWatermark(); err != nil {
		t.Fatal(err)
	}
	if err := l.flush(); err != nil {
		t.Fatal(err)
	}
}

// A task's watermark is the minimum over its input channels, leaving out
// idle and ended channels, and never goes back, even when a channel that
// was idle comes back behind it (Flink's StatusWatermarkValve).
func TestWatermarkIsMinimumOverActiveChannels(t *testing.T) {
	l, out := watermarkLoop(3)
	step(t, l, func() { l.watermarks[0] = 10 })
	step(t, l, func() { l.watermarks[1] = 20 })
	if len(out.events) != 0 {
		t.Fatalf("a watermark while channel 2 has none: %v", out.events)
	}
	step(t, l, func() { l.watermarks[2] = 5 })
	step(t, l, func() { l.idleIn[2] = true })
	step(t, l, func() { l.watermarks[0] = 30 })
	step(t, l, func() { l.idleIn[2], l.watermarks[2] = false, 8 }) // back, behind: no regression
	step(t, l, func() { l.ended[2] = true })                       // ended channels do not count
	step(t, l, func() { l.idleIn[0], l.idleIn[1] = true, true })   // every open channel idle
	step(t, l, func() { l.idleIn[1], l.watermarks[1] = false, 40 })
	want := []string{"wm 5", "wm 10", "wm 20", "idle", "active", "wm 40"}
	if !slices.Equal(out.events, want) {
		t.Fatalf("events %v, want %v", out.events, want)
	}
}

// Watermarks and idleness travel in-band through the task's input loop.
func TestWatermarksThroughTheInputLoop(t *testing.T) {
	l, out := watermarkLoop(2)
	push := func(ch int, elems ...func([]byte) []byte) {
		var b []byte
		for _, e := range elems {
			b = e(b)
		}
		if err := l.gate.Push(context.Background(), ch, b); err != nil {
			t.Fatal(err)
		}
	}
	wm := func(v int64) func([]byte) []byte {
		return func(b []byte) []byte {
			return network.AppendElement(b, network.KindWatermark, network.EncodeTimestamp(v))
		}
	}
	end := func(b []byte) []byte { return network.AppendElement(b, network.KindEndOfPartition, nil) }
	push(0, wm(7), wm(9))
	push(1, wm(3))
	push(1, wm(12))
	push(0, wm(stream.MaxWatermark), end)
	push(1, wm(stream.MaxWatermark), end)
	if err := l.runInputs(context.Background()); err != nil {
		t.Fatal(err)
	}
	if want := []string{"wm 3", "wm 12", "wm max"}; !slices.Equal(out.events, want) {
		t.Fatalf("events %v, want %v", out.events, want)
	}
}
