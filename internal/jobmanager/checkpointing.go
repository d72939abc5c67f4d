package jobmanager

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	weirv1 "github.com/weirstream/weir/api/proto/weir/v1"
	"github.com/weirstream/weir/internal/checkpoint"
	"github.com/weirstream/weir/internal/checkpoint/objstore"
	"github.com/weirstream/weir/internal/config"
	"github.com/weirstream/weir/internal/coordinator"
	"github.com/weirstream/weir/internal/plan"
)

// tick is the coordinator's unit of logical time.
const tick = 100 * time.Millisecond

// historySize bounds the checkpoints a job remembers for `weir checkpoints`.
const historySize = 100

// Events of checkpointing, posted to the job master.
type (
	endOfInput struct{ id *weirv1.ExecutionID }
	ackEvent   struct {
		id           *weirv1.ExecutionID
		checkpointID int64
		operators    []*weirv1.OperatorSubtaskState
		metrics      *weirv1.CheckpointMetrics
	}
	declineEvent struct {
		id           *weirv1.ExecutionID
		checkpointID int64
		reason       string
		subsumed     bool
	}
	persistedEvent struct {
		id  coordinator.ID
		err error
	}
	savepointRequest struct {
		dir   string
		stop  bool
		reply chan savepointResult // size 1
	}
)

type savepointResult struct {
	path string
	err  error
}

func (endOfInput) isEvent()       {}
func (ackEvent) isEvent()         {}
func (declineEvent) isEvent()     {}
func (persistedEvent) isEvent()   {}
func (savepointRequest) isEvent() {}

// restorePoint is a snapshot a job resumes from.
type restorePoint struct {
	id        int64
	storage   string // URI of the storage
	directory string // the snapshot's directory in it
	meta      *weirv1.CheckpointMetadata
}

func (r *restorePoint) path() string { return strings.TrimSuffix(r.storage, "/") + "/" + r.directory }

// forSubtask returns what subtask i of the chain ops restores; nil for a
// fresh start. An operator saved at the parallelism it runs at restores
// subtask i's state; one saved at another parallelism (rescaling) gets the
// state of every old subtask, in subtask order: the subtask keeps the key
// groups of its range and redistributes the operator state (see
// stream.UnionRedistributed).
func (r *restorePoint) forSubtask(g *weirv1.JobGraph, ops []int32, i int) *weirv1.RestoreState {
	if r == nil {
		return nil
	}
	rs := &weirv1.RestoreState{CheckpointId: r.id, Storage: r.storage, Directory: r.directory}
	for _, op := range ops {
		o := g.GetOperators()[op]
		for _, st := range r.meta.GetOperators() {
			if st.GetOperatorUid() != o.GetUid() {
				continue
			}
			rescaled := st.GetParallelism() != o.GetParallelism()
			for _, s := range st.GetSubtasks() {
				if rescaled || int(s.GetSubtaskIndex()) == i {
					rs.Operators = append(rs.Operators, s)
				}
			}
		}
	}
	return rs
}

// checkpointing is the job master's checkpoint coordination: it owns the
// coordinator and carries out its effects. Used by the job master's
// goroutine only; its I/O runs in goroutines that report back as events.
type checkpointing struct {
	coord          *coordinator.Coordinator
	tick           time.Duration
	storage        string // state.checkpoints.dir
	store          objstore.Store
	savepointsDir  string
	retainOnCancel bool
	jobID          string
	wg             sync.WaitGroup // I/O goroutines

	records     map[coordinator.ID]*record
	savepoints  map[int64]savepointRequest // by request id
	requestOf   map[coordinator.ID]int64   // savepoint ID -> request id
	nextRequest int64
	sourcesDone map[coordinator.SubtaskID]bool
	bad         map[int64]bool // checkpoints found damaged
	stoppedWith string         // set when a stop-with-savepoint completed
	// conf is the job's checkpointing configuration, for readers; never
	// changed after newCheckpointing.
	conf CheckpointConfigJSON

	// Shared objects (incremental checkpoints) are reference counted by
	// checkpoint: latest is the newest completed checkpoint, the base of
	// the next one; refs the shared objects of each completed checkpoint
	// not discarded; discarded those of discarded checkpoints, until no
	// pending checkpoint is based on them (see collect).
	latest    int64
	refs      map[int64][]string
	discarded map[int64][]string
}

