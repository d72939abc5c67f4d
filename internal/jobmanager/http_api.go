package jobmanager

import (
	"net/http"
	"sort"
	"strconv"
	"strings"

	weirv1 "github.com/weirstream/weir/api/proto/weir/v1"
)

// JobDetailJSON is one job with its execution plan and subtasks, shaped
// like Flink's /jobs/:jobid. Times are Unix milliseconds.
type JobDetailJSON struct {
	JobJSON
	Duration       int64         `json:"duration"` // milliseconds, until now for a job that has not ended
	Restarts       int32         `json:"restarts"`
	Parallelism    int32         `json:"parallelism"`
	MaxParallelism int32         `json:"max-parallelism"`
	Checkpointing  bool          `json:"checkpointing"`
	Vertices       []VertexJSON  `json:"vertices"` // in topological order
	Edges          []EdgeJSON    `json:"edges"`
	Subtasks       []SubtaskJSON `json:"subtasks"`
}

// VertexJSON is a task: a chain of operators run by Parallelism subtasks.
// Its metrics sum those of its current subtasks.
type VertexJSON struct {
	ID          int32          `json:"id"` // the chain head's operator id
	Name        string         `json:"name"`
	Parallelism int            `json:"parallelism"`
	State       string         `json:"status"`
	Tasks       map[string]int `json:"tasks"` // subtasks by state
	Operators   []OperatorJSON `json:"operators"`
	Metrics     MetricsJSON    `json:"metrics"`
}

// OperatorJSON is one operator of a chain.
type OperatorJSON struct {
	ID   int32  `json:"id"`
	UID  string `json:"uid"`
	Name string `json:"name"`
	Kind string `json:"kind"` // SOURCE, MAP, …
}

// EdgeJSON is a network exchange between two tasks.
type EdgeJSON struct {
	Source       int32  `json:"source"` // vertex ids
	Target       int32  `json:"target"`
	ShipStrategy string `json:"ship_strategy"` // FORWARD, REBALANCE or KEY_GROUP
}

// MetricsJSON are a subtask's counters since its attempt started, or
// their sum over a vertex's subtasks.
type MetricsJSON struct {
	ReadRecords         int64 `json:"read-records"`
	WriteRecords        int64 `json:"write-records"`
	ReadBytesRemote     int64 `json:"read-bytes-remote"` // from other taskmanagers
	WriteBytesRemote    int64 `json:"write-bytes-remote"`
	BackpressuredMillis int64 `json:"backpressured-millis"`
}

// SubtaskJSON is the current attempt of one subtask.
type SubtaskJSON struct {
	Vertex      int32       `json:"vertex"`
	Name        string      `json:"name"`
	Subtask     int32       `json:"subtask"`
	Attempt     int32       `json:"attempt"`
	State       string      `json:"status"`
	TaskManager string      `json:"taskmanager"`
	Failure     string      `json:"failure,omitempty"`
	Metrics     MetricsJSON `json:"metrics"`
}

func metricsJSON(m *weirv1.TaskMetrics) MetricsJSON {
	return MetricsJSON{ReadRecords: m.GetRecordsIn(), WriteRecords: m.GetRecordsOut(), ReadBytesRemote: m.GetRemoteBytesIn(),
		WriteBytesRemote: m.GetRemoteBytesOut(), BackpressuredMillis: m.GetBackpressuredMillis()}
}

func (a *MetricsJSON) add(b MetricsJSON) {
	a.ReadRecords += b.ReadRecords
	a.WriteRecords += b.WriteRecords
	a.ReadBytesRemote += b.ReadBytesRemote
	a.WriteBytesRemote += b.WriteBytesRemote
	a.BackpressuredMillis += b.BackpressuredMillis
}

func executionStateName(s weirv1.ExecutionState) string {
	return strings.TrimPrefix(s.String(), "EXECUTION_STATE_")
}

func jobJSON(s *weirv1.JobSummary) JobJSON {
	return JobJSON{ID: s.GetJobId(), Name: s.GetName(), State: statusName(s.GetStatus()),
		Message: s.GetStatusMessage(), StartTime: s.GetStartTimeUnixMillis(), EndTime: s.GetEndTimeUnixMillis()}
}

