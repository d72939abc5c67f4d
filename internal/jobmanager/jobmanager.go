// Package jobmanager is the coordinating process: the dispatcher that
// accepts jobs, the resource manager that tracks taskmanagers and their
// slots, and one job master per job that deploys and follows its subtasks.
package jobmanager

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	weirv1 "github.com/weirstream/weir/api/proto/weir/v1"
	"github.com/weirstream/weir/internal/checkpoint"
	"github.com/weirstream/weir/internal/checkpoint/objstore"
	"github.com/weirstream/weir/internal/clock"
	"github.com/weirstream/weir/internal/config"
	"github.com/weirstream/weir/internal/metrics"
	"github.com/weirstream/weir/internal/network"
	"github.com/weirstream/weir/internal/plan"
	"github.com/weirstream/weir/internal/scheduler"
	"github.com/weirstream/weir/internal/security"
	"github.com/weirstream/weir/stream"
)

// Options configure a jobmanager.
type Options struct {
	HeartbeatInterval  time.Duration
	HeartbeatTimeout   time.Duration
	SlotRequestTimeout time.Duration
	// Config holds the cluster configuration that jobs inherit (Flink-style
	// keys); a job's own settings override it.
	Config map[string]string
	// Stores opens checkpoint storage, with this process's credentials.
	Stores *checkpoint.Stores
	// DefaultCheckpointsDir is the checkpoint storage of jobs that set no
	// state.checkpoints.dir (an in-process cluster's memory:// store); empty
	// makes such jobs fail at submission when they take checkpoints.
	DefaultCheckpointsDir string
	// DialOptions are added to connections to taskmanagers.
	DialOptions []grpc.DialOption
	// ConfigView is the process's configuration with secrets masked
	// (config.Config.Redacted), served at /api/v1/jobmanager/config.
	ConfigView map[string]string
	// Security is TLS and access control of the gRPC and HTTP servers; nil
	// for none.
	Security *security.Process
	// Limits bound submissions; nil for DefaultLimits.
	Limits *Limits
	Clock  clock.Clock
	Logger *slog.Logger
}

// JobManager serves JobManagerService and ResourceManagerService.
type JobManager struct {
	weirv1.UnimplementedJobManagerServiceServer
	weirv1.UnimplementedResourceManagerServiceServer

	opts      Options
	clock     clock.Clock
	log       *slog.Logger
	resources *resources
	stores    *checkpoint.Stores
	dialer    *network.Dialer
	wg        sync.WaitGroup // job master goroutines
	started   chan struct{}  // closed when Run has started
	registry  *prometheus.Registry
	metrics   *metrics.JobManager
	limits    Limits
	confine   storageConfinement
	submits   *rateLimiter // nil: no rate limit

	mu struct {
		sync.Mutex
		jobs    map[string]*jobMaster
		order   []string // submission order
		ctx     context.Context
		stopped bool
	}
}

var (
	_ weirv1.JobManagerServiceServer      = (*JobManager)(nil)
	_ weirv1.ResourceManagerServiceServer = (*JobManager)(nil)
)