// record is what the job master knows of one checkpoint.
type record struct {
	info      *weirv1.CheckpointInfo
	storage   string
	directory string
	store     objstore.Store
	triggered time.Time
	stop      bool
	base      int64    // the checkpoint this one may share objects with
	shared    []string // the shared objects its metadata references
}

// newCheckpointing returns the checkpointing of a job, or nil if the job
// takes none.
func newCheckpointing(ctx context.Context, jm *JobManager, jobID string, g *weirv1.JobGraph, p *plan.Plan, cfg *config.Config) (*checkpointing, error) {
	interval, err := cfg.Duration(config.CheckpointingInterval)
	if err != nil || interval <= 0 {
		return nil, err
	}
	storage, _ := cfg.Get(config.CheckpointsDir)
	if storage == "" {
		storage = jm.opts.DefaultCheckpointsDir
	}
	if storage == "" {
		return nil, fmt.Errorf("%s is set but %s is not: checkpoints need durable storage (file:///path or s3://bucket/prefix)",
			config.CheckpointingInterval, config.CheckpointsDir)
	}
	store, err := jm.stores.Open(ctx, storage)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", config.CheckpointsDir, err)
	}
	var errs []error
	dur := func(k string) coordinator.Tick {
		d, err := cfg.Duration(k)
		errs = append(errs, err)
		return coordinator.Tick((d + tick - 1) / tick)
	}
	num := func(k string) int {
		n, err := cfg.Int(k)
		errs = append(errs, err)
		return n
	}
	cc := coordinator.Config{
		Interval: dur(config.CheckpointingInterval), Timeout: dur(config.CheckpointingTimeout),
		MinPause: dur(config.CheckpointingMinPause), MaxConcurrent: num(config.CheckpointingMaxConcurrent),
		TolerableFailures: num(config.CheckpointingTolerableFailures), NumRetained: num(config.CheckpointsRetained),
	}
	savepoints, err := cfg.Get(config.SavepointsDir)
	errs = append(errs, err)
	retention, err := cfg.Get(config.CheckpointRetention)
	errs = append(errs, err)
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if err := cc.Validate(); err != nil {
		return nil, err
	}
	mode, err := cfg.Get(config.CheckpointingMode)
	if err != nil {
		return nil, err
	}
	conf := CheckpointConfigJSON{Enabled: true, Mode: mode, Interval: interval.Milliseconds(),
		Timeout: int64(cc.Timeout) * tick.Milliseconds(), MinPause: int64(cc.MinPause) * tick.Milliseconds(),
		MaxConcurrent: cc.MaxConcurrent, TolerableFailures: cc.TolerableFailures, NumRetained: cc.NumRetained,
		Storage: storage, SavepointsDir: savepoints, Retention: retention}
	var sources, tasks []coordinator.SubtaskID
	for _, v := range p.Vertices {
		src := g.GetOperators()[v.ID].GetKind() == weirv1.OperatorKind_OPERATOR_KIND_SOURCE
		for i := range v.Parallelism {
			st := coordinator.SubtaskID{Vertex: v.ID, Subtask: int32(i)}
			tasks = append(tasks, st)
			if src {
				sources = append(sources, st)
			}
		}
	}
	return &checkpointing{
		coord: coordinator.New(cc, 1, sources, tasks, 1), tick: tick, storage: storage, store: store,
		savepointsDir: savepoints, retainOnCancel: retention == "RETAIN_ON_CANCELLATION", jobID: jobID,
		records: map[coordinator.ID]*record{}, savepoints: map[int64]savepointRequest{}, requestOf: map[coordinator.ID]int64{},
		sourcesDone: map[coordinator.SubtaskID]bool{}, bad: map[int64]bool{}, conf: conf,
		refs: map[int64][]string{}, discarded: map[int64][]string{},
	}, nil
}

