package network_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"testing/synctest"

	"github.com/weirstream/weir/internal/network"
)

func buf(s string) []byte { return []byte(s) }

// pollAll polls until the gate is empty and returns the channel and buffer
// of every poll.
func pollAll(t *testing.T, g *network.InputGate) (chans []int, bufs []string) {
	t.Helper()
	for {
		ch, b, ok, err := g.Poll()
		if err != nil {
			t.Fatalf("Poll: %v", err)
		}
		if !ok {
			return chans, bufs
		}
		chans = append(chans, ch)
		bufs = append(bufs, string(b))
	}
}

func mustPush(t *testing.T, g *network.InputGate, ch int, s string) {
	t.Helper()
	if err := g.Push(t.Context(), ch, buf(s)); err != nil {
		t.Fatalf("Push(%d, %q): %v", ch, s, err)
	}
}

func TestGatePollRoundRobin(t *testing.T) {
	g := network.NewInputGate(3)
	if g.NumChannels() != 3 {
		t.Fatalf("NumChannels = %d, want 3", g.NumChannels())
	}
	for i := range 3 {
		for _, c := range []string{"a", "b", "c"} {
			mustPush(t, g, i, c+string(rune('0'+i)))
		}
	}
	chans, bufs := pollAll(t, g)
	if want := []int{0, 1, 2, 0, 1, 2, 0, 1, 2}; !slices.Equal(chans, want) {
		t.Errorf("polled channels %v, want %v", chans, want)
	}
	// Each channel's buffers keep their order.
	if want := []string{"a0", "a1", "a2", "b0", "b1", "b2", "c0", "c1", "c2"}; !slices.Equal(bufs, want) {
		t.Errorf("polled buffers %v, want %v", bufs, want)
	}
}

func TestGatePollSkipsEmptyAndResumesAfterLast(t *testing.T) {
	g := network.NewInputGate(3)
	for _, s := range []string{"x", "y", "z", "w"} {
		mustPush(t, g, 0, "0"+s)
	}
	mustPush(t, g, 2, "2x")
	chans, _ := pollAll(t, g)
	// A busy channel 0 does not starve channel 2.
	if want := []int{0, 2, 0, 0, 0}; !slices.Equal(chans, want) {
		t.Errorf("polled channels %v, want %v", chans, want)
	}

	// The next poll starts after the channel polled last (0), so channel 1
	// goes before channel 0 although 0 has more.
	mustPush(t, g, 0, "0v")
	mustPush(t, g, 1, "1v")
	chans, _ = pollAll(t, g)
	if want := []int{1, 0}; !slices.Equal(chans, want) {
		t.Errorf("polled channels %v, want %v", chans, want)
	}
}

func TestGatePushKicksAvailable(t *testing.T) {
	g := network.NewInputGate(2)
	select {
	case <-g.Available():
		t.Fatal("a new gate is available")
	default:
	}
	mustPush(t, g, 1, "a")
	select {
	case <-g.Available():
	default:
		t.Fatal("Push did not kick Available")
	}
	// Available is a signal, not a count: two pushes give at least one kick
	// and Poll finds both buffers.
	mustPush(t, g, 0, "b")
	mustPush(t, g, 0, "c")
	select {
	case <-g.Available():
	default:
		t.Fatal("Push did not kick Available")
	}
	if _, bufs := pollAll(t, g); len(bufs) != 3 {
		t.Errorf("polled %v, want 3 buffers", bufs)
	}
}

func TestGatePushBlocksWhileChannelFull(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := network.NewInputGate(2)
		for i := range network.QueueCapacity {
			mustPush(t, g, 0, string(rune('a'+i)))
		}
		done := make(chan error, 1)
		go func() { done <- g.Push(t.Context(), 0, buf("late")) }()
		synctest.Wait()
		select {
		case err := <-done:
			t.Fatalf("Push into a full channel returned %v; want it blocked", err)
		default:
		}

		// Another channel of the gate is not held up by the full one.
		mustPush(t, g, 1, "other")

		ch, b, ok, err := g.Poll()
		if err != nil || !ok || ch != 0 || string(b) != "a" {
			t.Fatalf("Poll = %d %q %v %v, want channel 0's first buffer", ch, b, ok, err)
		}
		synctest.Wait()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("unblocked Push: %v", err)
			}
		default:
			t.Fatal("Push still blocked after Poll made room")
		}
		_, bufs := pollAll(t, g)
		if want := []string{"other", "b", "c", "d", "late"}; !slices.Equal(bufs, want) {
			t.Errorf("remaining buffers %v, want %v", bufs, want)
		}
	})
}

func TestGatePushReturnsContextCause(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := network.NewInputGate(1)
		for range network.QueueCapacity {
			mustPush(t, g, 0, "x")
		}
		cause := errors.New("task canceled")
		ctx, cancel := context.WithCancelCause(t.Context())
		done := make(chan error, 1)
		go func() { done <- g.Push(ctx, 0, buf("late")) }()
		synctest.Wait()
		cancel(cause)
		if err := <-done; !errors.Is(err, cause) {
			t.Errorf("Push after cancel = %v, want %v", err, cause)
		}

		plain, cancelPlain := context.WithCancel(t.Context())
		go func() { done <- g.Push(plain, 0, buf("late")) }()
		synctest.Wait()
		cancelPlain()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Push after cancel = %v, want context.Canceled", err)
		}
		if chans, _ := pollAll(t, g); len(chans) != network.QueueCapacity {
			t.Errorf("gate holds %d buffers, want %d: a cancelled Push must not enqueue", len(chans), network.QueueCapacity)
		}
	})
}

func TestGateCloseFailsPushes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := network.NewInputGate(2)
		for range network.QueueCapacity {
			mustPush(t, g, 0, "x")
		}
		blocked := make(chan error, 1)
		go func() { blocked <- g.Push(t.Context(), 0, buf("late")) }()
		synctest.Wait()
		g.Close()
		if err := <-blocked; !errors.Is(err, network.ErrGateClosed) {
			t.Errorf("blocked Push after Close = %v, want ErrGateClosed", err)
		}
		for ch := range 2 {
			if err := g.Push(t.Context(), ch, buf("after")); !errors.Is(err, network.ErrGateClosed) {
				t.Errorf("Push(%d) after Close = %v, want ErrGateClosed", ch, err)
			}
		}
		if _, b, ok, err := g.Poll(); ok || err != nil {
			t.Errorf("Poll after Close = %q %v %v; want the queued buffers dropped", b, ok, err)
		}
		g.Close() // idempotent
	})
}

func TestGateFailSurfacesOnPoll(t *testing.T) {
	g := network.NewInputGate(3)
	mustPush(t, g, 0, "queued")
	<-g.Available()
	boom := errors.New("producer died")
	g.Fail(2, boom)
	select {
	case <-g.Available():
	default:
		t.Fatal("Fail did not kick Available")
	}
	g.Fail(1, errors.New("second failure"))

	for range 2 { // the failure is sticky
		_, _, ok, err := g.Poll()
		if !errors.Is(err, boom) {
			t.Fatalf("Poll = %v, want the first failure %v", err, boom)
		}
		if ok {
			t.Error("Poll returned a buffer along with the failure")
		}
		if !strings.Contains(err.Error(), "input channel 2") {
			t.Errorf("error %q does not name channel 2", err)
		}
	}
}