// New returns a jobmanager. It starts nothing; Run does.
func New(opts Options) *JobManager {
	if opts.Clock == nil {
		opts.Clock = clock.Real{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Stores == nil {
		opts.Stores = checkpoint.NewStores(objstore.Options{}, opts.Clock)
	}
	jm := &JobManager{opts: opts, clock: opts.Clock, log: opts.Logger, resources: newResources(), stores: opts.Stores,
		dialer: network.NewDialer(opts.DialOptions...), started: make(chan struct{})}
	jm.mu.jobs = map[string]*jobMaster{}
	jm.limits = DefaultLimits()
	if opts.Limits != nil {
		jm.limits = *opts.Limits
	}
	var err error
	if jm.confine, err = newStorageConfinement(jm.limits, opts.Config[config.CheckpointsDir], opts.Config[config.SavepointsDir], opts.DefaultCheckpointsDir); err != nil {
		jm.log.Error("a storage location does not parse; jobs cannot use it", "err", err)
	}
	jm.submits = newRateLimiter(jm.limits.SubmissionRate, jm.limits.SubmissionBurst, jm.clock)
	jm.registry = metrics.NewRegistry()
	jm.metrics = metrics.NewJobManager(jm.registry)
	jm.registry.MustRegister(metrics.ClusterCollector(jm.clusterMetrics))
	return jm
}

// RegisterServices registers the jobmanager's gRPC services on s.
func (jm *JobManager) RegisterServices(s *grpc.Server) {
	weirv1.RegisterJobManagerServiceServer(s, jm)
	weirv1.RegisterResourceManagerServiceServer(s, jm)
}

// Run watches taskmanager heartbeats until ctx ends, then stops every job
// master and waits for them.
func (jm *JobManager) Run(ctx context.Context) error {
	jm.mu.Lock()
	jm.mu.ctx = ctx
	jm.mu.Unlock()
	close(jm.started)
	defer func() {
		jm.mu.Lock()
		jm.mu.stopped = true
		jm.mu.Unlock()
		jm.wg.Wait()
		jm.dialer.Close()
		jm.stores.Close()
	}()
	t := jm.clock.NewTicker(jm.opts.HeartbeatInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C():
		}
		for _, tm := range jm.resources.expire(jm.clock.Now(), jm.opts.HeartbeatTimeout) {
			jm.log.Warn("taskmanager lost: no heartbeat within heartbeat.timeout", "taskmanager", tm, "timeout", jm.opts.HeartbeatTimeout)
			for _, m := range jm.jobs() {
				m.post(tmLost{tm: tm})
			}
		}
	}
}

// unreachable drops a taskmanager that refuses connections before its
// heartbeat times out (its process is gone), so no job is placed on it.
func (jm *JobManager) unreachable(tm string, err error) {
	if status.Code(err) != codes.Unavailable || !jm.resources.drop(tm) {
		return
	}
	jm.log.Warn("taskmanager lost: unreachable", "taskmanager", tm, "err", err)
	for _, m := range jm.jobs() {
		m.post(tmLost{tm: tm})
	}
}

func (jm *JobManager) jobs() []*jobMaster {
	jm.mu.Lock()
	defer jm.mu.Unlock()
	out := make([]*jobMaster, 0, len(jm.mu.order))
	for _, id := range jm.mu.order {
		out = append(out, jm.mu.jobs[id])
	}
	return out
}

func (jm *JobManager) job(id string) (*jobMaster, error) {
	jm.mu.Lock()
	defer jm.mu.Unlock()
	m, ok := jm.mu.jobs[id]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "unknown job %q", id)
	}
	return m, nil
}

func (jm *JobManager) taskManager(addr string) (weirv1.TaskManagerServiceClient, error) {
	conn, err := jm.dialer.Conn(addr)
	if err != nil {
		return nil, err
	}
	return weirv1.NewTaskManagerServiceClient(conn), nil
}

// SubmitJob validates a job and starts its job master.
func (jm *JobManager) SubmitJob(ctx context.Context, req *weirv1.SubmitJobRequest) (*weirv1.SubmitJobResponse, error) {
	who := jm.opts.Security.Identity(ctx)
	if ok, wait := jm.submits.take(who); !ok {
		return nil, rateLimited(who, jm.limits.SubmissionRate, jm.limits.SubmissionBurst, wait)
	}
	if err := jm.limits.checkSize(req); err != nil {
		return nil, err
	}
	g, err := jm.graphOf(req)
	if err != nil {
		return nil, err
	}
	p, err := plan.Build(g)
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "rejected: %v", err)
	}
	id := newJobID()
	setup, err := jm.setup(ctx, id, g, p, req)
	if err != nil {
		return nil, err
	}
	select {
	case <-jm.started:
	case <-ctx.Done():
		return nil, status.FromContextError(ctx.Err()).Err()
	}
	jm.mu.Lock()
	defer jm.mu.Unlock()
	if jm.mu.stopped {
		return nil, status.Error(codes.Unavailable, "the jobmanager is not running")
	}
	m := newJobMaster(jm, id, g, p, jm.clock.Now(), setup)
	jm.mu.jobs[id] = m
	jm.mu.order = append(jm.mu.order, id)
	jm.wg.Add(1)
	go func(ctx context.Context) {
		defer jm.wg.Done()
		m.run(ctx)
	}(jm.mu.ctx)
	m.log.Info("job submitted", "operators", len(g.GetOperators()), "slots", p.MaxParallelism())
	return &weirv1.SubmitJobResponse{JobId: id}, nil
}