// detail describes job m at now (Unix milliseconds).
func (m *jobMaster) detail(now int64) JobDetailJSON {
	s, tasks := m.view()
	d := JobDetailJSON{JobJSON: jobJSON(s), Restarts: s.GetRestarts(), Parallelism: s.GetParallelism(),
		MaxParallelism: m.graph.GetMaxParallelism(), Checkpointing: m.cp != nil,
		Vertices: []VertexJSON{}, Edges: []EdgeJSON{}, Subtasks: []SubtaskJSON{}}
	end := s.GetEndTimeUnixMillis()
	if end == 0 {
		end = now
	}
	d.Duration = max(0, end-s.GetStartTimeUnixMillis())
	ops := m.graph.GetOperators()
	index := map[int32]int{}
	for _, v := range m.plan.Vertices {
		vj := VertexJSON{ID: v.ID, Name: v.Name, Parallelism: v.Parallelism, Tasks: map[string]int{}, Operators: []OperatorJSON{}}
		for _, op := range v.Ops {
			o := ops[op]
			vj.Operators = append(vj.Operators, OperatorJSON{ID: o.GetId(), UID: o.GetUid(), Name: o.GetName(),
				Kind: strings.TrimPrefix(o.GetKind().String(), "OPERATOR_KIND_")})
		}
		for _, e := range v.Outputs {
			d.Edges = append(d.Edges, EdgeJSON{Source: e.FromVertex, Target: e.ToVertex,
				ShipStrategy: strings.TrimPrefix(e.Partitioning.String(), "PARTITIONING_")})
		}
		index[v.ID] = len(d.Vertices)
		d.Vertices = append(d.Vertices, vj)
	}
	for _, t := range tasks {
		e := t.GetExecution()
		sj := SubtaskJSON{Vertex: e.GetVertexId(), Name: t.GetName(), Subtask: e.GetSubtaskIndex(), Attempt: e.GetAttempt(),
			State: executionStateName(t.GetState()), TaskManager: t.GetTaskManagerId(), Failure: t.GetFailure(),
			Metrics: metricsJSON(t.GetMetrics())}
		d.Subtasks = append(d.Subtasks, sj)
		if i, ok := index[sj.Vertex]; ok {
			d.Vertices[i].Tasks[sj.State]++
			d.Vertices[i].Metrics.add(sj.Metrics)
		}
	}
	for i := range d.Vertices {
		d.Vertices[i].State = vertexState(d.Vertices[i].Tasks)
	}
	return d
}

// vertexState sums up the states of a vertex's subtasks as Flink does: a
// failure shows first, then any subtask not yet running or still winding
// down, then RUNNING, and FINISHED only when all are.
func vertexState(tasks map[string]int) string {
	if len(tasks) == 0 {
		return "CREATED"
	}
	for _, s := range []string{"FAILED", "CANCELING", "CANCELED", "DEPLOYING", "RUNNING"} {
		if tasks[s] > 0 {
			return s
		}
	}
	return "FINISHED"
}

// ExceptionsJSON is a job's failure history, shaped like Flink's
// /jobs/:jobid/exceptions: newest first.
type ExceptionsJSON struct {
	Restarts   int32           `json:"restarts"`
	Exceptions []ExceptionJSON `json:"exceptions"`
}

// ExceptionJSON is one failure: its cause, the attempt that failed, and
// whether the job restarted after it (and after what delay) or ended.
type ExceptionJSON struct {
	Timestamp    int64  `json:"timestamp"`
	Cause        string `json:"cause"`
	Attempt      int32  `json:"attempt"`
	Restarted    bool   `json:"restarted"`
	RestartDelay int64  `json:"restart_delay"` // milliseconds
}

func (m *jobMaster) exceptions() ExceptionsJSON {
	s, _ := m.view()
	m.mu.Lock()
	defer m.mu.Unlock()
	out := ExceptionsJSON{Restarts: s.GetRestarts(), Exceptions: []ExceptionJSON{}}
	for i := len(m.mu.exceptions) - 1; i >= 0; i-- {
		e := m.mu.exceptions[i]
		out.Exceptions = append(out.Exceptions, ExceptionJSON{Timestamp: e.at.UnixMilli(), Cause: e.cause, Attempt: e.attempt,
			Restarted: e.restarted, RestartDelay: e.delay.Milliseconds()})
	}
	return out
}

// CheckpointConfigJSON is a job's checkpointing configuration, shaped like
// Flink's /jobs/:jobid/checkpoints/config. Durations are milliseconds.
type CheckpointConfigJSON struct {
	Enabled           bool   `json:"enabled"`
	Mode              string `json:"mode"` // EXACTLY_ONCE or AT_LEAST_ONCE
	Interval          int64  `json:"interval"`
	Timeout           int64  `json:"timeout"`
	MinPause          int64  `json:"min_pause"`
	MaxConcurrent     int    `json:"max_concurrent"`
	TolerableFailures int    `json:"tolerable_failed_checkpoints"`
	NumRetained       int    `json:"num_retained"`
	Storage           string `json:"checkpoint_storage"`
	SavepointsDir     string `json:"savepoints_dir"`
	Retention         string `json:"externalization"`
}

