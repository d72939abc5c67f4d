package network_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	weirv1 "github.com/weirstream/weir/api/proto/weir/v1"
	"github.com/weirstream/weir/internal/network"
)

// watchdog bounds how long a test waits for something that should happen
// promptly; it turns a hang into a failure naming what was awaited.
const watchdog = 20 * time.Second

// exchange is a real DataExchangeService on 127.0.0.1 and a connection to it.
type exchange struct {
	endpoints *network.Endpoints
	dialer    *network.Dialer
	conn      *grpc.ClientConn
	// received is signalled by the server each time an Exchange handler
	// has read its stream's first message.
	received chan struct{}
}

func startExchange(t testing.TB) *exchange {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	x := &exchange{endpoints: network.NewEndpoints(), dialer: network.NewDialer(), received: make(chan struct{}, 16)}
	srv := grpc.NewServer(grpc.StreamInterceptor(func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
		return h(srv, &firstRecv{ServerStream: ss, received: x.received})
	}))
	weirv1.RegisterDataExchangeServiceServer(srv, network.NewServer(x.endpoints))
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	t.Cleanup(func() {
		srv.Stop()
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	x.conn, err = x.dialer.Conn(lis.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := x.dialer.Conn(lis.Addr().String()); again != x.conn {
		t.Error("the dialer opened a second connection to the same address")
	}
	t.Cleanup(func() { _ = x.dialer.Close() })
	return x
}

// firstRecv signals after the first message of a stream has been received.
type firstRecv struct {
	grpc.ServerStream
	received chan struct{}
	done     bool
}

func (s *firstRecv) RecvMsg(m any) error {
	err := s.ServerStream.RecvMsg(m)
	if !s.done {
		s.done = true
		s.received <- struct{}{}
	}
	return err
}

func waitFor[T any](t *testing.T, c <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-c:
		return v
	case <-time.After(watchdog):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

// consume polls g until n buffers arrived or the gate fails.
func consume(t *testing.T, g *network.InputGate, n int) ([][]byte, error) {
	t.Helper()
	var got [][]byte
	for len(got) < n {
		_, b, ok, err := g.Poll()
		if err != nil {
			return got, err
		}
		if ok {
			got = append(got, b)
			continue
		}
		waitFor(t, g.Available(), fmt.Sprintf("buffer %d of %d", len(got)+1, n))
	}
	return got, nil
}

func recordBuffer(i int) []byte {
	return network.AppendElement(nil, network.KindRecord, []byte(fmt.Sprintf("record %d", i)))
}

func TestExchangeDeliversInOrder(t *testing.T) {
	x := startExchange(t)
	key := channelKey(1, 0)
	g := network.NewInputGate(2)
	x.endpoints.Register(key, g, 1)

	var bytesOut atomic.Int64
	w, err := network.OpenRemote(t.Context(), x.conn, key, &bytesOut)
	if err != nil {
		t.Fatal(err)
	}
	const n = 50 // far more than the gate holds: the producer is paced by the consumer
	sent := make(chan error, 1)
	var total int64
	go func() {
		for i := range n {
			b := recordBuffer(i)
			total += int64(len(b))
			if err := w.Send(b); err != nil {
				sent <- err
				return
			}
		}
		eop := network.AppendElement(nil, network.KindEndOfPartition, nil)
		total += int64(len(eop))
		if err := w.Send(eop); err != nil {
			sent <- err
			return
		}
		sent <- w.Close()
	}()

	got, err := consume(t, g, n+1)
	if err != nil {
		t.Fatal(err)
	}
	if err := waitFor(t, sent, "the producer's Close"); err != nil {
		t.Fatalf("producer: %v", err)
	}
	for i := range n {
		if want := recordBuffer(i); string(got[i]) != string(want) {
			t.Fatalf("buffer %d = %q, want %q", i, got[i], want)
		}
	}
	if k, _, _, _ := readFirst(got[n]); k != network.KindEndOfPartition {
		t.Errorf("last buffer holds kind %d, want the end of partition", k)
	}
	if bytesOut.Load() != total || g.RemoteBytesIn.Load() != total {
		t.Errorf("bytes out %d, in %d; want %d each", bytesOut.Load(), g.RemoteBytesIn.Load(), total)
	}
}

func TestExchangeCloseWithoutSend(t *testing.T) {
	x := startExchange(t)
	key := channelKey(0, 0)
	g := network.NewInputGate(1)
	x.endpoints.Register(key, g, 0)
	w, err := network.OpenRemote(t.Context(), x.conn, key, new(atomic.Int64))
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("Close of an unused channel: %v", err)
	}
	if _, b, ok, err := g.Poll(); ok || err != nil {
		t.Errorf("Poll = %q %v %v; an empty channel delivers nothing", b, ok, err)
	}
}

func TestExchangeProducerBeforeConsumer(t *testing.T) {
	x := startExchange(t)
	key := channelKey(2, 1)
	w, err := network.OpenRemote(t.Context(), x.conn, key, new(atomic.Int64))
	if err != nil {
		t.Fatal(err)
	}
	sent := make(chan error, 1)
	go func() {
		for i := range 10 {
			if err := w.Send(recordBuffer(i)); err != nil {
				sent <- err
				return
			}
		}
		sent <- w.Close()
	}()
	// The server has the stream's first message before any consumer is
	// registered: its handler waits for the registration.
	waitFor(t, x.received, "the first message at the server")
	g := network.NewInputGate(3)
	x.endpoints.Register(key, g, 2)

	got, err := consume(t, g, 10)
	if err != nil {
		t.Fatal(err)
	}
	if err := waitFor(t, sent, "the producer's Close"); err != nil {
		t.Fatalf("producer: %v", err)
	}
	for i, b := range got {
		if want := recordBuffer(i); string(b) != string(want) {
			t.Errorf("buffer %d = %q, want %q", i, b, want)
		}
	}
}

func TestExchangeClosedGateFailsProducer(t *testing.T) {
	x := startExchange(t)
	key := channelKey(0, 1)
	g := network.NewInputGate(1)
	x.endpoints.Register(key, g, 0)
	w, err := network.OpenRemote(t.Context(), x.conn, key, new(atomic.Int64))
	if err != nil {
		t.Fatal(err)
	}
	// Fill the gate so the server's handler blocks pushing, then keep
	// sending until the transport's windows fill too and Send blocks.
	sent := make(chan error, 1)
	go func() {
		big := make([]byte, 16<<10)
		for {
			if err := w.Send(network.AppendElement(nil, network.KindRecord, big)); err != nil {
				sent <- err
				return
			}
		}
	}()
	if _, err := consume(t, g, 1); err != nil {
		t.Fatal(err)
	}
	g.Close() // the consumer ends
	err = waitFor(t, sent, "Send to fail after the consumer closed its gate")
	if !strings.Contains(err.Error(), network.ErrGateClosed.Error()) {
		t.Errorf("Send = %v, want the consumer's %q", err, network.ErrGateClosed)
	}
	if !strings.Contains(err.Error(), key.String()) {
		t.Errorf("Send error %q does not name channel %s", err, key)
	}
}

func TestExchangeAbortFailsConsumer(t *testing.T) {
	x := startExchange(t)
	key := channelKey(1, 1)
	g := network.NewInputGate(2)
	x.endpoints.Register(key, g, 1)
	w, err := network.OpenRemote(t.Context(), x.conn, key, new(atomic.Int64))
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Send(recordBuffer(0)); err != nil {
		t.Fatal(err)
	}
	if _, err := consume(t, g, 1); err != nil {
		t.Fatal(err)
	}
	w.Abort(errors.New("producer failed"))
	for {
		_, b, ok, err := g.Poll()
		if err != nil {
			if !strings.Contains(err.Error(), "input channel 1") || !strings.Contains(err.Error(), key.String()) {
				t.Errorf("Poll = %v; want it to name input channel 1 and %s", err, key)
			}
			return
		}
		if ok {
			t.Fatalf("Poll returned %q after the producer aborted", b)
		}
		waitFor(t, g.Available(), "the gate to fail after the producer aborted")
	}
}

func TestExchangeProducerContextEndsStream(t *testing.T) {
	x := startExchange(t)
	key := channelKey(3, 0)
	g := network.NewInputGate(1)
	x.endpoints.Register(key, g, 0)
	ctx, cancel := context.WithCancel(t.Context())
	w, err := network.OpenRemote(ctx, x.conn, key, new(atomic.Int64))
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Send(recordBuffer(0)); err != nil {
		t.Fatal(err)
	}
	if _, err := consume(t, g, 1); err != nil {
		t.Fatal(err)
	}
	cancel() // the producing task ends without closing its channel
	if _, err := consume(t, g, 1); err == nil {
		t.Fatal("the gate did not fail when the producer's stream was cancelled")
	}
}

func readFirst(b []byte) (network.Kind, []byte, bool, error) {
	r := network.NewReader(b)
	return r.Next()
}

// TestFullBufferFitsOneGRPCBuffer: the message carrying a full buffer fits
// the 32 KiB class of gRPC's buffer pool, which zeroes each buffer it hands
// out; one byte more and every message would take and zero a 1 MiB one.
func TestFullBufferFitsOneGRPCBuffer(t *testing.T) {
	msg := &weirv1.ExchangeRequest{Buffer: make([]byte, network.BufferSize)}
	if n := proto.Size(msg); n > 32<<10 {
		t.Fatalf("a full buffer's message is %d bytes, over 32 KiB", n)
	}
}

// BenchmarkRemoteExchange writes 16-byte records through an Output to a
// consumer across a real loopback gRPC stream, which reads and recycles
// every buffer. One op is one record.
func BenchmarkRemoteExchange(b *testing.B) {
	x := startExchange(b)
	key := channelKey(1, 0)
	g := network.NewInputGate(1)
	x.endpoints.Register(key, g, 0)
	var bytesOut atomic.Int64
	w, err := network.OpenRemote(b.Context(), x.conn, key, &bytesOut)
	if err != nil {
		b.Fatal(err)
	}
	o := network.NewOutput(weirv1.Partitioning_PARTITIONING_FORWARD, 128, []network.ChannelWriter{w}, manualClock(), 0)
	consumed := make(chan error, 1)
	go func() {
		for {
			_, buf, ok, err := g.Poll()
			if err != nil {
				consumed <- err
				return
			}
			if !ok {
				select {
				case <-g.Available():
				case <-time.After(watchdog):
					consumed <- errors.New("no buffer came")
					return
				}
				continue
			}
			for r := network.NewReader(buf); ; {
				k, _, more, err := r.Next()
				if err != nil || k == network.KindEndOfPartition {
					consumed <- err
					return
				}
				if !more {
					break
				}
			}
			network.Recycle(buf)
		}
	}()
	rec := make([]byte, 16)
	b.SetBytes(int64(len(rec)))
	for b.Loop() {
		if err := o.WriteRecord(rec, network.NoTimestamp, 0); err != nil {
			b.Fatal(err)
		}
	}
	if err := o.Finish(); err != nil {
		b.Fatal(err)
	}
	if err := <-consumed; err != nil {
		b.Fatal(err)
	}
}