// graphOf builds or checks the submitted graph; errors are InvalidArgument
// (NotFound for an unknown program) with a message naming the problem.
func (jm *JobManager) graphOf(req *weirv1.SubmitJobRequest) (*weirv1.JobGraph, error) {
	var g *weirv1.JobGraph
	switch job := req.GetJob().(type) {
	case *weirv1.SubmitJobRequest_Program:
		if _, ok := stream.LookupProgram(job.Program.GetName()); !ok {
			return nil, status.Errorf(codes.NotFound, "rejected: unknown job %q; known jobs: %s", job.Program.GetName(), programNames())
		}
		p := 1
		if req.Parallelism != nil {
			p = int(req.GetParallelism())
			if p < 1 {
				return nil, status.Errorf(codes.InvalidArgument, "rejected: parallelism: %d must be at least 1", p)
			}
			if p > jm.limits.MaxParallelism {
				return nil, limitError("parallelism", p, jm.limits.MaxParallelism, config.JobMaxParallelism)
			}
		}
		env, err := stream.BuildProgram(job.Program.GetName(), job.Program.GetArgs(), p)
		if err != nil {
			return nil, status.Errorf(codes.InvalidArgument, "rejected: %v", err)
		}
		if g, err = env.Graph(); err != nil {
			return nil, status.Errorf(codes.InvalidArgument, "rejected: %s: %v", job.Program.GetName(), err)
		}
	case *weirv1.SubmitJobRequest_Graph:
		g = proto.Clone(job.Graph).(*weirv1.JobGraph)
		if err := stream.ValidateGraph(g); err != nil {
			return nil, status.Errorf(codes.InvalidArgument, "rejected: %v", err)
		}
	default:
		return nil, status.Error(codes.InvalidArgument, "rejected: job: neither a graph nor a program")
	}
	if err := jm.limits.checkGraph(g); err != nil {
		return nil, err
	}
	// The job's settings override the cluster's; every key must be one a
	// job may set, with a valid value.
	cfg := config.Default()
	for _, layer := range []struct {
		name string
		m    map[string]string
	}{{"cluster", jm.opts.Config}, {"graph.config", g.GetConfig()}, {"config", req.GetConfig()}} {
		var err error
		if cfg, err = cfg.WithJob(layer.m); err != nil {
			return nil, status.Errorf(codes.InvalidArgument, "rejected: %s: %v", layer.name, err)
		}
	}
	g.Config = JobSettings(cfg)
	return g, nil
}

// JobSettings returns the part of a configuration that travels with a job:
// the keys a job may set.
func JobSettings(c *config.Config) map[string]string {
	out := map[string]string{}
	for k, v := range c.Map() {
		if o, ok := config.Lookup(k); ok && o.Job {
			out[k] = v
		}
	}
	return out
}

func programNames() string {
	var names []string
	for _, p := range stream.Programs() {
		names = append(names, p.Name)
	}
	if len(names) == 0 {
		return "(none)"
	}
	return fmt.Sprint(names)
}

func newJobID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b[:])
}

// jobSetup is what a job master starts with besides its graph.
type jobSetup struct {
	cfg      *config.Config
	strategy scheduler.RestartStrategy
	start    *restorePoint
	cp       *checkpointing
}