// CheckpointDetailJSON is one checkpoint with every subtask's part, shaped
// like Flink's /jobs/:jobid/checkpoints/details/:checkpointid.
type CheckpointDetailJSON struct {
	CheckpointJSON
	Subtasks []SubtaskAckJSON `json:"subtasks"`
}

// SubtaskAckJSON is one subtask's part in a checkpoint: ACKNOWLEDGED with
// its figures, or PENDING (never acknowledged, for a failed checkpoint).
type SubtaskAckJSON struct {
	Vertex            int32  `json:"vertex"`
	Name              string `json:"name"`
	Subtask           int32  `json:"subtask"`
	Status            string `json:"status"`
	Attempt           int32  `json:"attempt,omitempty"`
	AckTimestamp      int64  `json:"ack_timestamp,omitempty"`
	EndToEndDuration  int64  `json:"end_to_end_duration"` // trigger to acknowledgement
	StateSize         int64  `json:"state_size"`
	UploadedBytes     int64  `json:"uploaded_bytes"` // written to storage: only new files in an incremental checkpoint
	AlignmentDuration int64  `json:"alignment_duration"`
	SyncDuration      int64  `json:"sync_duration"`
	AsyncDuration     int64  `json:"async_duration"`
}

// checkpointDetail describes checkpoint id of the history; false if the
// history does not hold it.
func (m *jobMaster) checkpointDetail(id int64) (CheckpointDetailJSON, bool) {
	m.mu.Lock()
	var info *weirv1.CheckpointInfo
	for _, c := range m.mu.checkpoints {
		if c.GetCheckpointId() == id {
			info = cloneInfo(c)
		}
	}
	acks := append([]subtaskAck(nil), m.mu.acks[id]...)
	m.mu.Unlock()
	if info == nil {
		return CheckpointDetailJSON{}, false
	}
	one := checkpointsJSON(&weirv1.ListCheckpointsResponse{Checkpoints: []*weirv1.CheckpointInfo{info}})
	d := CheckpointDetailJSON{CheckpointJSON: one.History[0], Subtasks: []SubtaskAckJSON{}}
	type key struct{ v, s int32 }
	byKey := map[key]subtaskAck{}
	for _, a := range acks {
		byKey[key{a.vertex, a.subtask}] = a
	}
	for _, v := range m.plan.Vertices {
		for i := range v.Parallelism {
			sa := SubtaskAckJSON{Vertex: v.ID, Name: v.Name, Subtask: int32(i), Status: "PENDING"}
			if a, ok := byKey[key{v.ID, int32(i)}]; ok {
				sa.Status, sa.Attempt, sa.AckTimestamp = "ACKNOWLEDGED", a.attempt, a.at.UnixMilli()
				sa.EndToEndDuration = max(0, sa.AckTimestamp-info.GetTriggerTimeUnixMillis())
				sa.StateSize, sa.AlignmentDuration = a.metrics.GetStateSize(), a.metrics.GetAlignmentDurationMillis()
				sa.UploadedBytes = a.metrics.GetUploadedBytes()
				sa.SyncDuration, sa.AsyncDuration = a.metrics.GetSyncDurationMillis(), a.metrics.GetAsyncDurationMillis()
			}
			d.Subtasks = append(d.Subtasks, sa)
		}
	}
	return d, true
}

// TaskManagerJSON is a registered taskmanager, shaped like Flink's
// /taskmanagers entries.
type TaskManagerJSON struct {
	ID            string `json:"id"`
	Address       string `json:"address"`
	SlotsTotal    int    `json:"slotsNumber"`
	SlotsFree     int    `json:"freeSlots"`
	LastHeartbeat int64  `json:"timeSinceLastHeartbeat"` // Unix milliseconds of the last heartbeat, as Flink's field
	Subtasks      int    `json:"subtasks"`               // running here, of any job
}

// TaskManagerDetailJSON is a taskmanager and the subtasks it runs.
type TaskManagerDetailJSON struct {
	TaskManagerJSON
	Tasks []TaskManagerTaskJSON `json:"tasks"`
}

// TaskManagerTaskJSON is a subtask on a taskmanager.
type TaskManagerTaskJSON struct {
	Job     string `json:"jid"`
	JobName string `json:"job-name"`
	SubtaskJSON
}

