package jobmanager

import (
	"encoding/json"
	"maps"
	"net/http"
	"slices"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	weirv1 "github.com/weirstream/weir/api/proto/weir/v1"
	"github.com/weirstream/weir/internal/metrics"
	"github.com/weirstream/weir/internal/web"
)

// Handler serves the jobmanager's HTTP endpoints: /healthz (the process
// runs), /readyz (it takes jobs and registrations), /metrics (Prometheus),
// a JSON API under /api/v1 shaped like Flink's REST resources
// (docs/observability.md), and the dashboard that reads it at /.
func (jm *JobManager) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if why := jm.notReady(); why != "" {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(why + "\n"))
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.Handle("GET /metrics", metrics.Handler(jm.registry))
	jm.apiRoutes(mux)
	mux.Handle("GET /", web.Handler())
	mux.HandleFunc("GET /api/v1/jobs", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, map[string]any{"jobs": jm.jobsJSON()})
	})
	mux.HandleFunc("GET /api/v1/overview", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, jm.overview())
	})
	mux.HandleFunc("GET /api/v1/jobmanager/config", func(w http.ResponseWriter, r *http.Request) {
		// Flink's /jobmanager/config: a list of {key, value}, sorted, with
		// secrets masked by whoever filled ConfigView.
		out := []map[string]string{}
		for _, k := range slices.Sorted(maps.Keys(jm.opts.ConfigView)) {
			out = append(out, map[string]string{"key": k, "value": jm.opts.ConfigView[k]})
		}
		writeJSON(w, out)
	})
	mux.HandleFunc("GET /api/v1/jobs/{id}/checkpoints", func(w http.ResponseWriter, r *http.Request) {
		resp, err := jm.ListCheckpoints(r.Context(), &weirv1.ListCheckpointsRequest{JobId: r.PathValue("id")})
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, checkpointsJSON(resp))
	})
	return mux
}

// CheckpointsJSON is the JSON form of a job's checkpoints, shaped like
// Flink's /jobs/:jobid/checkpoints. Counts and History cover the history
// the jobmanager retains (the last 100 checkpoints), not the job's life.
type CheckpointsJSON struct {
	Counts  CheckpointCountsJSON `json:"counts"`
	Latest  LatestCheckpoints    `json:"latest"`
	History []CheckpointJSON     `json:"history"` // newest first
	// Restores that fell back from a damaged checkpoint to an older one.
	RestoreFallbacks int64 `json:"restore_fallbacks"`
}

// CheckpointCountsJSON counts the retained checkpoints by status.
type CheckpointCountsJSON struct {
	Completed  int `json:"completed"`
	Failed     int `json:"failed"`
	InProgress int `json:"in_progress"`
	Total      int `json:"total"`
}

// LatestCheckpoints holds the newest retained checkpoint of each kind;
// null where there is none.
type LatestCheckpoints struct {
	// The checkpoint a restart would restore.
	Completed *CheckpointJSON `json:"completed"`
	Savepoint *CheckpointJSON `json:"savepoint"`
	Failed    *CheckpointJSON `json:"failed"`
}

// CheckpointJSON is one checkpoint or savepoint. Times are Unix
// milliseconds, durations milliseconds, sizes bytes.
type CheckpointJSON struct {
	ID                      int64  `json:"id"`
	Status                  string `json:"status"` // IN_PROGRESS, COMPLETED or FAILED
	IsSavepoint             bool   `json:"is_savepoint"`
	TriggerTimestamp        int64  `json:"trigger_timestamp"`
	EndToEndDuration        int64  `json:"end_to_end_duration"`
	StateSize               int64  `json:"state_size"`
	UploadedSize            int64  `json:"uploaded_size"`
	AlignmentDuration       int64  `json:"alignment_duration"` // the longest of any subtask
	NumAcknowledgedSubtasks int32  `json:"num_acknowledged_subtasks"`
	NumSubtasks             int32  `json:"num_subtasks"`
	FailureMessage          string `json:"failure_message"` // failed ones
	ExternalPath            string `json:"external_path"`   // completed ones: the snapshot directory's URI
}

// checkpointsJSON converts a ListCheckpoints answer, whose history is
// oldest first, to its JSON form.
func checkpointsJSON(resp *weirv1.ListCheckpointsResponse) CheckpointsJSON {
	out := CheckpointsJSON{History: []CheckpointJSON{}, RestoreFallbacks: resp.GetRestoreFallbacks()}
	cps := resp.GetCheckpoints()
	for i := len(cps) - 1; i >= 0; i-- {
		c := cps[i]
		j := CheckpointJSON{
			ID:                      c.GetCheckpointId(),
			Status:                  checkpointStatusName(c.GetStatus()),
			IsSavepoint:             c.GetKind() == weirv1.SnapshotKind_SNAPSHOT_KIND_SAVEPOINT,
			TriggerTimestamp:        c.GetTriggerTimeUnixMillis(),
			EndToEndDuration:        c.GetDurationMillis(),
			StateSize:               c.GetStateSize(),
			UploadedSize:            c.GetUploadedSize(),
			AlignmentDuration:       c.GetAlignmentMillis(),
			NumAcknowledgedSubtasks: c.GetAcknowledged(),
			NumSubtasks:             c.GetTotal(),
			FailureMessage:          c.GetFailure(),
			ExternalPath:            c.GetPath(),
		}
		out.History = append(out.History, j)
		latest := func(p **CheckpointJSON) {
			if *p == nil {
				*p = &j
			}
		}
		out.Counts.Total++
		switch c.GetStatus() {
		case weirv1.CheckpointStatus_CHECKPOINT_STATUS_COMPLETED:
			out.Counts.Completed++
			if j.IsSavepoint {
				latest(&out.Latest.Savepoint)
			}
			if c.GetCheckpointId() == resp.GetLatestCompletedId() {
				latest(&out.Latest.Completed)
			}
		case weirv1.CheckpointStatus_CHECKPOINT_STATUS_FAILED:
			out.Counts.Failed++
			latest(&out.Latest.Failed)
		case weirv1.CheckpointStatus_CHECKPOINT_STATUS_IN_PROGRESS:
			out.Counts.InProgress++
		}
	}
	return out
}

func checkpointStatusName(s weirv1.CheckpointStatus) string {
	return strings.TrimPrefix(s.String(), "CHECKPOINT_STATUS_")
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// writeError answers with an RPC method's error as Flink's REST API does:
// {"errors": [message]}, with the HTTP status of the gRPC code.
func writeError(w http.ResponseWriter, err error) {
	st := status.Convert(err)
	code := http.StatusInternalServerError
	switch st.Code() {
	case codes.NotFound:
		code = http.StatusNotFound
	case codes.InvalidArgument:
		code = http.StatusBadRequest
	}
	writeErrorMessage(w, code, st.Message())
}

// writeErrorMessage answers {"errors": [msg]} with HTTP status code.
func writeErrorMessage(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(map[string][]string{"errors": {msg}})
}

// notReady says why the jobmanager cannot take jobs yet or any more; ""
// when it can.
func (jm *JobManager) notReady() string {
	select {
	case <-jm.started:
	default:
		return "not started"
	}
	jm.mu.Lock()
	defer jm.mu.Unlock()
	if jm.mu.stopped {
		return "shutting down"
	}
	return ""
}
