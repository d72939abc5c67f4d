package jobmanager

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	weirv1 "github.com/weirstream/weir/api/proto/weir/v1"
	"github.com/weirstream/weir/internal/config"
	"github.com/weirstream/weir/internal/plan"
	"github.com/weirstream/weir/internal/scheduler"
)

// jobMaster runs one job: it waits for slots, deploys the subtasks, follows
// their states and ends the job. Its run goroutine owns the job's state;
// RPC handlers reach it only through post, and readers through view.
type jobMaster struct {
	id        string
	graph     *weirv1.JobGraph
	plan      *plan.Plan
	submitted time.Time
	jm        *JobManager
	log       *slog.Logger

	inbox struct {
		sync.Mutex
		events []event
		closed bool // run has returned: events are dropped
	}
	kick chan struct{} // size 1: events are waiting

	cfg      *config.Config // the job's configuration
	strategy scheduler.RestartStrategy
	start    *restorePoint  // the savepoint the job was submitted with
	cp       *checkpointing // nil when the job takes no checkpoints

	// Owned by run.
	attempt   int32
	restarts  int32
	slots     []slot
	tasks     map[taskKey]*taskState
	restoring *restorePoint // what the current attempt restored
	fatal     bool          // the attempt failed in a way no restart can fix

	// Published by run for readers.
	mu struct {
		sync.Mutex
		summary     *weirv1.JobSummary
		tasks       []*weirv1.TaskInfo
		checkpoints []*weirv1.CheckpointInfo // history, oldest first
		latest      int64                    // newest completed checkpoint
		fallbacks   int64                    // restores that skipped a damaged checkpoint
		acks        map[int64][]subtaskAck   // by checkpoint in the history
		exceptions  []exception              // failures of the job, oldest first
	}
}

// subtaskAck is one subtask's acknowledgement of a checkpoint.
type subtaskAck struct {
	vertex, subtask, attempt int32
	at                       time.Time
	metrics                  *weirv1.CheckpointMetrics
}

// exception is one failure of the job: what failed, and whether the job
// restarted or ended.
type exception struct {
	at        time.Time
	cause     string
	attempt   int32 // the attempt that failed
	restarted bool
	delay     time.Duration // before the restart
}

// exceptionsSize bounds the failures a job remembers.
const exceptionsSize = 100

type taskKey struct {
	vertex  int32
	subtask int32
}

type taskState struct {
	id      *weirv1.ExecutionID
	name    string
	ops     []int32
	tm      string
	address string
	state   weirv1.ExecutionState
	failure string
	metrics *weirv1.TaskMetrics
	rpcs    inOrder // checkpoint RPCs to this attempt, in the order issued
}

func (t *taskState) terminal() bool {
	switch t.state {
	case weirv1.ExecutionState_EXECUTION_STATE_FINISHED, weirv1.ExecutionState_EXECUTION_STATE_CANCELED,
		weirv1.ExecutionState_EXECUTION_STATE_FAILED:
		return true
	}
	return false
}

// event is something that happened to the job, applied on its goroutine.
type event interface{ isEvent() }

type taskUpdate struct {
	id      *weirv1.ExecutionID
	state   weirv1.ExecutionState
	failure string
	corrupt bool // the task failed restoring damaged state
	// The failure cannot be fixed by a restart (stream.ErrUnrecoverable).
	unrecoverable bool
	metrics       *weirv1.TaskMetrics
}

type tmLost struct{ tm string }

type cancelRequest struct{}

func (taskUpdate) isEvent()    {}
func (tmLost) isEvent()        {}
func (cancelRequest) isEvent() {}

func newJobMaster(jm *JobManager, id string, g *weirv1.JobGraph, p *plan.Plan, now time.Time, j *jobSetup) *jobMaster {
	m := &jobMaster{id: id, graph: g, plan: p, submitted: now, jm: jm, kick: make(chan struct{}, 1),
		tasks: map[taskKey]*taskState{}, log: jm.log.With("job", id, "name", g.GetName()),
		cfg: j.cfg, strategy: j.strategy, start: j.start, cp: j.cp}
	m.mu.acks = map[int64][]subtaskAck{}
	jm.metrics.JobStarted(id)
	m.mu.summary = &weirv1.JobSummary{JobId: id, Name: g.GetName(), Status: weirv1.JobStatus_JOB_STATUS_CREATED,
		StartTimeUnixMillis: now.UnixMilli(), Parallelism: int32(p.MaxParallelism())}
	return m
}