// close waits for outstanding I/O. Safe on a nil receiver.
func (c *checkpointing) close() {
	if c == nil {
		return
	}
	for _, r := range c.savepoints {
		r.reply <- savepointResult{err: errors.New("the job ended before the savepoint completed")}
	}
	c.savepoints = nil
	c.wg.Wait()
}

// deployed tells the coordinator a new attempt runs. Safe on a nil receiver.
func (c *checkpointing) deployed(attempt int32) {
	if c == nil {
		return
	}
	clear(c.sourcesDone)
	if attempt > 1 {
		c.coord.Restart(attempt)
	}
}

func subtaskOf(id *weirv1.ExecutionID) coordinator.SubtaskID {
	return coordinator.SubtaskID{Vertex: id.GetVertexId(), Subtask: id.GetSubtaskIndex()}
}

// endOfInput records that a source subtask has read all its input; when
// all have, the final checkpoint is triggered.
func (c *checkpointing) endOfInput(m *jobMaster, id *weirv1.ExecutionID) {
	if c == nil || id.GetAttempt() != m.attempt {
		return
	}
	c.sourcesDone[subtaskOf(id)] = true
	for _, v := range m.plan.Vertices {
		if m.graph.GetOperators()[v.ID].GetKind() != weirv1.OperatorKind_OPERATOR_KIND_SOURCE {
			continue
		}
		for i := range v.Parallelism {
			if !c.sourcesDone[coordinator.SubtaskID{Vertex: v.ID, Subtask: int32(i)}] {
				return
			}
		}
	}
	if id2, ok := c.coord.TriggerFinal(); ok {
		m.log.Info("all sources reached the end of their input; taking the final checkpoint", "checkpoint", id2)
	} else {
		m.log.Info("all sources reached the end of their input; taking the final checkpoint once the pending one ends")
	}
}

// ackHandle is what a subtask's acknowledgement carries to the metadata.
type ackHandle struct {
	operators []*weirv1.OperatorSubtaskState
	metrics   *weirv1.CheckpointMetrics
}

func (c *checkpointing) ack(m *jobMaster, e ackEvent) {
	if c == nil {
		return
	}
	id := coordinator.ID(e.checkpointID)
	res := c.coord.Ack(id, subtaskOf(e.id), e.id.GetAttempt(), ackHandle{operators: e.operators, metrics: e.metrics})
	r := c.records[id]
	switch res {
	case coordinator.AckAccepted, coordinator.AckCompletedPending:
		if r != nil {
			r.info.Acknowledged++
			r.info.StateSize += e.metrics.GetStateSize()
			r.info.UploadedSize += e.metrics.GetUploadedBytes()
			r.info.AlignmentMillis = max(r.info.AlignmentMillis, e.metrics.GetAlignmentDurationMillis())
			m.publishCheckpoint(r.info)
			m.publishAck(int64(id), subtaskAck{vertex: e.id.GetVertexId(), subtask: e.id.GetSubtaskIndex(),
				attempt: e.id.GetAttempt(), at: m.jm.clock.Now(), metrics: e.metrics})
		}
	default:
		m.log.Debug("checkpoint acknowledgement not accepted", "checkpoint", id, "subtask", subtaskOf(e.id), "outcome", res)
	}
}

func (c *checkpointing) decline(m *jobMaster, e declineEvent) {
	if c == nil {
		return
	}
	if e.subsumed {
		res := c.coord.DeclineSubsumed(coordinator.ID(e.checkpointID), subtaskOf(e.id), e.id.GetAttempt())
		m.log.Info("checkpoint subsumed", "checkpoint", e.checkpointID, "subtask", subtaskOf(e.id), "reason", e.reason, "outcome", res)
		return
	}
	res := c.coord.Decline(coordinator.ID(e.checkpointID), subtaskOf(e.id), e.id.GetAttempt(), e.reason)
	m.log.Warn("checkpoint declined", "checkpoint", e.checkpointID, "subtask", subtaskOf(e.id), "reason", e.reason, "outcome", res)
}

