package taskmanager

import (
	"context"
	"crypto/tls"
	"net"

	"golang.org/x/sync/errgroup"

	"github.com/weirstream/weir/internal/rpc"
)

// Serve runs the taskmanager until ctx ends: its gRPC services (control and
// data exchange) on lis, registration and heartbeats with the jobmanager,
// the deployed tasks, and its HTTP endpoints (Handler) on
// Options.MetricsListener if set. On shutdown it stops taking RPCs, then
// cancels its tasks and waits for them.
func (tm *TaskManager) Serve(ctx context.Context, lis net.Listener, maxMessageSize int) error {
	srv := rpc.NewServer(maxMessageSize, tm.opts.Security.ServerOptions(true)...)
	tm.RegisterServices(srv)
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return rpc.Serve(ctx, srv, lis, ShutdownGrace) })
	g.Go(func() error { return tm.Run(ctx) })
	if l := tm.opts.MetricsListener; l != nil {
		sec := tm.opts.Security
		if c := sec.HTTPTLS(); c != nil {
			l = tls.NewListener(l, c)
		}
		g.Go(func() error { return serveHTTP(ctx, l, sec.HTTP(tm.Handler())) })
	}
	return g.Wait()
}
