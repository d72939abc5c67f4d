package jobmanager

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/weirstream/weir/internal/rpc"
)

// ShutdownGrace bounds each phase of a graceful shutdown.
const ShutdownGrace = 5 * time.Second

// Serve runs the jobmanager until ctx ends: its gRPC services on rpcLis
// (with reflection) and its HTTP API on httpLis. Shutdown runs in reverse:
// stop accepting RPCs and HTTP requests, then stop the job masters.
func (jm *JobManager) Serve(ctx context.Context, rpcLis, httpLis net.Listener, maxMessageSize int) error {
	sec := jm.opts.Security
	srv := rpc.NewServer(maxMessageSize, sec.ServerOptions(false)...)
	jm.RegisterServices(srv)
	hs := &http.Server{Handler: sec.HTTP(jm.Handler()), ReadHeaderTimeout: 10 * time.Second, TLSConfig: sec.HTTPTLS()}
	if hs.TLSConfig != nil {
		httpLis = tls.NewListener(httpLis, hs.TLSConfig)
	}

	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return jm.Run(ctx) })
	g.Go(func() error { return rpc.Serve(ctx, srv, rpcLis, ShutdownGrace) })
	g.Go(func() error {
		errc := make(chan error, 1)
		go func() { errc <- hs.Serve(httpLis) }()
		select {
		case err := <-errc:
			return err
		case <-ctx.Done():
		}
		sctx, cancel := context.WithTimeout(context.Background(), ShutdownGrace)
		defer cancel()
		err := hs.Shutdown(sctx)
		if serr := <-errc; !errors.Is(serr, http.ErrServerClosed) {
			err = errors.Join(err, serr)
		}
		return err
	})
	return g.Wait()
}
