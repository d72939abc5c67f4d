// Package taskmanager is the worker process: it registers its slots with the
// jobmanager, heartbeats, runs the subtasks deployed to it, and serves the
// data exchange to its peers. The state of its tasks is working state: it
// lives and dies with this process.
package taskmanager

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	weirv1 "github.com/weirstream/weir/api/proto/weir/v1"
	"github.com/weirstream/weir/internal/checkpoint"
	"github.com/weirstream/weir/internal/checkpoint/objstore"
	"github.com/weirstream/weir/internal/clock"
	"github.com/weirstream/weir/internal/config"
	"github.com/weirstream/weir/internal/keygroup"
	"github.com/weirstream/weir/internal/metrics"
	"github.com/weirstream/weir/internal/network"
	"github.com/weirstream/weir/internal/plan"
	"github.com/weirstream/weir/internal/security"
	"github.com/weirstream/weir/internal/statebackend"
	"github.com/weirstream/weir/internal/statebackend/heap"
	"github.com/weirstream/weir/internal/statebackend/pebble"
	"github.com/weirstream/weir/internal/task"
	"github.com/weirstream/weir/stream"
)

// ShutdownGrace bounds how long in-flight RPCs get to finish on shutdown.
const ShutdownGrace = 5 * time.Second

// Options configure a taskmanager.
type Options struct {
	// ID names the taskmanager; unique per process lifetime.
	ID string
	// Address is the advertised rpc address peers and the jobmanager dial.
	Address string
	// JobManager is the jobmanager's rpc address.
	JobManager string
	Slots      int
	DataDir    string
	// PebbleDir holds the working state of tasks on the pebble backend
	// (state.backend.pebble.localdir); DataDir/pebble if empty. It is
	// cleared at start: working state does not outlive its process.
	PebbleDir string

	HeartbeatInterval time.Duration
	HeartbeatTimeout  time.Duration
	BufferTimeout     time.Duration

	// Stores opens checkpoint storage, with this process's credentials.
	Stores *checkpoint.Stores
	// DialOptions are added to every outgoing connection.
	DialOptions []grpc.DialOption
	// Security is TLS and access control of the gRPC server; nil for none.
	Security *security.Process
	Clock    clock.Clock
	Logger   *slog.Logger
	// MetricsListener, if set, is where Serve serves /metrics, /healthz
	// and /readyz (metrics.address).
	MetricsListener net.Listener
}

// TaskManager runs deployed subtasks.
type TaskManager struct {
	weirv1.UnimplementedTaskManagerServiceServer

	opts      Options
	endpoints *network.Endpoints
	dialer    *network.Dialer
	exchange  *network.Server
	rm        weirv1.ResourceManagerServiceClient
	stores    *checkpoint.Stores
	local     localState
	wg        sync.WaitGroup // task goroutines and snapshot uploads
	stopping  chan struct{}  // closed when Run returns: uploads give up
	registry  *prometheus.Registry
	// registered is true while the jobmanager knows this taskmanager.
	registered atomic.Bool

	mu struct {
		sync.Mutex
		tasks   map[execKey]*running
		stopped bool
	}
}

type execKey struct {
	job     string
	vertex  int32
	subtask int32
}

type running struct {
	id     *weirv1.ExecutionID
	name   string // the task's
	task   *task.Task
	cancel context.CancelCauseFunc
	stats  *subtaskStats
}

var _ weirv1.TaskManagerServiceServer = (*TaskManager)(nil)