func (c *checkpointing) requestSavepoint(m *jobMaster, e savepointRequest) {
	if c == nil {
		e.reply <- savepointResult{err: fmt.Errorf("job %s takes no checkpoints; savepoints need %s", m.id, config.CheckpointingInterval)}
		return
	}
	dir := e.dir
	if dir == "" {
		dir = c.savepointsDir
	}
	if dir == "" {
		e.reply <- savepointResult{err: fmt.Errorf("no target directory given and %s is not set", config.SavepointsDir)}
		return
	}
	e.dir = dir
	c.nextRequest++
	c.savepoints[c.nextRequest] = e
	c.requestOf[c.coord.TriggerSavepoint(c.nextRequest)] = c.nextRequest
}

// execute carries out the coordinator's effects. It returns a reason to
// fail (restart) the job, or "".
func (c *checkpointing) execute(ctx context.Context, m *jobMaster) string {
	eff := c.coord.Ready()
	now := m.jm.clock.Now()
	for _, w := range eff.Write {
		r := c.records[w.ID]
		meta := c.metadata(m, w, r)
		r.shared = checkpoint.SharedObjects(meta)
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			wctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			m.post(persistedEvent{id: w.ID, err: checkpoint.WriteMetadata(wctx, r.store, r.directory, meta)})
		}()
	}
	for _, id := range eff.Notify {
		for _, task := range m.tasks {
			c.call(ctx, m, task, func(ctx context.Context, client weirv1.TaskManagerServiceClient) error {
				_, err := client.NotifyCheckpointComplete(ctx, &weirv1.NotifyCheckpointCompleteRequest{Execution: task.id, CheckpointId: int64(id)})
				return err
			})
		}
	}
	for _, a := range eff.Abort {
		for _, task := range m.tasks {
			c.call(ctx, m, task, func(ctx context.Context, client weirv1.TaskManagerServiceClient) error {
				_, err := client.AbortCheckpoint(ctx, &weirv1.AbortCheckpointRequest{Execution: task.id, CheckpointId: int64(a.ID)})
				return err
			})
		}
	}
	for _, id := range eff.Discard {
		if refs, ok := c.refs[int64(id)]; ok {
			c.discarded[int64(id)] = refs
			delete(c.refs, int64(id))
		}
		c.async(func(ctx context.Context) error {
			return c.store.DeletePrefix(ctx, checkpoint.CheckpointDir(c.jobID, int64(id))+"/")
		}, m, "discarding checkpoint")
	}
	for _, done := range eff.Completed {
		r := c.records[done.ID]
		delete(c.records, done.ID)
		if r == nil {
			continue
		}
		r.info.Status = weirv1.CheckpointStatus_CHECKPOINT_STATUS_COMPLETED
		r.info.DurationMillis = now.Sub(r.triggered).Milliseconds()
		r.info.Path = strings.TrimSuffix(r.storage, "/") + "/" + r.directory
		m.publishCheckpoint(r.info)
		m.jm.metrics.CheckpointCompleted(m.id, now.Sub(r.triggered), r.info.StateSize, time.Duration(r.info.AlignmentMillis)*time.Millisecond)
		m.log.Info("checkpoint completed", "checkpoint", done.ID, "kind", done.Kind, "duration", now.Sub(r.triggered), "size", r.info.StateSize)
		if done.Kind == coordinator.KindSavepoint {
			if req, ok := c.savepoints[done.Request]; ok {
				delete(c.savepoints, done.Request)
				req.reply <- savepointResult{path: r.info.Path}
				if req.stop {
					c.stoppedWith = r.info.Path
				}
			}
			continue
		}
		id := int64(done.ID)
		c.latest = max(c.latest, id)
		if len(r.shared) > 0 {
			c.refs[id] = r.shared
		}
		m.log.Info("checkpoint uploaded", "checkpoint", id, "uploaded_bytes", r.info.GetUploadedSize(), "shared_objects", len(r.shared))
		c.async(func(ctx context.Context) error { return checkpoint.Garbage(ctx, c.store, c.jobID, id) }, m, "collecting checkpoint garbage")
	}
	for _, f := range eff.Failed {
		r := c.records[f.ID]
		delete(c.records, f.ID)
		if r != nil {
			r.info.Status = weirv1.CheckpointStatus_CHECKPOINT_STATUS_FAILED
			r.info.Failure = f.Reason
			r.info.DurationMillis = now.Sub(r.triggered).Milliseconds()
			m.publishCheckpoint(r.info)
		}
		m.jm.metrics.CheckpointFailed(m.id)
		m.log.Warn("checkpoint failed", "checkpoint", f.ID, "kind", f.Kind, "reason", f.Reason)
		if f.Kind == coordinator.KindSavepoint {
			if req, ok := c.savepoints[f.Request]; ok {
				delete(c.savepoints, f.Request)
				req.reply <- savepointResult{err: fmt.Errorf("savepoint failed: %s", f.Reason)}
			}
			if r != nil && r.store != nil {
				dir := r.directory
				c.async(func(ctx context.Context) error { return r.store.DeletePrefix(ctx, dir+"/") }, m, "deleting a failed savepoint")
			}
		}
	}
	for _, a := range eff.Abort {
		if r := c.records[a.ID]; r != nil && a.Kind != coordinator.KindSavepoint {
			delete(c.records, a.ID)
			r.info.Status = weirv1.CheckpointStatus_CHECKPOINT_STATUS_FAILED
			r.info.Failure = a.Reason
			m.publishCheckpoint(r.info)
			m.jm.metrics.CheckpointFailed(m.id)
		}
	}
	// Triggers come after completions: a checkpoint triggered as another
	// completes (a final one that waited for a periodic one) is based on it.
	for _, t := range eff.Trigger {
		r := &record{triggered: now, storage: c.storage, store: c.store, directory: checkpoint.CheckpointDir(c.jobID, int64(t.ID))}
		kind := weirv1.SnapshotKind_SNAPSHOT_KIND_CHECKPOINT
		if t.Kind == coordinator.KindSavepoint {
			kind = weirv1.SnapshotKind_SNAPSHOT_KIND_SAVEPOINT
			req := c.savepoints[c.requestOf[t.ID]]
			r.storage, r.directory, r.stop = req.dir, checkpoint.SavepointDir(c.jobID), req.stop
			st, err := m.jm.stores.Open(ctx, r.storage)
			if err != nil {
				c.coord.Decline(t.ID, t.To[0], m.attempt, fmt.Sprintf("opening savepoint directory: %v", err))
				continue
			}
			r.store = st
		}
		if kind == weirv1.SnapshotKind_SNAPSHOT_KIND_CHECKPOINT {
			r.base = c.latest
		}
		r.info = &weirv1.CheckpointInfo{CheckpointId: int64(t.ID), Status: weirv1.CheckpointStatus_CHECKPOINT_STATUS_IN_PROGRESS,
			Kind: kind, TriggerTimeUnixMillis: now.UnixMilli(), Total: int32(len(m.tasks))}
		c.records[t.ID] = r
		m.publishCheckpoint(r.info)
		b := &weirv1.Barrier{CheckpointId: int64(t.ID), TimestampUnixMillis: now.UnixMilli(), Kind: kind,
			Storage: r.storage, Directory: r.directory, Final: t.Kind == coordinator.KindFinal, BaseCheckpointId: r.base}
		for _, st := range t.To {
			task := m.tasks[taskKey{st.Vertex, st.Subtask}]
			c.call(ctx, m, task, func(ctx context.Context, client weirv1.TaskManagerServiceClient) error {
				_, err := client.TriggerCheckpoint(ctx, &weirv1.TriggerCheckpointRequest{Execution: task.id, Barrier: b})
				return err
			})
		}
	}
	c.collect(m)
	return eff.FailJob
}