// taskManagerTasks lists the subtasks each taskmanager runs, by id; ended
// jobs are left out.
func (jm *JobManager) taskManagerTasks() map[string][]TaskManagerTaskJSON {
	out := map[string][]TaskManagerTaskJSON{}
	for _, m := range jm.jobs() {
		s, tasks := m.view()
		switch s.GetStatus() {
		case weirv1.JobStatus_JOB_STATUS_FINISHED, weirv1.JobStatus_JOB_STATUS_FAILED, weirv1.JobStatus_JOB_STATUS_CANCELED:
			continue
		}
		for _, t := range tasks {
			e := t.GetExecution()
			out[t.GetTaskManagerId()] = append(out[t.GetTaskManagerId()], TaskManagerTaskJSON{Job: s.GetJobId(), JobName: s.GetName(),
				SubtaskJSON: SubtaskJSON{Vertex: e.GetVertexId(), Name: t.GetName(), Subtask: e.GetSubtaskIndex(), Attempt: e.GetAttempt(),
					State: executionStateName(t.GetState()), TaskManager: t.GetTaskManagerId(), Failure: t.GetFailure(),
					Metrics: metricsJSON(t.GetMetrics())}})
		}
	}
	return out
}

func (jm *JobManager) taskManagersJSON() ([]TaskManagerJSON, map[string][]TaskManagerTaskJSON) {
	tasks := jm.taskManagerTasks()
	out := []TaskManagerJSON{}
	for _, tm := range jm.resources.list() {
		out = append(out, TaskManagerJSON{ID: tm.id, Address: tm.address, SlotsTotal: tm.slots, SlotsFree: tm.free,
			LastHeartbeat: tm.lastHeartbeat.UnixMilli(), Subtasks: len(tasks[tm.id])})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, tasks
}

// apiRoutes adds the JSON resources under /api/v1 beyond the overview,
// the job list and the checkpoint history.
func (jm *JobManager) apiRoutes(mux *http.ServeMux) {
	withJob := func(f func(w http.ResponseWriter, r *http.Request, m *jobMaster)) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			m, err := jm.job(r.PathValue("id"))
			if err != nil {
				writeError(w, err)
				return
			}
			f(w, r, m)
		}
	}
	mux.HandleFunc("GET /api/v1/jobs/{id}", withJob(func(w http.ResponseWriter, r *http.Request, m *jobMaster) {
		writeJSON(w, m.detail(jm.clock.Now().UnixMilli()))
	}))
	mux.HandleFunc("GET /api/v1/jobs/{id}/exceptions", withJob(func(w http.ResponseWriter, r *http.Request, m *jobMaster) {
		writeJSON(w, m.exceptions())
	}))
	mux.HandleFunc("GET /api/v1/jobs/{id}/checkpoints/config", withJob(func(w http.ResponseWriter, r *http.Request, m *jobMaster) {
		if m.cp == nil {
			writeJSON(w, CheckpointConfigJSON{})
			return
		}
		writeJSON(w, m.cp.conf)
	}))
	mux.HandleFunc("GET /api/v1/jobs/{id}/checkpoints/details/{cid}", withJob(func(w http.ResponseWriter, r *http.Request, m *jobMaster) {
		cid, err := strconv.ParseInt(r.PathValue("cid"), 10, 64)
		if err != nil || cid < 1 {
			writeErrorMessage(w, http.StatusBadRequest, "checkpoint id "+strconv.Quote(r.PathValue("cid"))+" is not a positive integer")
			return
		}
		d, ok := m.checkpointDetail(cid)
		if !ok {
			writeErrorMessage(w, http.StatusNotFound, "job "+m.id+" has no checkpoint "+strconv.FormatInt(cid, 10)+" in its history")
			return
		}
		writeJSON(w, d)
	}))
	mux.HandleFunc("GET /api/v1/taskmanagers", func(w http.ResponseWriter, r *http.Request) {
		tms, _ := jm.taskManagersJSON()
		writeJSON(w, map[string]any{"taskmanagers": tms})
	})
	mux.HandleFunc("GET /api/v1/taskmanagers/{id}", func(w http.ResponseWriter, r *http.Request) {
		tms, tasks := jm.taskManagersJSON()
		id := r.PathValue("id")
		for _, tm := range tms {
			if tm.ID == id {
				d := TaskManagerDetailJSON{TaskManagerJSON: tm, Tasks: tasks[id]}
				if d.Tasks == nil {
					d.Tasks = []TaskManagerTaskJSON{}
				}
				writeJSON(w, d)
				return
			}
		}
		writeErrorMessage(w, http.StatusNotFound, "unknown taskmanager "+strconv.Quote(id))
	})
	mux.HandleFunc("GET /api/v1/", func(w http.ResponseWriter, r *http.Request) {
		writeErrorMessage(w, http.StatusNotFound, "no such resource: "+r.URL.Path+" (see docs/observability.md)")
	})
}