// post queues an event for the job's goroutine; it never blocks. It
// reports false, dropping the event, once the job has ended.
func (m *jobMaster) post(e event) bool {
	m.inbox.Lock()
	if m.inbox.closed {
		m.inbox.Unlock()
		return false
	}
	m.inbox.events = append(m.inbox.events, e)
	m.inbox.Unlock()
	select {
	case m.kick <- struct{}{}:
	default:
	}
	return true
}

func (m *jobMaster) take() []event {
	m.inbox.Lock()
	defer m.inbox.Unlock()
	ev := m.inbox.events
	m.inbox.events = nil
	return ev
}

// view returns copies of the job's published summary and tasks.
func (m *jobMaster) view() (*weirv1.JobSummary, []*weirv1.TaskInfo) {
	m.mu.Lock()
	defer m.mu.Unlock()
	tasks := make([]*weirv1.TaskInfo, len(m.mu.tasks))
	for i, t := range m.mu.tasks {
		tasks[i] = proto.Clone(t).(*weirv1.TaskInfo)
	}
	return proto.Clone(m.mu.summary).(*weirv1.JobSummary), tasks
}

func (m *jobMaster) setStatus(st weirv1.JobStatus, msg string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.mu.summary.Restarts = m.restarts
	if m.mu.summary.Status != st {
		m.log.Info("job status", "status", statusName(st), "message", msg)
	}
	m.mu.summary.Status, m.mu.summary.StatusMessage = st, msg
	switch st {
	case weirv1.JobStatus_JOB_STATUS_FINISHED, weirv1.JobStatus_JOB_STATUS_FAILED, weirv1.JobStatus_JOB_STATUS_CANCELED:
		m.mu.summary.EndTimeUnixMillis = m.jm.clock.Now().UnixMilli()
	}
}

func (m *jobMaster) publishTasks() {
	keys := make([]taskKey, 0, len(m.tasks))
	for k := range m.tasks {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].vertex != keys[j].vertex {
			return keys[i].vertex < keys[j].vertex
		}
		return keys[i].subtask < keys[j].subtask
	})
	infos := make([]*weirv1.TaskInfo, len(keys))
	for i, k := range keys {
		t := m.tasks[k]
		infos[i] = &weirv1.TaskInfo{Execution: t.id, Name: t.name, OperatorIds: t.ops, State: t.state,
			TaskManagerId: t.tm, Failure: t.failure, Metrics: t.metrics}
	}
	m.mu.Lock()
	m.mu.tasks = infos
	m.mu.Unlock()
}

// recordException remembers a failure of the current attempt for the
// exceptions history.
func (m *jobMaster) recordException(cause string, restarted bool, delay time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.mu.exceptions = append(m.mu.exceptions, exception{at: m.jm.clock.Now(), cause: cause, attempt: m.attempt,
		restarted: restarted, delay: delay})
	if len(m.mu.exceptions) > exceptionsSize {
		m.mu.exceptions = m.mu.exceptions[1:]
	}
}

// run drives the job to a terminal status: it waits for slots, deploys,
// follows the tasks, and on failure restarts from the latest checkpoint as
// the restart strategy allows.
func (m *jobMaster) run(ctx context.Context) {
	defer func() {
		m.inbox.Lock()
		m.inbox.closed, m.inbox.events = true, nil
		m.inbox.Unlock()
	}()
	defer m.publishTasks()
	defer m.cp.close()
	if !m.acquireSlots(ctx, m.submitted) {
		return
	}
	defer func() { m.jm.resources.release(m.slots) }()

	restore := m.start
	for {
		m.attempt++
		cause := ""
		if err := m.deploy(ctx, restore); err != nil {
			cause = fmt.Sprintf("deploying the job failed: %v", err)
		} else {
			m.cp.deployed(m.attempt)
			m.setStatus(weirv1.JobStatus_JOB_STATUS_RUNNING, "")
			var done bool
			if cause, done = m.follow(ctx); done {
				m.ended()
				return
			}
		}
		if m.fatal {
			m.fail(ctx, cause+" (not restarted: a restart cannot fix this failure)")
			m.ended()
			return
		}
		delay, ok := m.strategy.OnFailure(m.jm.clock.Now())
		m.recordException(cause, ok, delay)
		if !ok {
			m.fail(ctx, fmt.Sprintf("%s (%s: no more restarts)", cause, m.strategy))
			m.ended()
			return
		}
		m.restarts++
		m.jm.metrics.Restarted(m.id)
		m.log.Warn("restarting the job", "cause", cause, "delay", delay, "attempt", m.attempt+1)
		m.setStatus(weirv1.JobStatus_JOB_STATUS_RESTARTING, fmt.Sprintf("%s; restarting in %s", cause, delay))
		m.cancelTasks(ctx)
		m.awaitTerminal(ctx)
		m.jm.resources.release(m.slots)
		prev := m.slots
		m.slots = nil
		if !m.sleep(ctx, delay) || !m.acquireSlots(ctx, m.jm.clock.Now()) {
			m.ended()
			return
		}
		m.slots = keepPlacement(m.slots, prev)
		restore = m.restorePoint(ctx)
	}
}