// collect deletes the shared objects of discarded checkpoints that no
// retained checkpoint references, once no pending checkpoint is based on
// the checkpoint discarded (its subtasks may reference that checkpoint's
// objects again without uploading them).
func (c *checkpointing) collect(m *jobMaster) {
	if len(c.discarded) == 0 {
		return
	}
	pinned := map[int64]bool{}
	for _, r := range c.records {
		pinned[r.base] = true
	}
	live := map[string]bool{}
	for _, refs := range c.refs {
		for _, o := range refs {
			live[o] = true
		}
	}
	for id := range pinned {
		for _, o := range c.discarded[id] {
			live[o] = true
		}
	}
	var garbage []string
	for id, refs := range c.discarded {
		if pinned[id] {
			continue
		}
		delete(c.discarded, id)
		for _, o := range refs {
			if !live[o] {
				live[o] = true // once
				garbage = append(garbage, o)
			}
		}
	}
	if len(garbage) == 0 {
		return
	}
	jobDir := c.jobID
	c.async(func(ctx context.Context) error {
		var errs []error
		for _, o := range garbage {
			errs = append(errs, c.store.Delete(ctx, checkpoint.Join(jobDir, o)))
		}
		return errors.Join(errs...)
	}, m, "deleting unreferenced shared objects")
}