// setup prepares a submitted job's configuration, restart strategy,
// checkpointing and savepoint; errors reject the submission.
func (jm *JobManager) setup(ctx context.Context, id string, g *weirv1.JobGraph, p *plan.Plan, req *weirv1.SubmitJobRequest) (*jobSetup, error) {
	cfg, err := config.Default().WithJob(g.GetConfig())
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "rejected: config: %v", err)
	}
	if err := jm.limits.checkInterval(cfg); err != nil {
		return nil, err
	}
	for _, k := range []string{config.CheckpointsDir, config.SavepointsDir} {
		if v, _ := cfg.Get(k); v != "" {
			if err := jm.confine.check("config: "+k, v); err != nil {
				return nil, err
			}
		}
	}
	if path := req.GetSavepointPath(); path != "" {
		if err := jm.confine.check("savepoint_path", path); err != nil {
			return nil, err
		}
	}
	cp, err := newCheckpointing(ctx, jm, id, g, p, cfg)
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "rejected: %v", err)
	}
	strategy, err := scheduler.NewRestartStrategy(cfg, cp != nil, mrand.Float64)
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "rejected: %v", err)
	}
	j := &jobSetup{cfg: cfg, strategy: strategy, cp: cp}
	if path := req.GetSavepointPath(); path != "" {
		if j.start, err = jm.savepoint(ctx, path, g, req.GetAllowNonRestoredState()); err != nil {
			return nil, err
		}
	}
	return j, nil
}

// savepoint reads and verifies the savepoint (or retained checkpoint) at
// path and checks it fits graph g.
func (jm *JobManager) savepoint(ctx context.Context, path string, g *weirv1.JobGraph, allowNonRestored bool) (*restorePoint, error) {
	st, err := jm.stores.Open(ctx, path)
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "rejected: savepoint_path: %v", err)
	}
	meta, err := checkpoint.ReadMetadata(ctx, st, "")
	if err != nil {
		if errors.Is(err, objstore.ErrNotExist) {
			return nil, status.Errorf(codes.InvalidArgument, "rejected: savepoint_path: %s has no _metadata: it is not a complete savepoint or checkpoint", path)
		}
		return nil, status.Errorf(codes.InvalidArgument, "rejected: savepoint %s is damaged: %v", path, err)
	}
	if err := checkpoint.Verify(ctx, st, "", meta); err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "rejected: savepoint %s is damaged: %v", path, err)
	}
	if mp := g.GetMaxParallelism(); meta.GetMaxParallelism() != mp {
		// Key groups are hash % max parallelism: another max parallelism
		// would put keys in other key groups than the savepoint's.
		return nil, status.Errorf(codes.InvalidArgument,
			"rejected: savepoint %s was taken at max parallelism %d, the job has %d; the max parallelism of a job cannot change",
			path, meta.GetMaxParallelism(), mp)
	}
	for _, os := range meta.GetOperators() {
		if p := parallelismOf(g, os.GetOperatorUid()); p == 0 && !allowNonRestored {
			return nil, status.Errorf(codes.InvalidArgument,
				"rejected: savepoint %s has state of operator %q, which the job does not have; pass --allow-non-restored-state to drop it",
				path, os.GetOperatorUid())
		}
	}
	rp := &restorePoint{id: meta.GetCheckpointId(), storage: path, meta: meta}
	if hasSharedObjects(meta) {
		// A retained incremental checkpoint: its shared objects are in
		// its job's checkpoint directory, the parent of path, so the
		// storage is opened there.
		scheme, rest, ok := strings.Cut(strings.TrimSuffix(path, "/"), "://")
		i := strings.LastIndex(rest, "/")
		if !ok || i <= 0 {
			return nil, status.Errorf(codes.InvalidArgument, "rejected: savepoint %s is an incremental checkpoint but has no parent directory holding its shared objects", path)
		}
		rp.storage, rp.directory = scheme+"://"+rest[:i], rest[i+1:]
		if err := jm.confine.check("savepoint_path (the directory of its shared objects)", rp.storage); err != nil {
			return nil, err
		}
		parent, err := jm.stores.Open(ctx, rp.storage)
		if err == nil {
			err = checkpoint.VerifyShared(ctx, parent, rp.directory, meta)
		}
		if err != nil {
			return nil, status.Errorf(codes.InvalidArgument, "rejected: savepoint %s is damaged: %v", path, err)
		}
	}
	return rp, nil
}