// acquireSlots waits for the job's slots, from since until the slot request
// timeout. False means the job ended (failed, cancelled) meanwhile.
func (m *jobMaster) acquireSlots(ctx context.Context, since time.Time) bool {
	need := m.plan.MaxParallelism()
	deadline := since.Add(m.jm.opts.SlotRequestTimeout)
	status := weirv1.JobStatus_JOB_STATUS_CREATED
	if m.attempt > 0 {
		status = weirv1.JobStatus_JOB_STATUS_RESTARTING
	}
	for {
		changed := m.jm.resources.changed()
		if slots, ok := m.jm.resources.allocate(m.id, need); ok {
			m.slots = slots
			return true
		}
		m.setStatus(status, m.jm.resources.waitingMessage(need, m.jm.opts.SlotRequestTimeout))
		wait := deadline.Sub(m.jm.clock.Now())
		if wait <= 0 {
			m.setStatus(weirv1.JobStatus_JOB_STATUS_FAILED, fmt.Sprintf("could not get %d slots within slot.request.timeout %s: %s",
				need, m.jm.opts.SlotRequestTimeout, m.jm.resources.waitingMessage(need, m.jm.opts.SlotRequestTimeout)))
			return false
		}
		select {
		case <-ctx.Done():
			m.setStatus(weirv1.JobStatus_JOB_STATUS_CANCELED, "the jobmanager shut down")
			return false
		case <-changed:
		case <-m.jm.clock.After(wait):
		case <-m.kick:
			if m.cancelRequested(ctx) {
				return false
			}
		}
	}
}

// sleep waits d before a restart; false if the job was cancelled meanwhile.
func (m *jobMaster) sleep(ctx context.Context, d time.Duration) bool {
	timer := m.jm.clock.After(d)
	for {
		select {
		case <-ctx.Done():
			m.setStatus(weirv1.JobStatus_JOB_STATUS_CANCELED, "the jobmanager shut down")
			return false
		case <-timer:
			return true
		case <-m.kick:
			if m.cancelRequested(ctx) {
				return false
			}
		}
	}
}

// cancelRequested drains events while no task runs; a cancel request
// cancels the job, savepoint requests are refused.
func (m *jobMaster) cancelRequested(ctx context.Context) bool {
	for _, e := range m.take() {
		switch e := e.(type) {
		case cancelRequest:
			m.setStatus(weirv1.JobStatus_JOB_STATUS_CANCELED, "canceled by request")
			return true
		case savepointRequest:
			e.reply <- savepointResult{err: fmt.Errorf("job %s is not running", m.id)}
		}
	}
	return false
}