// New returns a taskmanager. It starts nothing; Run does.
func New(opts Options) (*TaskManager, error) {
	if opts.Slots < 1 {
		return nil, fmt.Errorf("taskmanager: slots must be at least 1, got %d", opts.Slots)
	}
	if opts.Clock == nil {
		opts.Clock = clock.Real{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	opts.Logger = opts.Logger.With("taskmanager", opts.ID)
	d := network.NewDialer(opts.DialOptions...)
	conn, err := d.Conn(opts.JobManager)
	if err != nil {
		return nil, err
	}
	if opts.Stores == nil {
		opts.Stores = checkpoint.NewStores(objstore.Options{}, opts.Clock)
	}
	if opts.PebbleDir == "" {
		opts.PebbleDir = filepath.Join(opts.DataDir, "pebble")
	}
	// Working state does not outlive its process.
	for _, dir := range []string{opts.PebbleDir, filepath.Join(opts.DataDir, "heap")} {
		if err := os.RemoveAll(dir); err != nil {
			return nil, fmt.Errorf("taskmanager: clearing %s: %w", dir, err)
		}
	}
	tm := &TaskManager{opts: opts, endpoints: network.NewEndpoints(), dialer: d,
		rm: weirv1.NewResourceManagerServiceClient(conn), stores: opts.Stores, stopping: make(chan struct{}),
		local: localState{root: filepath.Join(opts.DataDir, "local-state")}}
	tm.exchange = network.NewServer(tm.endpoints)
	tm.mu.tasks = map[execKey]*running{}
	tm.registry = metrics.NewRegistry()
	tm.registry.MustRegister(metrics.TaskManagerCollector(opts.Slots, tm.subtasks))
	return tm, nil
}

// RegisterServices registers the taskmanager's gRPC services on s.
func (tm *TaskManager) RegisterServices(s *grpc.Server) {
	weirv1.RegisterTaskManagerServiceServer(s, tm)
	weirv1.RegisterDataExchangeServiceServer(s, tm.exchange)
}

// Run registers with the jobmanager and heartbeats until ctx ends; then it
// cancels every task and waits for them.
func (tm *TaskManager) Run(ctx context.Context) error {
	defer func() {
		tm.cancelAll(errors.New("taskmanager shutting down"))
		tm.mu.Lock()
		tm.mu.stopped = true
		tm.mu.Unlock()
		close(tm.stopping)
		tm.wg.Wait()
		tm.dialer.Close()
		tm.stores.Close()
	}()
	for {
		if err := tm.register(ctx); err != nil {
			return nil // ctx ended
		}
		tm.registered.Store(true)
		tm.heartbeat(ctx)
		tm.registered.Store(false)
		if ctx.Err() != nil {
			return nil
		}
		// The jobmanager lost us, or we lost it: our tasks are orphans.
		tm.cancelAll(errors.New("lost contact with the jobmanager"))
	}
}

// register retries registration with backoff until it succeeds or ctx ends.
func (tm *TaskManager) register(ctx context.Context) error {
	backoff := 100 * time.Millisecond
	for {
		_, err := tm.rm.RegisterTaskManager(ctx, &weirv1.RegisterTaskManagerRequest{
			TaskManagerId: tm.opts.ID, RpcAddress: tm.opts.Address, Slots: int32(tm.opts.Slots)})
		if err == nil {
			tm.opts.Logger.Info("registered with the jobmanager", "jobmanager", tm.opts.JobManager, "slots", tm.opts.Slots)
			return nil
		}
		tm.opts.Logger.Warn("registration failed; retrying", "jobmanager", tm.opts.JobManager, "err", err, "backoff", backoff)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tm.opts.Clock.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// heartbeat reports to the jobmanager every interval. It returns when ctx
// ends, when the jobmanager no longer knows this taskmanager, or when no
// heartbeat got through for the heartbeat timeout.
func (tm *TaskManager) heartbeat(ctx context.Context) {
	t := tm.opts.Clock.NewTicker(tm.opts.HeartbeatInterval)
	defer t.Stop()
	lastOK := tm.opts.Clock.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C():
		}
		hctx, cancel := context.WithTimeout(ctx, tm.opts.HeartbeatInterval)
		resp, err := tm.rm.Heartbeat(hctx, &weirv1.HeartbeatRequest{TaskManagerId: tm.opts.ID, Tasks: tm.reports()})
		cancel()
		now := tm.opts.Clock.Now()
		switch {
		case err == nil && resp.GetUnknownTaskManager():
			tm.opts.Logger.Warn("the jobmanager does not know this taskmanager; registering again")
			return
		case err == nil:
			lastOK = now
		case now.Sub(lastOK) > tm.opts.HeartbeatTimeout:
			tm.opts.Logger.Error("no heartbeat reached the jobmanager within the heartbeat timeout", "timeout", tm.opts.HeartbeatTimeout, "err", err)
			return
		}
	}
}

func (tm *TaskManager) reports() []*weirv1.TaskReport {
	tm.mu.Lock()
	defer tm.mu.Unlock()
	out := make([]*weirv1.TaskReport, 0, len(tm.mu.tasks))
	for _, r := range tm.mu.tasks {
		out = append(out, &weirv1.TaskReport{Execution: r.id, Metrics: r.task.Metrics()})
	}
	return out
}

func (tm *TaskManager) cancelAll(cause error) {
	tm.mu.Lock()
	defer tm.mu.Unlock()
	for _, r := range tm.mu.tasks {
		r.cancel(cause)
	}
}

// DeployTask starts a subtask.
func (tm *TaskManager) DeployTask(ctx context.Context, req *weirv1.DeployTaskRequest) (*weirv1.DeployTaskResponse, error) {
	id := req.GetExecution()
	p, err := plan.Build(req.GetGraph())
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "deploy: %v", err)
	}
	v := p.Vertex(id.GetVertexId())
	if v == nil || id.GetSubtaskIndex() < 0 || int(id.GetSubtaskIndex()) >= v.Parallelism {
		return nil, status.Errorf(codes.InvalidArgument, "deploy: no subtask %d of vertex %d", id.GetSubtaskIndex(), id.GetVertexId())
	}
	locs := map[[2]int32]task.Location{}
	for _, l := range req.GetLocations() {
		locs[[2]int32{l.GetVertexId(), l.GetSubtaskIndex()}] = task.Location{TaskManagerID: l.GetTaskManagerId(), Address: l.GetRpcAddress()}
	}
	local, err := localRecoveryOf(req.GetGraph())
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "deploy: %v", err)
	}
	cfg, err := config.Default().WithJob(req.GetGraph().GetConfig())
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "deploy: %v", err)
	}
	backendName, err := cfg.Get(config.StateBackend)
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "deploy: %v", err)
	}
	stats := newSubtaskStats(backendName)
	log := tm.opts.Logger.With("job", id.GetJobId(), "task", v.Name, "subtask", id.GetSubtaskIndex(), "attempt", id.GetAttempt())
	cp, err := checkpointingOf(req.GetGraph(), &checkpointer{tm: tm, id: id, local: local, stats: stats, log: log})
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "deploy: %v", err)
	}
	nr := &nativeRestore{dir: tm.pebbleDir(id)}
	newBackend, err := tm.backendOf(req.GetGraph(), id, stats, nr)
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "deploy: %v", err)
	}
	t := task.New(task.Config{
		Checkpointing: cp,
		NewBackend:    newBackend,
		LoadRestore:   tm.loadRestore(req.GetRestore(), id, v.Parallelism, int(req.GetGraph().GetMaxParallelism()), local, nr),
		JobID:         id.GetJobId(), Attempt: id.GetAttempt(), Graph: req.GetGraph(), Plan: p, Vertex: v,
		Subtask: int(id.GetSubtaskIndex()),
		Locate: func(vertex int32, subtask int) (task.Location, error) {
			l, ok := locs[[2]int32{vertex, int32(subtask)}]
			if !ok {
				return task.Location{}, fmt.Errorf("no location for subtask %d of vertex %d", subtask, vertex)
			}
			return l, nil
		},
		TaskManagerID: tm.opts.ID, Endpoints: tm.endpoints, Dialer: tm.dialer,
		Clock: tm.opts.Clock, BufferTimeout: tm.opts.BufferTimeout,
		Logger: log,
	})
	key := execKey{id.GetJobId(), id.GetVertexId(), id.GetSubtaskIndex()}
	tctx, cancel := context.WithCancelCause(context.Background())
	tm.mu.Lock()
	if tm.mu.stopped {
		tm.mu.Unlock()
		cancel(nil)
		return nil, status.Error(codes.Unavailable, "taskmanager is shutting down")
	}
	if old, ok := tm.mu.tasks[key]; ok {
		tm.mu.Unlock()
		cancel(nil)
		return nil, status.Errorf(codes.AlreadyExists, "subtask %d of vertex %d of job %s already runs (attempt %d)",
			id.GetSubtaskIndex(), id.GetVertexId(), id.GetJobId(), old.id.GetAttempt())
	}
	tm.mu.tasks[key] = &running{id: id, name: v.Name, task: t, cancel: cancel, stats: stats}
	tm.wg.Add(1)
	tm.mu.Unlock()

	go func() {
		defer tm.wg.Done()
		defer cancel(nil)
		tm.report(id, weirv1.ExecutionState_EXECUTION_STATE_RUNNING, nil, t)
		err := t.Run(tctx)
		tm.mu.Lock()
		delete(tm.mu.tasks, key)
		tm.mu.Unlock()
		state := weirv1.ExecutionState_EXECUTION_STATE_FINISHED
		switch {
		case errors.Is(err, task.ErrCanceled):
			state, err = weirv1.ExecutionState_EXECUTION_STATE_CANCELED, nil
		case err != nil:
			state = weirv1.ExecutionState_EXECUTION_STATE_FAILED
			tm.opts.Logger.Error("task failed", "job", id.GetJobId(), "task", v.Name, "subtask", id.GetSubtaskIndex(), "err", err)
		}
		tm.report(id, state, err, t)
	}()
	return &weirv1.DeployTaskResponse{}, nil
}