// hasSharedObjects reports whether a snapshot references shared objects
// (an incremental checkpoint).
func hasSharedObjects(meta *weirv1.CheckpointMetadata) bool {
	for _, op := range meta.GetOperators() {
		for _, s := range op.GetSubtasks() {
			if len(s.GetHandle().GetSharedObjects()) > 0 {
				return true
			}
		}
	}
	return false
}

// ListJobs lists every job in submission order.
func (jm *JobManager) ListJobs(ctx context.Context, req *weirv1.ListJobsRequest) (*weirv1.ListJobsResponse, error) {
	resp := &weirv1.ListJobsResponse{}
	for _, m := range jm.jobs() {
		s, _ := m.view()
		resp.Jobs = append(resp.Jobs, s)
	}
	return resp, nil
}

// GetJob describes one job and its subtasks.
func (jm *JobManager) GetJob(ctx context.Context, req *weirv1.GetJobRequest) (*weirv1.GetJobResponse, error) {
	m, err := jm.job(req.GetJobId())
	if err != nil {
		return nil, err
	}
	s, tasks := m.view()
	return &weirv1.GetJobResponse{Job: s, Graph: m.graph, Tasks: tasks}, nil
}

// CancelJob cancels a job; cancelling a finished job is an error.
func (jm *JobManager) CancelJob(ctx context.Context, req *weirv1.CancelJobRequest) (*weirv1.CancelJobResponse, error) {
	m, err := jm.job(req.GetJobId())
	if err != nil {
		return nil, err
	}
	s, _ := m.view()
	switch s.GetStatus() {
	case weirv1.JobStatus_JOB_STATUS_FINISHED, weirv1.JobStatus_JOB_STATUS_FAILED, weirv1.JobStatus_JOB_STATUS_CANCELED:
		return nil, status.Errorf(codes.FailedPrecondition, "job %s is already %s", req.GetJobId(), statusName(s.GetStatus()))
	}
	m.post(cancelRequest{})
	return &weirv1.CancelJobResponse{}, nil
}

// ListPrograms lists the jobs this jobmanager can build by name.
func (jm *JobManager) ListPrograms(ctx context.Context, req *weirv1.ListProgramsRequest) (*weirv1.ListProgramsResponse, error) {
	resp := &weirv1.ListProgramsResponse{}
	for _, p := range stream.Programs() {
		resp.Programs = append(resp.Programs, &weirv1.ProgramInfo{Name: p.Name, Description: p.Description, Usage: p.Usage})
	}
	return resp, nil
}

// GetClusterOverview describes the taskmanagers and slots.
func (jm *JobManager) GetClusterOverview(ctx context.Context, req *weirv1.GetClusterOverviewRequest) (*weirv1.GetClusterOverviewResponse, error) {
	resp := &weirv1.GetClusterOverviewResponse{}
	for _, tm := range jm.resources.list() {
		resp.TaskManagers = append(resp.TaskManagers, &weirv1.TaskManagerInfo{TaskManagerId: tm.id, RpcAddress: tm.address,
			SlotsTotal: int32(tm.slots), SlotsFree: int32(tm.free), LastHeartbeatUnixMillis: tm.lastHeartbeat.UnixMilli()})
		resp.SlotsTotal += int32(tm.slots)
		resp.SlotsFree += int32(tm.free)
	}
	return resp, nil
}

