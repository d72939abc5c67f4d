// Package rpc holds the gRPC settings every Weir process shares: message
// size bounds, flow-control windows, reflection, and graceful shutdown.
package rpc

import (
	"context"
	"errors"
	"net"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/reflection"
)

// DefaultMaxMessageSize bounds every gRPC message (rpc.max-message-size).
const DefaultMaxMessageSize = 64 << 20

// Fixed HTTP/2 flow-control windows. Setting them turns off gRPC's dynamic
// window growth, so the bytes in flight on a data-exchange stream, and with
// them a backpressured consumer's memory, stay bounded.
const (
	streamWindow = 256 << 10
	connWindow   = 1 << 20
)

// ServerOptions returns the options of every Weir gRPC server, then extra
// (transport credentials and interceptors of internal/security).
func ServerOptions(maxMessageSize int, extra ...grpc.ServerOption) []grpc.ServerOption {
	if maxMessageSize <= 0 {
		maxMessageSize = DefaultMaxMessageSize
	}
	return append([]grpc.ServerOption{
		grpc.MaxRecvMsgSize(maxMessageSize),
		grpc.MaxSendMsgSize(maxMessageSize),
		grpc.InitialWindowSize(streamWindow),
		grpc.InitialConnWindowSize(connWindow),
	}, extra...)
}

// DialOptions returns the options of every Weir gRPC client connection:
// plaintext unless extra has transport credentials (internal/security),
// which replace it.
func DialOptions(maxMessageSize int, extra ...grpc.DialOption) []grpc.DialOption {
	if maxMessageSize <= 0 {
		maxMessageSize = DefaultMaxMessageSize
	}
	return append([]grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxMessageSize), grpc.MaxCallSendMsgSize(maxMessageSize)),
		grpc.WithInitialWindowSize(streamWindow),
		grpc.WithInitialConnWindowSize(connWindow),
	}, extra...)
}

// NewServer returns a gRPC server with reflection on, so stock clients such
// as grpcurl can list and call its services; extra are added to its
// options.
func NewServer(maxMessageSize int, extra ...grpc.ServerOption) *grpc.Server {
	s := grpc.NewServer(ServerOptions(maxMessageSize, extra...)...)
	reflection.Register(s)
	return s
}

// Serve serves s on lis until ctx ends, then stops gracefully: new RPCs are
// refused at once, in-flight ones get grace to finish before being cut.
func Serve(ctx context.Context, s *grpc.Server, lis net.Listener, grace time.Duration) error {
	errc := make(chan error, 1)
	go func() { errc <- s.Serve(lis) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	done := make(chan struct{})
	go func() { s.GracefulStop(); close(done) }()
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		s.Stop()
		<-done
	}
	if err := <-errc; err != nil && !errors.Is(err, grpc.ErrServerStopped) {
		return err
	}
	return nil
}