// report tells the jobmanager about a task's state, retrying briefly: a
// report that cannot be delivered is covered by heartbeats, whose absence
// of the task tells the jobmanager it is gone.
func (tm *TaskManager) report(id *weirv1.ExecutionID, st weirv1.ExecutionState, err error, t *task.Task) {
	req := &weirv1.UpdateTaskExecutionStateRequest{Execution: id, State: st, Metrics: t.Metrics()}
	if err != nil {
		req.Failure = err.Error()
		req.CorruptState = errors.Is(err, checkpoint.ErrCorrupt)
		req.Unrecoverable = errors.Is(err, stream.ErrUnrecoverable)
	}
	backoff := 50 * time.Millisecond
	for range 5 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, rerr := tm.rm.UpdateTaskExecutionState(ctx, req)
		cancel()
		if rerr == nil {
			return
		}
		tm.opts.Logger.Warn("reporting task state failed", "state", st, "err", rerr)
		<-tm.opts.Clock.After(backoff)
		backoff *= 2
	}
}

// checkpointingOf returns the checkpointing settings of a job, nil if it
// takes no checkpoints.
func checkpointingOf(g *weirv1.JobGraph, cp task.Checkpointer) (*task.Checkpointing, error) {
	cfg, err := config.Default().WithJob(g.GetConfig())
	if err != nil {
		return nil, err
	}
	interval, err := cfg.Duration(config.CheckpointingInterval)
	if err != nil || interval <= 0 {
		return nil, err
	}
	mode, err := cfg.Get(config.CheckpointingMode)
	if err != nil {
		return nil, err
	}
	incremental, err := cfg.Bool(config.IncrementalCheckpoints)
	if err != nil {
		return nil, err
	}
	return &task.Checkpointing{ExactlyOnce: mode == "EXACTLY_ONCE", Incremental: incremental, Checkpointer: cp}, nil
}

