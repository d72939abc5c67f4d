package network

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"

	weirv1 "github.com/weirstream/weir/api/proto/weir/v1"
	"github.com/weirstream/weir/internal/rpc"
)

// ConsumerWait bounds how long a producer's stream waits for its consumer
// subtask to be deployed.
const ConsumerWait = 30 * time.Second

// Server is the consumer side of DataExchangeService: it delivers each
// incoming stream's buffers to the input gate its channel is registered to.
type Server struct {
	weirv1.UnimplementedDataExchangeServiceServer
	endpoints *Endpoints
}

// NewServer returns a server delivering to endpoints.
func NewServer(endpoints *Endpoints) *Server { return &Server{endpoints: endpoints} }

// Exchange receives one channel's buffers.
func (s *Server) Exchange(stream weirv1.DataExchangeService_ExchangeServer) error {
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	if first.GetChannel() == nil {
		return errors.New("network: the first message of an exchange stream names no channel")
	}
	key := KeyOf(first.GetChannel())
	ctx, cancel := context.WithTimeout(stream.Context(), ConsumerWait)
	gate, ch, err := s.endpoints.Lookup(ctx, key)
	cancel()
	if err != nil {
		return err
	}
	msg := first
	for {
		if buf := msg.GetBuffer(); len(buf) > 0 {
			gate.RemoteBytesIn.Add(int64(len(buf)))
			if err := gate.Push(stream.Context(), ch, buf); err != nil {
				return err
			}
		}
		msg, err = stream.Recv()
		if err == io.EOF {
			return stream.SendAndClose(&weirv1.ExchangeResponse{})
		}
		if err != nil {
			gate.Fail(ch, fmt.Errorf("stream from %s broke: %w", key, err))
			return err
		}
	}
}

// ChannelWriter is the producer's end of one channel.
type ChannelWriter interface {
	// Send delivers buf, blocking while the consumer is backpressured. The
	// channel takes ownership of buf.
	Send(buf []byte) error
	// Close ends the channel after its last Send (which carried the end of
	// partition) and waits until the consumer has everything.
	Close() error
	// Abort ends the channel after a failure; the consumer fails too.
	Abort(err error)
}

// Dialer keeps one client connection per taskmanager address.
type Dialer struct {
	opts []grpc.DialOption
	mu   struct {
		sync.Mutex
		conns map[string]*grpc.ClientConn
	}
}

// NewDialer returns a dialer; opts are added to every connection, after
// Weir's defaults (rpc.DialOptions: plaintext, explicit message size
// bounds, fixed windows), which they override.
func NewDialer(opts ...grpc.DialOption) *Dialer {
	d := &Dialer{opts: append(rpc.DialOptions(0), opts...)}
	d.mu.conns = map[string]*grpc.ClientConn{}
	return d
}

// Conn returns the connection to addr.
func (d *Dialer) Conn(addr string) (*grpc.ClientConn, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if c, ok := d.mu.conns[addr]; ok {
		return c, nil
	}
	c, err := grpc.NewClient(addr, d.opts...)
	if err != nil {
		return nil, fmt.Errorf("network: dialing %s: %w", addr, err)
	}
	d.mu.conns[addr] = c
	return c, nil
}

// Close closes every connection.
func (d *Dialer) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	var errs []error
	for a, c := range d.mu.conns {
		errs = append(errs, c.Close())
		delete(d.mu.conns, a)
	}
	return errors.Join(errs...)
}

// remoteChannel sends a channel's buffers over a gRPC stream.
type remoteChannel struct {
	stream   weirv1.DataExchangeService_ExchangeClient
	cancel   context.CancelCauseFunc
	key      ChannelKey
	first    bool
	bytesOut *atomic.Int64
}

// OpenRemote opens the stream for channel key to the taskmanager at conn.
// The stream lives until Close or Abort, or until ctx ends.
func OpenRemote(ctx context.Context, conn grpc.ClientConnInterface, key ChannelKey, bytesOut *atomic.Int64) (ChannelWriter, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	stream, err := weirv1.NewDataExchangeServiceClient(conn).Exchange(ctx)
	if err != nil {
		cancel(err)
		return nil, fmt.Errorf("network: opening channel %s: %w", key, err)
	}
	return &remoteChannel{stream: stream, cancel: cancel, key: key, first: true, bytesOut: bytesOut}, nil
}

func (c *remoteChannel) Send(buf []byte) error {
	msg := &weirv1.ExchangeRequest{Buffer: buf}
	if c.first {
		msg.Channel = c.key.Proto()
		c.first = false
	}
	if err := c.stream.Send(msg); err != nil {
		// The real cause comes from RecvMsg; Send only reports io.EOF.
		if _, rerr := c.stream.CloseAndRecv(); rerr != nil {
			err = rerr
		}
		return fmt.Errorf("network: sending on channel %s: %w", c.key, err)
	}
	c.bytesOut.Add(int64(len(buf)))
	putBuffer(buf) // gRPC has serialised it
	return nil
}

func (c *remoteChannel) Close() error {
	defer c.cancel(nil)
	if c.first { // nothing was ever sent: announce the channel so the consumer sees its end
		if err := c.Send(nil); err != nil {
			return err
		}
	}
	if _, err := c.stream.CloseAndRecv(); err != nil {
		return fmt.Errorf("network: closing channel %s: %w", c.key, err)
	}
	return nil
}

func (c *remoteChannel) Abort(err error) { c.cancel(err) }

// localChannel delivers a channel's buffers to a gate in this process.
type localChannel struct {
	// ctx is the producing task's lifetime: a blocked Send returns when the
	// task is cancelled. Held like a gRPC stream holds its context.
	ctx  context.Context
	gate *InputGate
	ch   int
}

// OpenLocal returns the channel for key to a consumer in this process,
// waiting for the consumer to be registered.
func OpenLocal(ctx context.Context, endpoints *Endpoints, key ChannelKey) (ChannelWriter, error) {
	wctx, cancel := context.WithTimeout(ctx, ConsumerWait)
	defer cancel()
	gate, ch, err := endpoints.Lookup(wctx, key)
	if err != nil {
		return nil, err
	}
	return &localChannel{ctx: ctx, gate: gate, ch: ch}, nil
}

func (c *localChannel) Send(buf []byte) error { return c.gate.Push(c.ctx, c.ch, buf) }
func (c *localChannel) Close() error          { return nil }
func (c *localChannel) Abort(err error)       { c.gate.Fail(c.ch, err) }

var bufferPool = sync.Pool{New: func() any { b := make([]byte, 0, BufferSize+BufferSize/4); return &b }}

func getBuffer() []byte { return (*bufferPool.Get().(*[]byte))[:0] }

// putBuffer recycles a buffer that nothing references any more.
func putBuffer(b []byte) {
	if cap(b) < BufferSize || cap(b) > 2*BufferSize {
		return
	}
	bufferPool.Put(&b)
}

// Recycle returns a buffer the consumer has finished with to the pool.
func Recycle(b []byte) { putBuffer(b) }