// RegisterTaskManager admits a taskmanager and its slots.
func (jm *JobManager) RegisterTaskManager(ctx context.Context, req *weirv1.RegisterTaskManagerRequest) (*weirv1.RegisterTaskManagerResponse, error) {
	switch {
	case req.GetTaskManagerId() == "":
		return nil, status.Error(codes.InvalidArgument, "task_manager_id: empty")
	case req.GetRpcAddress() == "":
		return nil, status.Error(codes.InvalidArgument, "rpc_address: empty")
	case req.GetSlots() < 1:
		return nil, status.Errorf(codes.InvalidArgument, "slots: %d must be at least 1", req.GetSlots())
	}
	jm.resources.register(req.GetTaskManagerId(), req.GetRpcAddress(), int(req.GetSlots()), jm.clock.Now())
	jm.log.Info("taskmanager registered", "taskmanager", req.GetTaskManagerId(), "address", req.GetRpcAddress(), "slots", req.GetSlots())
	return &weirv1.RegisterTaskManagerResponse{HeartbeatIntervalMillis: jm.opts.HeartbeatInterval.Milliseconds()}, nil
}

// Heartbeat records that a taskmanager is alive and its tasks' metrics.
func (jm *JobManager) Heartbeat(ctx context.Context, req *weirv1.HeartbeatRequest) (*weirv1.HeartbeatResponse, error) {
	if !jm.resources.heartbeat(req.GetTaskManagerId(), jm.clock.Now()) {
		return &weirv1.HeartbeatResponse{UnknownTaskManager: true}, nil
	}
	for _, r := range req.GetTasks() {
		if m, err := jm.job(r.GetExecution().GetJobId()); err == nil {
			m.post(taskUpdate{id: r.GetExecution(), metrics: r.GetMetrics()})
		}
	}
	return &weirv1.HeartbeatResponse{}, nil
}

// UpdateTaskExecutionState records a task's new state.
func (jm *JobManager) UpdateTaskExecutionState(ctx context.Context, req *weirv1.UpdateTaskExecutionStateRequest) (*weirv1.UpdateTaskExecutionStateResponse, error) {
	m, err := jm.job(req.GetExecution().GetJobId())
	if err != nil {
		return nil, err
	}
	if req.GetEndOfInput() {
		m.post(endOfInput{id: req.GetExecution()})
		return &weirv1.UpdateTaskExecutionStateResponse{}, nil
	}
	m.post(taskUpdate{id: req.GetExecution(), state: req.GetState(), failure: req.GetFailure(), corrupt: req.GetCorruptState(), unrecoverable: req.GetUnrecoverable(), metrics: req.GetMetrics()})
	return &weirv1.UpdateTaskExecutionStateResponse{}, nil
}

// AcknowledgeCheckpoint records a subtask's durable state for a checkpoint.
func (jm *JobManager) AcknowledgeCheckpoint(ctx context.Context, req *weirv1.AcknowledgeCheckpointRequest) (*weirv1.AcknowledgeCheckpointResponse, error) {
	m, err := jm.job(req.GetExecution().GetJobId())
	if err != nil {
		return nil, err
	}
	m.post(ackEvent{id: req.GetExecution(), checkpointID: req.GetCheckpointId(), operators: req.GetOperators(), metrics: req.GetMetrics()})
	return &weirv1.AcknowledgeCheckpointResponse{}, nil
}

// DeclineCheckpoint records that a subtask could not take its part.
func (jm *JobManager) DeclineCheckpoint(ctx context.Context, req *weirv1.DeclineCheckpointRequest) (*weirv1.DeclineCheckpointResponse, error) {
	m, err := jm.job(req.GetExecution().GetJobId())
	if err != nil {
		return nil, err
	}
	m.post(declineEvent{id: req.GetExecution(), checkpointID: req.GetCheckpointId(), reason: req.GetReason(), subsumed: req.GetSubsumed()})
	return &weirv1.DeclineCheckpointResponse{}, nil
}