// deploy sends every subtask to its slot: subtask i of every vertex goes to
// slot i (slot sharing, as in Flink). restore, if set, is the snapshot the
// subtasks resume from.
func (m *jobMaster) deploy(ctx context.Context, restore *restorePoint) error {
	m.tasks = map[taskKey]*taskState{}
	m.restoring = restore
	var locs []*weirv1.TaskLocation
	for _, v := range m.plan.Vertices {
		for i := range v.Parallelism {
			s := m.slots[i]
			locs = append(locs, &weirv1.TaskLocation{VertexId: v.ID, SubtaskIndex: int32(i), TaskManagerId: s.tm, RpcAddress: s.address})
			id := &weirv1.ExecutionID{JobId: m.id, VertexId: v.ID, SubtaskIndex: int32(i), Attempt: m.attempt}
			m.tasks[taskKey{v.ID, int32(i)}] = &taskState{id: id, name: v.Name, ops: v.Ops, tm: s.tm, address: s.address,
				state: weirv1.ExecutionState_EXECUTION_STATE_DEPLOYING, metrics: &weirv1.TaskMetrics{}}
		}
	}
	m.publishTasks()
	if restore != nil {
		m.log.Info("restoring", "checkpoint", restore.id, "storage", restore.storage, "directory", restore.directory)
	}
	// Deploy consumers before producers so producers find their consumers'
	// gates registered (they would wait for them otherwise).
	for vi := len(m.plan.Vertices) - 1; vi >= 0; vi-- {
		v := m.plan.Vertices[vi]
		for i := range v.Parallelism {
			t := m.tasks[taskKey{v.ID, int32(i)}]
			client, err := m.jm.taskManager(m.slots[i].address)
			if err != nil {
				return err
			}
			req := &weirv1.DeployTaskRequest{Execution: t.id, Graph: m.graph, Locations: locs, Restore: restore.forSubtask(m.graph, v.Ops, i)}
			dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			_, err = client.DeployTask(dctx, req)
			cancel()
			if err != nil {
				m.jm.unreachable(t.tm, err)
				return fmt.Errorf("subtask %d of %q on taskmanager %s: %w", i, v.Name, t.tm, err)
			}
		}
	}
	return nil
}

// follow applies events until every task has finished, the job is
// cancelled or stopped (done), or it failed (the cause, for a restart).
func (m *jobMaster) follow(ctx context.Context) (cause string, done bool) {
	var tick <-chan time.Time
	if m.cp != nil {
		t := m.jm.clock.NewTicker(m.cp.tick)
		defer t.Stop()
		tick = t.C()
	}
	for {
		select {
		case <-ctx.Done():
			m.cancelTasks(context.Background())
			m.setStatus(weirv1.JobStatus_JOB_STATUS_CANCELED, "the jobmanager shut down")
			return "", true
		case <-tick:
			m.cp.coord.Tick()
		case <-m.kick:
		}
		for _, e := range m.take() {
			switch e := e.(type) {
			case taskUpdate:
				t := m.apply(e)
				if t == nil {
					continue
				}
				switch t.state {
				case weirv1.ExecutionState_EXECUTION_STATE_FAILED:
					if e.corrupt && m.restoring != nil {
						m.cp.damaged(m.restoring, t.failure)
					}
					m.fatal = m.fatal || e.unrecoverable
					return fmt.Sprintf("subtask %d of %q failed on taskmanager %s: %s", t.id.GetSubtaskIndex(), t.name, t.tm, t.failure), false
				case weirv1.ExecutionState_EXECUTION_STATE_CANCELED:
					return fmt.Sprintf("subtask %d of %q was canceled on taskmanager %s", t.id.GetSubtaskIndex(), t.name, t.tm), false
				}
			case tmLost:
				for _, t := range m.tasks {
					if t.tm == e.tm && !t.terminal() {
						t.state = weirv1.ExecutionState_EXECUTION_STATE_FAILED
						t.failure = fmt.Sprintf("taskmanager %s lost: no heartbeat within heartbeat.timeout %s", e.tm, m.jm.opts.HeartbeatTimeout)
						return fmt.Sprintf("subtask %d of %q failed: %s", t.id.GetSubtaskIndex(), t.name, t.failure), false
					}
				}
			case cancelRequest:
				m.setStatus(weirv1.JobStatus_JOB_STATUS_CANCELLING, "canceled by request")
				m.cancelTasks(ctx)
				m.awaitTerminal(ctx)
				m.setStatus(weirv1.JobStatus_JOB_STATUS_CANCELED, "canceled by request")
				return "", true
			case endOfInput:
				m.cp.endOfInput(m, e.id)
			case ackEvent:
				m.cp.ack(m, e)
			case declineEvent:
				m.cp.decline(m, e)
			case persistedEvent:
				m.cp.coord.Persisted(e.id, e.err)
			case savepointRequest:
				m.cp.requestSavepoint(m, e)
			}
		}
		if m.cp != nil {
			if reason := m.cp.execute(ctx, m); reason != "" {
				return reason, false
			}
			if path := m.cp.stoppedWith; path != "" {
				m.cancelTasks(ctx)
				m.awaitTerminal(ctx)
				m.setStatus(weirv1.JobStatus_JOB_STATUS_FINISHED, "stopped with savepoint "+path)
				return "", true
			}
		}
		m.publishTasks()
		if m.allFinished() {
			m.setStatus(weirv1.JobStatus_JOB_STATUS_FINISHED, "")
			return "", true
		}
	}
}