// localRecoveryOf says whether a job keeps local copies of its state
// (state.backend.local-recovery).
func localRecoveryOf(g *weirv1.JobGraph) (bool, error) {
	cfg, err := config.Default().WithJob(g.GetConfig())
	if err != nil {
		return false, err
	}
	return cfg.Bool(config.LocalRecovery)
}

// backendOf returns the state backend factory a job selects
// (state.backend): nil for the heap, or one opening a Pebble database in
// the subtask attempt's own directory under PebbleDir.
// A native snapshot loadRestore materialised (nr) is opened in place.
func (tm *TaskManager) backendOf(g *weirv1.JobGraph, id *weirv1.ExecutionID, stats *subtaskStats, nr *nativeRestore) (func(keygroup.Range) (statebackend.KeyedBackend, error), error) {
	cfg, err := config.Default().WithJob(g.GetConfig())
	if err != nil {
		return nil, err
	}
	name, err := cfg.Get(config.StateBackend)
	if err != nil {
		return nil, err
	}
	incremental, err := cfg.Bool(config.IncrementalCheckpoints)
	if err != nil {
		return nil, err
	}
	if name != "pebble" {
		if !incremental {
			return nil, nil
		}
		// The heap, logging its writes for deltas, with a directory of
		// its own for its full snapshots' files.
		nr.heap = true
		dir := tm.heapDir(id)
		return func(r keygroup.Range) (statebackend.KeyedBackend, error) {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return nil, err
			}
			b := heap.NewIncremental(r, dir)
			f := nr.fetch
			if f == nil {
				return b, nil
			}
			nr.fetch = nil
			err := corrupt(b.RestoreNative(nr.checkpoint, nr.chain, f.object))
			f.close()
			if err != nil {
				// Closed, so that its directory goes with it.
				return nil, fmt.Errorf("checkpoint %d: %w", nr.checkpoint, errors.Join(err, b.Close()))
			}
			return b, nil
		}, nil
	}
	memory, err := cfg.Bytes(config.PebbleMemory)
	if err != nil {
		return nil, err
	}
	// Native snapshots copy the write-ahead log rather than flush.
	dir := tm.pebbleDir(id)
	nr.pebble = true
	return func(r keygroup.Range) (statebackend.KeyedBackend, error) {
		if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
			return nil, err
		}
		opts := pebble.Options{MemoryBytes: memory, Logger: tm.opts.Logger, WAL: incremental}
		var b *pebble.Backend
		if nr.native != nil {
			b, err = pebble.OpenNative(dir, r, nr.native, nr.checkpoint, nr.scope, opts)
			if errors.Is(err, pebble.ErrDamaged) {
				err = fmt.Errorf("%w: %w", checkpoint.ErrCorrupt, err)
			}
		} else {
			b, err = pebble.Open(dir, r, opts)
		}
		if err != nil {
			return nil, err
		}
		return track(b, stats), nil
	}, nil
}