// TriggerSavepoint takes a savepoint and waits for it.
func (jm *JobManager) TriggerSavepoint(ctx context.Context, req *weirv1.TriggerSavepointRequest) (*weirv1.TriggerSavepointResponse, error) {
	m, err := jm.job(req.GetJobId())
	if err != nil {
		return nil, err
	}
	if dir := req.GetTargetDirectory(); dir != "" {
		if err := jm.confine.check("target_directory", dir); err != nil {
			return nil, err
		}
	}
	reply := make(chan savepointResult, 1)
	if !m.post(savepointRequest{dir: req.GetTargetDirectory(), stop: req.GetStop(), reply: reply}) {
		s, _ := m.view()
		return nil, status.Errorf(codes.FailedPrecondition, "job %s is %s: only a running job takes savepoints", req.GetJobId(), statusName(s.GetStatus()))
	}
	select {
	case <-ctx.Done():
		return nil, status.FromContextError(ctx.Err()).Err()
	case r := <-reply:
		if r.err != nil {
			return nil, status.Errorf(codes.FailedPrecondition, "%v", r.err)
		}
		return &weirv1.TriggerSavepointResponse{Path: r.path}, nil
	}
}

// ListCheckpoints lists a job's checkpoint history.
func (jm *JobManager) ListCheckpoints(ctx context.Context, req *weirv1.ListCheckpointsRequest) (*weirv1.ListCheckpointsResponse, error) {
	m, err := jm.job(req.GetJobId())
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	resp := &weirv1.ListCheckpointsResponse{LatestCompletedId: m.mu.latest, RestoreFallbacks: m.mu.fallbacks}
	for _, c := range m.mu.checkpoints {
		resp.Checkpoints = append(resp.Checkpoints, cloneInfo(c))
	}
	return resp, nil
}

func statusName(s weirv1.JobStatus) string {
	n := s.String()
	if len(n) > len("JOB_STATUS_") {
		n = n[len("JOB_STATUS_"):]
	}
	return n
}

// Overview is the JSON form of the cluster state, served under /api/v1.
type Overview struct {
	TaskManagers int `json:"taskmanagers"`
	SlotsTotal   int `json:"slots-total"`
	SlotsFree    int `json:"slots-available"`
	JobsRunning  int `json:"jobs-running"`
	JobsFinished int `json:"jobs-finished"`
	JobsCanceled int `json:"jobs-cancelled"`
	JobsFailed   int `json:"jobs-failed"`
}

// JobJSON is the JSON form of a job summary.
type JobJSON struct {
	ID        string `json:"jid"`
	Name      string `json:"name"`
	State     string `json:"state"`
	Message   string `json:"message,omitempty"`
	StartTime int64  `json:"start-time"`
	EndTime   int64  `json:"end-time,omitempty"`
}

func (jm *JobManager) jobsJSON() []JobJSON {
	out := []JobJSON{}
	for _, m := range jm.jobs() {
		s, _ := m.view()
		out = append(out, JobJSON{ID: s.GetJobId(), Name: s.GetName(), State: statusName(s.GetStatus()),
			Message: s.GetStatusMessage(), StartTime: s.GetStartTimeUnixMillis(), EndTime: s.GetEndTimeUnixMillis()})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].StartTime < out[j].StartTime })
	return out
}

func (jm *JobManager) overview() Overview {
	free, total, tms := jm.resources.summary()
	o := Overview{TaskManagers: tms, SlotsTotal: total, SlotsFree: free}
	for _, j := range jm.jobsJSON() {
		switch j.State {
		case "FINISHED":
			o.JobsFinished++
		case "CANCELED":
			o.JobsCanceled++
		case "FAILED":
			o.JobsFailed++
		default:
			o.JobsRunning++
		}
	}
	return o
}

// clusterMetrics is the cluster's state for /metrics.
func (jm *JobManager) clusterMetrics() metrics.Cluster {
	free, total, tms := jm.resources.summary()
	c := metrics.Cluster{TaskManagers: tms, SlotsTotal: total, SlotsFree: free, Jobs: map[string]int{}}
	for _, m := range jm.jobs() {
		s, _ := m.view()
		c.Jobs[statusName(s.GetStatus())]++
	}
	return c
}