// metadata builds the _metadata of a checkpoint from its acknowledgements.
func (c *checkpointing) metadata(m *jobMaster, w coordinator.MetadataWrite, r *record) *weirv1.CheckpointMetadata {
	meta := &weirv1.CheckpointMetadata{JobId: m.id, CheckpointId: int64(w.ID), MaxParallelism: m.graph.GetMaxParallelism(),
		TimestampUnixMillis: r.triggered.UnixMilli(), Kind: r.info.GetKind()}
	byUID := map[string]*weirv1.OperatorState{}
	for _, h := range w.Acks {
		for _, s := range h.(ackHandle).operators {
			st, ok := byUID[s.GetOperatorUid()]
			if !ok {
				st = &weirv1.OperatorState{OperatorUid: s.GetOperatorUid(), Parallelism: parallelismOf(m.graph, s.GetOperatorUid())}
				byUID[s.GetOperatorUid()] = st
				meta.Operators = append(meta.Operators, st)
			}
			st.Subtasks = append(st.Subtasks, s)
		}
	}
	sort.Slice(meta.Operators, func(i, j int) bool { return meta.Operators[i].GetOperatorUid() < meta.Operators[j].GetOperatorUid() })
	for _, st := range meta.Operators {
		sort.Slice(st.Subtasks, func(i, j int) bool { return st.Subtasks[i].GetSubtaskIndex() < st.Subtasks[j].GetSubtaskIndex() })
	}
	return meta
}

func parallelismOf(g *weirv1.JobGraph, uid string) int32 {
	for _, op := range g.GetOperators() {
		if op.GetUid() == uid {
			return op.GetParallelism()
		}
	}
	return 0
}

// call runs an RPC to a task's taskmanager in the background, after the
// RPCs called before it to the same task; failures are logged (a lost
// taskmanager is noticed by heartbeats).
func (c *checkpointing) call(ctx context.Context, m *jobMaster, t *taskState, f func(context.Context, weirv1.TaskManagerServiceClient) error) {
	if t == nil {
		return
	}
	client, err := m.jm.taskManager(t.address)
	if err != nil {
		return
	}
	t.rpcs.run(&c.wg, func() {
		cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := f(cctx, client); err != nil {
			m.log.Debug("checkpoint RPC failed", "task", t.name, "subtask", t.id.GetSubtaskIndex(), "err", err)
		}
	})
}

// inOrder runs functions one at a time in the order they were given, on a
// goroutine that lives while any wait. A task's checkpoint RPCs go through
// one, as Flink keeps the RPCs to a task executor in order: a source that
// has started a checkpoint declines an older one as subsumed, so a
// savepoint's trigger overtaken by the next periodic checkpoint's would
// fail the savepoint. The taskmanager only queues each trigger for its
// task, so waiting for one before sending the next costs a round trip.
type inOrder struct {
	mu      sync.Mutex
	queue   []func()
	running bool
}

// run queues f, counting the goroutine that runs the queue in wg.
func (q *inOrder) run(wg *sync.WaitGroup, f func()) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.queue = append(q.queue, f)
	if q.running {
		return
	}
	q.running = true
	wg.Add(1)
	go func() {
		defer wg.Done()
		for f := q.next(); f != nil; f = q.next() {
			f()
		}
	}()
}

