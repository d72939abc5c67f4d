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
	"sync"
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
	// Limits bound submissions; nil for jobmanager.DefaultLimits without
	// the submission rate limit (tests submit in quick succession; `weir
	// local` passes the configured limits, rate included).
	Limits *jobmanager.Limits
	// MaxMessageSize bounds every gRPC message (rpc.max-message-size); 0
	// for rpc.DefaultMaxMessageSize.
	MaxMessageSize int
	Logger         *slog.Logger
	// TaskManagerMetrics gives every taskmanager an HTTP listener on
	// loopback for /metrics, /healthz and /readyz (MetricsAddress).
	TaskManagerMetrics bool
}

// Cluster is a running mini cluster.
type Cluster struct {
	rpcAddr, httpAddr string
	opts              Options
	jm                *jobmanager.JobManager
	g                 *errgroup.Group
	gctx              context.Context // the processes' lifetime
	cancel            context.CancelFunc
	done              chan struct{}
	err               error
	tmpDir            string

	mu struct {
		sync.Mutex
		tms     []context.CancelFunc // stops taskmanager i
		served  []chan struct{}      // closed when taskmanager i has stopped
		metrics []string             // taskmanager i's metrics address, if any
	}
}

// AddTaskManager starts one more taskmanager and returns its index.
func (c *Cluster) AddTaskManager() (int, error) {
	c.mu.Lock()
	i := len(c.mu.tms)
	c.mu.tms = append(c.mu.tms, func() {})
	c.mu.served = append(c.mu.served, nil)
	c.mu.metrics = append(c.mu.metrics, "")
	c.mu.Unlock()
	return i, c.startTaskManager(i)
}

// RestartTaskManager stops taskmanager i, waits until it has stopped, and
// starts it again with the same id and data directory: the same
// taskmanager coming back, finding the local state it kept (local
// recovery).
func (c *Cluster) RestartTaskManager(i int) error {
	c.mu.Lock()
	if i < 0 || i >= len(c.mu.tms) {
		c.mu.Unlock()
		return fmt.Errorf("minicluster: no taskmanager %d", i)
	}
	cancel, served := c.mu.tms[i], c.mu.served[i]
	c.mu.Unlock()
	cancel()
	if served != nil {
		select {
		case <-served:
		case <-c.gctx.Done():
			return c.gctx.Err()
		}
	}
	return c.startTaskManager(i)
}

// startTaskManager starts taskmanager i and waits until it has registered.
func (c *Cluster) startTaskManager(i int) error {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("minicluster: %w", err)
	}
	id := fmt.Sprintf("taskmanager-%d", i)
	var ml net.Listener
	metricsAddr := ""
	if c.opts.TaskManagerMetrics {
		if ml, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			l.Close()
			return fmt.Errorf("minicluster: %w", err)
		}
		metricsAddr = ml.Addr().String()
	}
	tm, err := taskmanager.New(taskmanager.Options{
		ID: id, Address: l.Addr().String(), JobManager: c.rpcAddr, Slots: c.opts.Slots,
		DataDir: filepath.Join(c.opts.DataDir, id), HeartbeatInterval: c.opts.HeartbeatInterval,
		HeartbeatTimeout: c.opts.HeartbeatTimeout, BufferTimeout: c.opts.BufferTimeout,
		DialOptions: rpc.DialOptions(c.opts.MaxMessageSize), Logger: c.opts.Logger.With("process", id), MetricsListener: ml,
	})
	if err != nil {
		l.Close()
		if ml != nil {
			ml.Close()
		}
		return err
	}
	ctx, cancel := context.WithCancel(c.gctx)
	served := make(chan struct{})
	c.mu.Lock()
	c.mu.tms[i], c.mu.served[i], c.mu.metrics[i] = cancel, served, metricsAddr
	c.mu.Unlock()
	c.g.Go(func() error {
		defer close(served)
		return tm.Serve(ctx, l, c.opts.MaxMessageSize)
	})
	return awaitTaskManager(c.gctx, c.jm, id)
}

// StopTaskManager stops taskmanager i: its tasks are cancelled and it
// leaves the cluster, as when its process ends.
func (c *Cluster) StopTaskManager(i int) {
	c.mu.Lock()
	cancel := c.mu.tms[i]
	c.mu.Unlock()
	cancel()
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
	if opts.Limits == nil {
		l := jobmanager.DefaultLimits()
		l.SubmissionRate = 0
		opts.Limits = &l
	}
	jm := jobmanager.New(jobmanager.Options{
		HeartbeatInterval: opts.HeartbeatInterval, HeartbeatTimeout: opts.HeartbeatTimeout,
		SlotRequestTimeout: opts.SlotRequestTimeout, Config: opts.Config,
		DialOptions: rpc.DialOptions(opts.MaxMessageSize), Logger: opts.Logger.With("process", "jobmanager"),
		DefaultCheckpointsDir: "file://" + filepath.Join(opts.DataDir, "checkpoints"), Limits: opts.Limits,
	})
	ctx, c.cancel = context.WithCancel(ctx)
	c.g, c.gctx = errgroup.WithContext(ctx)
	c.opts, c.jm = opts, jm
	c.g.Go(func() error { return jm.Serve(c.gctx, rpcLis, httpLis, opts.MaxMessageSize) })
	go func() {
		c.err = c.g.Wait()
		c.cancel()
		if c.tmpDir != "" {
			c.err = errors.Join(c.err, os.RemoveAll(c.tmpDir))
		}
		close(c.done)
	}()
	for range opts.TaskManagers {
		if _, err := c.AddTaskManager(); err != nil {
			return nil, errors.Join(err, c.Close())
		}
	}
	return c, nil
}

// awaitTaskManager waits until taskmanager id has registered, so a job
// submitted afterwards finds its slots.
func awaitTaskManager(ctx context.Context, jm *jobmanager.JobManager, id string) error {
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	deadline := time.After(30 * time.Second)
	for {
		o, err := jm.GetClusterOverview(ctx, &weirv1.GetClusterOverviewRequest{})
		if err == nil {
			for _, tm := range o.GetTaskManagers() {
				if tm.GetTaskManagerId() == id {
					return nil
				}
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline:
			return fmt.Errorf("minicluster: %s did not register within 30s", id)
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

// MetricsAddress is the HTTP address of taskmanager i's /metrics; empty
// unless Options.TaskManagerMetrics is set.
func (c *Cluster) MetricsAddress(i int) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mu.metrics[i]
}

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