// pebbleDir is the database directory of a subtask attempt.
func (tm *TaskManager) pebbleDir(id *weirv1.ExecutionID) string {
	return filepath.Join(tm.opts.PebbleDir, id.GetJobId(), attemptDir(id))
}

// heapDir is the directory of a subtask attempt's heap backend with
// incremental checkpoints, where it encodes its full snapshots: under
// DataDir, on the file system of the local copies it keeps them as.
func (tm *TaskManager) heapDir(id *weirv1.ExecutionID) string {
	return filepath.Join(tm.opts.DataDir, "heap", id.GetJobId(), attemptDir(id))
}

func attemptDir(id *weirv1.ExecutionID) string {
	return fmt.Sprintf("%d-%d-a%d", id.GetVertexId(), id.GetSubtaskIndex(), id.GetAttempt())
}

// CancelTask cancels a running subtask; cancelling an unknown one is not an
// error (it may have finished).
func (tm *TaskManager) CancelTask(ctx context.Context, req *weirv1.CancelTaskRequest) (*weirv1.CancelTaskResponse, error) {
	id := req.GetExecution()
	tm.mu.Lock()
	r, ok := tm.mu.tasks[execKey{id.GetJobId(), id.GetVertexId(), id.GetSubtaskIndex()}]
	tm.mu.Unlock()
	if ok && r.id.GetAttempt() == id.GetAttempt() {
		r.cancel(errors.New("canceled by the jobmanager"))
	}
	return &weirv1.CancelTaskResponse{}, nil
}