// next takes the first queued function, or returns nil and marks the
// queue idle if none is queued.
func (q *inOrder) next() func() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.queue) == 0 {
		q.queue, q.running = nil, false
		return nil
	}
	f := q.queue[0]
	q.queue[0] = nil
	q.queue = q.queue[1:]
	return f
}

// async runs storage work in the background, logging failures.
func (c *checkpointing) async(f func(context.Context) error, m *jobMaster, what string) {
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := f(ctx); err != nil {
			m.log.Warn(what+" failed", "err", err)
		}
	}()
}

// damaged records that a restore point turned out damaged, so the next
// restart falls back to an older checkpoint.
func (c *checkpointing) damaged(r *restorePoint, why string) {
	if c == nil || r == nil {
		return
	}
	c.bad[r.id] = true
}

// restorePoint returns the newest intact checkpoint to restart from,
// falling back past damaged ones; the job's savepoint, or nil, if none.
func (m *jobMaster) restorePoint(ctx context.Context) *restorePoint {
	c := m.cp
	if c == nil {
		return m.start
	}
	ids, err := checkpoint.Completed(ctx, c.store, c.jobID)
	if err != nil {
		m.log.Error("listing checkpoints failed; restarting from the job's start", "err", err)
		return m.start
	}
	for _, id := range ids {
		if c.bad[id] {
			m.fallback(id, "its state failed verification")
			continue
		}
		dir := checkpoint.CheckpointDir(c.jobID, id)
		meta, err := checkpoint.ReadMetadata(ctx, c.store, dir)
		if err != nil {
			c.bad[id] = true
			m.fallback(id, err.Error())
			continue
		}
		return &restorePoint{id: id, storage: c.storage, directory: dir, meta: meta}
	}
	return m.start
}

// fallback logs and counts skipping a damaged checkpoint.
func (m *jobMaster) fallback(id int64, why string) {
	m.log.Error("checkpoint is damaged; falling back to an older one", "checkpoint", id, "reason", why)
	m.mu.Lock()
	m.mu.fallbacks++
	m.mu.Unlock()
}

// ended cleans up after the job reached a terminal status: a cancelled
// job's checkpoints are deleted unless retained on cancellation.
func (m *jobMaster) ended() {
	c := m.cp
	if c == nil {
		return
	}
	s, _ := m.view()
	if s.GetStatus() == weirv1.JobStatus_JOB_STATUS_CANCELED && !c.retainOnCancel {
		c.async(func(ctx context.Context) error { return c.store.DeletePrefix(ctx, c.jobID+"/") }, m, "deleting the checkpoints of a cancelled job")
		return
	}
	c.async(func(ctx context.Context) error { return checkpoint.SweepShared(ctx, c.store, c.jobID) }, m, "deleting unreferenced shared objects")
}

// publishCheckpoint updates the job's checkpoint history for readers.
func (m *jobMaster) publishCheckpoint(info *weirv1.CheckpointInfo) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if info.GetStatus() == weirv1.CheckpointStatus_CHECKPOINT_STATUS_COMPLETED && info.GetKind() == weirv1.SnapshotKind_SNAPSHOT_KIND_CHECKPOINT {
		m.mu.latest = max(m.mu.latest, info.GetCheckpointId())
	}
	for i, h := range m.mu.checkpoints {
		if h.GetCheckpointId() == info.GetCheckpointId() {
			m.mu.checkpoints[i] = cloneInfo(info)
			return
		}
	}
	m.mu.checkpoints = append(m.mu.checkpoints, cloneInfo(info))
	if len(m.mu.checkpoints) > historySize {
		delete(m.mu.acks, m.mu.checkpoints[0].GetCheckpointId())
		m.mu.checkpoints = m.mu.checkpoints[1:]
	}
}

// publishAck records a subtask's acknowledgement of checkpoint id, which
// is in the history, for readers.
func (m *jobMaster) publishAck(id int64, a subtaskAck) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.mu.acks[id] = append(m.mu.acks[id], a)
}

func cloneInfo(i *weirv1.CheckpointInfo) *weirv1.CheckpointInfo {
	return proto.Clone(i).(*weirv1.CheckpointInfo)
}