// apply records a task update; updates from another attempt are stale
// (a zombie) and ignored.
func (m *jobMaster) apply(u taskUpdate) *taskState {
	t, ok := m.tasks[taskKey{u.id.GetVertexId(), u.id.GetSubtaskIndex()}]
	if !ok || u.id.GetAttempt() != t.id.GetAttempt() {
		return nil
	}
	if u.metrics != nil {
		t.metrics = u.metrics
	}
	if u.state == weirv1.ExecutionState_EXECUTION_STATE_UNSPECIFIED || t.terminal() {
		return nil
	}
	if u.state == weirv1.ExecutionState_EXECUTION_STATE_FAILED && t.state == weirv1.ExecutionState_EXECUTION_STATE_CANCELING {
		// A task that fails while it is being cancelled failed because
		// of the cancellation (an input or output torn down before its
		// own cancel arrived): it ends CANCELED, as in Flink.
		t.state, t.failure = weirv1.ExecutionState_EXECUTION_STATE_CANCELED, ""
		return t
	}
	t.state, t.failure = u.state, u.failure
	return t
}

func (m *jobMaster) allFinished() bool {
	for _, t := range m.tasks {
		if t.state != weirv1.ExecutionState_EXECUTION_STATE_FINISHED {
			return false
		}
	}
	return len(m.tasks) > 0
}

// fail ends the job as FAILED: the remaining tasks are cancelled first.
func (m *jobMaster) fail(ctx context.Context, reason string) {
	m.log.Error("job failed", "reason", reason)
	m.setStatus(weirv1.JobStatus_JOB_STATUS_FAILING, reason)
	m.cancelTasks(ctx)
	m.awaitTerminal(ctx)
	m.setStatus(weirv1.JobStatus_JOB_STATUS_FAILED, reason)
}

func (m *jobMaster) cancelTasks(ctx context.Context) {
	for _, t := range m.tasks {
		if t.terminal() {
			continue
		}
		t.state = weirv1.ExecutionState_EXECUTION_STATE_CANCELING
		client, err := m.jm.taskManager(t.address)
		if err != nil {
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		if _, err := client.CancelTask(cctx, &weirv1.CancelTaskRequest{Execution: t.id}); err != nil {
			m.jm.unreachable(t.tm, err)
			m.log.Warn("cancelling a task failed", "task", t.name, "subtask", t.id.GetSubtaskIndex(), "err", err)
		}
		cancel()
	}
	m.publishTasks()
}

// awaitTerminal waits, bounded, until every task reports a terminal state or
// its taskmanager is lost.
func (m *jobMaster) awaitTerminal(ctx context.Context) {
	timeout := m.jm.clock.After(m.jm.opts.HeartbeatTimeout)
	for {
		done := true
		for _, t := range m.tasks {
			done = done && t.terminal()
		}
		if done {
			m.publishTasks()
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-timeout:
			m.log.Warn("tasks did not confirm cancellation in time")
			return
		case <-m.kick:
		}
		for _, e := range m.take() {
			switch e := e.(type) {
			case taskUpdate:
				m.apply(e)
			case tmLost:
				for _, t := range m.tasks {
					if t.tm == e.tm && !t.terminal() {
						t.state = weirv1.ExecutionState_EXECUTION_STATE_FAILED
					}
				}
			}
		}
	}
}

// keepPlacement orders the slots of a restart so that slot i is on the
// taskmanager that held slot i before whenever that taskmanager is among
// them: subtasks go back where their local state is (local recovery), and
// a restart moves as little as it can.
func keepPlacement(slots, prev []slot) []slot {
	out := make([]slot, len(slots))
	taken := make([]bool, len(slots))
	placed := make([]bool, len(slots))
	for i := range min(len(slots), len(prev)) {
		for j, s := range slots {
			if !taken[j] && s.tm == prev[i].tm {
				out[i], taken[j], placed[i] = s, true, true
				break
			}
		}
	}
	j := 0
	for i := range out {
		if placed[i] {
			continue
		}
		for taken[j] {
			j++
		}
		out[i], taken[j] = slots[j], true
	}
	return out
}
