package network_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	weirv1 "github.com/weirstream/weir/api/proto/weir/v1"
	"github.com/weirstream/weir/internal/network"
)

func channelKey(producer, consumer int32) network.ChannelKey {
	return network.ChannelKey{JobID: "0123456789abcdef0123456789abcdef", Attempt: 1,
		ProducerVertex: 0, ProducerSubtask: producer, ConsumerVertex: 2, ConsumerSubtask: consumer}
}

func TestChannelKeyProtoRoundTrip(t *testing.T) {
	k := network.ChannelKey{JobID: "job", Attempt: 3, ProducerVertex: 1, ProducerSubtask: 2, ConsumerVertex: 4, ConsumerSubtask: 5}
	if got := network.KeyOf(k.Proto()); got != k {
		t.Errorf("KeyOf(Proto()) = %+v, want %+v", got, k)
	}
	var nilID *weirv1.ChannelID
	if got := network.KeyOf(nilID); got != (network.ChannelKey{}) {
		t.Errorf("KeyOf(nil) = %+v, want the zero key", got)
	}
	if s := k.String(); s != "job/3: 1.2 -> 4.5" {
		t.Errorf("String() = %q", s)
	}
}

func TestEndpointsLookupWaitsForRegister(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := network.NewEndpoints()
		g := network.NewInputGate(2)
		type result struct {
			gate *network.InputGate
			ch   int
			err  error
		}
		done := make(chan result, 1)
		go func() {
			gate, ch, err := e.Lookup(t.Context(), channelKey(1, 0))
			done <- result{gate, ch, err}
		}()
		synctest.Wait()
		select {
		case r := <-done:
			t.Fatalf("Lookup of an unregistered channel returned %+v", r)
		default:
		}

		// Another channel's registration wakes the waiter, which waits on.
		e.Register(channelKey(0, 0), g, 0)
		synctest.Wait()
		select {
		case r := <-done:
			t.Fatalf("Lookup returned %+v after another channel registered", r)
		default:
		}

		e.Register(channelKey(1, 0), g, 1)
		r := <-done
		if r.err != nil || r.gate != g || r.ch != 1 {
			t.Errorf("Lookup = %p %d %v, want gate %p channel 1", r.gate, r.ch, r.err, g)
		}
	})
}

func TestEndpointsLookupTimesOut(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := network.NewEndpoints()
		e.Register(channelKey(0, 0), network.NewInputGate(1), 0)
		k := channelKey(7, 3)
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		start := time.Now()
		_, _, err := e.Lookup(ctx, k)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Lookup = %v, want a deadline error", err)
		}
		if !strings.Contains(err.Error(), k.String()) {
			t.Errorf("error %q does not name channel %s", err, k)
		}
		if waited := time.Since(start); waited != time.Minute {
			t.Errorf("Lookup gave up after %v, want the context's minute", waited)
		}
	})
}

func TestEndpointsUnregister(t *testing.T) {
	e := network.NewEndpoints()
	g1, g2 := network.NewInputGate(2), network.NewInputGate(1)
	e.Register(channelKey(0, 0), g1, 0)
	e.Register(channelKey(1, 0), g1, 1)
	e.Register(channelKey(0, 1), g2, 0)
	e.Unregister(g1)

	// With a done context Lookup answers from what is registered now.
	done, cancel := context.WithCancel(t.Context())
	cancel()
	for _, k := range []network.ChannelKey{channelKey(0, 0), channelKey(1, 0)} {
		if g, _, err := e.Lookup(done, k); err == nil {
			t.Errorf("channel %s still delivers to %p after Unregister", k, g)
		}
	}
	if g, ch, err := e.Lookup(done, channelKey(0, 1)); err != nil || g != g2 || ch != 0 {
		t.Errorf("another gate's channel: Lookup = %p %d %v, want %p 0", g, ch, err, g2)
	}

	// A channel may be registered again, e.g. by the next attempt's gate.
	g3 := network.NewInputGate(1)
	e.Register(channelKey(0, 0), g3, 0)
	if g, _, err := e.Lookup(done, channelKey(0, 0)); err != nil || g != g3 {
		t.Errorf("re-registered channel: Lookup = %p %v, want %p", g, err, g3)
	}
}
