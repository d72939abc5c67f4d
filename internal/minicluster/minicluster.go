// Package minicluster runs a whole Weir cluster in one process: one
// jobmanager and N taskmanagers, each with its own gRPC server on loopback,
// talking to each other exactly as separate processes do. `weir local`
// and tests use it.
package minicluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sync/errgroup"

	weirv1 "github.com/weirstream/weir/api/proto/weir/v1"
	"github.com/weirstream/weir/internal/jobmanager"
	"github.com/weirstream/weir/internal/rpc"
	"github.com/weirstream/weir/internal/taskmanager"
)

// Options configure a mini cluster.
type Options struct {
	TaskManagers int
	Slots        int // per taskmanager
	// RPCAddress and HTTPAddress are the jobmanager's; port 0 picks a free one.
	RPCAddress  string
	HTTPAddress string
	// DataDir holds the taskmanagers' local state; a temporary directory if empty.
	DataDir string

	HeartbeatInterval  time.Duration
	HeartbeatTimeout   time.Duration
	SlotRequestTimeout time.Duration
	BufferTimeout      time.Duration
	// Config is the cluster configuration jobs inherit.
	Config map[string]string
	Logger *slog.Logger
}

// Cluster is a running mini cluster.
type Cluster struct {
	rpcAddr, httpAddr string
	cancel            context.CancelFunc
	done              chan struct{}
	err               error
	tmpDir            string
}

// Start starts a cluster; it runs until ctx ends or Close is called.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	if opts.TaskManagers < 1 || opts.Slots < 1 {
		return nil, fmt.Errorf("minicluster: need at least one taskmanager with one slot, got %d with %d", opts.TaskManagers, opts.Slots)
	}
	defaults(&opts)
	c := &Cluster{done: make(chan struct{})}
	if opts.DataDir == "" {
		dir, err := os.MkdirTemp("", "weir-local-")
		if err != nil {
			return nil, err
		}
		opts.DataDir, c.tmpDir = dir, dir
	}
	dataDir, err := filepath.Abs(opts.DataDir)
	if err != nil {
		return nil, err
	}
	opts.DataDir = dataDir
	var lis []net.Listener
	closeAll := func() {
		for _, l := range lis {
			l.Close()
		}
	}
	listen := func(addr string) (net.Listener, error) {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			closeAll()
			return nil, fmt.Errorf("minicluster: listening on %s: %w", addr, err)
		}
		lis = append(lis, l)
		return l, nil
	}
	rpcLis, err := listen(opts.RPCAddress)
	if err != nil {
		return nil, err
	}
	httpLis, err := listen(opts.HTTPAddress)
	if err != nil {
		return nil, err
	}
	c.rpcAddr, c.httpAddr = rpcLis.Addr().String(), httpLis.Addr().String()
	jm := jobmanager.New(jobmanager.Options{
		HeartbeatInterval: opts.HeartbeatInterval, HeartbeatTimeout: opts.HeartbeatTimeout,
		SlotRequestTimeout: opts.SlotRequestTimeout, Config: opts.Config,
		DialOptions: rpc.DialOptions(0), Logger: opts.Logger.With("process", "jobmanager"),
		DefaultCheckpointsDir: "file://" + filepath.Join(opts.DataDir, "checkpoints"),
	})
	var tms []*taskmanager.TaskManager
	var tmLis []net.Listener
	for i := range opts.TaskManagers {
		l, err := listen("127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		id := fmt.Sprintf("taskmanager-%d", i)
		tm, err := taskmanager.New(taskmanager.Options{
			ID: id, Address: l.Addr().String(), JobManager: c.rpcAddr, Slots: opts.Slots,
			DataDir: filepath.Join(opts.DataDir, id), HeartbeatInterval: opts.HeartbeatInterval,
			HeartbeatTimeout: opts.HeartbeatTimeout, BufferTimeout: opts.BufferTimeout,
			DialOptions: rpc.DialOptions(0), Logger: opts.Logger.With("process", id),
		})
		if err != nil {
			closeAll()
			return nil, err
		}
		tms, tmLis = append(tms, tm), append(tmLis, l)
	}

	ctx, c.cancel = context.WithCancel(ctx)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return jm.Serve(gctx, rpcLis, httpLis, 0) })
	for i, tm := range tms {
		g.Go(func() error { return tm.Serve(gctx, tmLis[i], 0) })
	}
	go func() {
		c.err = g.Wait()
		c.cancel()
		if c.tmpDir != "" {
			c.err = errors.Join(c.err, os.RemoveAll(c.tmpDir))
		}
		close(c.done)
	}()
	if err := awaitSlots(ctx, jm, opts.TaskManagers*opts.Slots); err != nil {
		return nil, errors.Join(err, c.Close())
	}
	return c, nil
}

// awaitSlots waits until every taskmanager has registered its slots, so a
// job submitted right after Start finds them.
func awaitSlots(ctx context.Context, jm *jobmanager.JobManager, n int) error {
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	deadline := time.After(30 * time.Second)
	for {
		o, err := jm.GetClusterOverview(ctx, &weirv1.GetClusterOverviewRequest{})
		if err == nil && int(o.GetSlotsTotal()) >= n {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline:
			return fmt.Errorf("minicluster: taskmanagers did not register %d slots within 30s", n)
		case <-t.C:
		}
	}
}

func defaults(o *Options) {
	if o.RPCAddress == "" {
		o.RPCAddress = "127.0.0.1:0"
	}
	if o.HTTPAddress == "" {
		o.HTTPAddress = "127.0.0.1:0"
	}
	if o.HeartbeatInterval == 0 {
		o.HeartbeatInterval = time.Second
	}
	if o.HeartbeatTimeout == 0 {
		o.HeartbeatTimeout = 10 * time.Second
	}
	if o.SlotRequestTimeout == 0 {
		o.SlotRequestTimeout = 5 * time.Minute
	}
	if o.BufferTimeout == 0 {
		o.BufferTimeout = 100 * time.Millisecond
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

// RPCAddress is the jobmanager's gRPC address.
func (c *Cluster) RPCAddress() string { return c.rpcAddr }

// HTTPAddress is the jobmanager's HTTP address.
func (c *Cluster) HTTPAddress() string { return c.httpAddr }

// Wait blocks until the cluster has stopped and returns why.
func (c *Cluster) Wait() error {
	<-c.done
	return c.err
}

// Close stops the cluster and waits for it.
func (c *Cluster) Close() error {
	c.cancel()
	return c.Wait()
}
