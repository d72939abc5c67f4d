package jobmanager

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"

	weirv1 "github.com/weirstream/weir/api/proto/weir/v1"
)

// checkpointHistory is a job's history as the job master publishes it:
// oldest first, savepoint 6 among the checkpoints.
func checkpointHistory() []*weirv1.CheckpointInfo {
	const cp, sp = weirv1.SnapshotKind_SNAPSHOT_KIND_CHECKPOINT, weirv1.SnapshotKind_SNAPSHOT_KIND_SAVEPOINT
	return []*weirv1.CheckpointInfo{
		{CheckpointId: 4, Status: weirv1.CheckpointStatus_CHECKPOINT_STATUS_FAILED, Kind: cp, TriggerTimeUnixMillis: 1000,
			DurationMillis: 600_000, StateSize: 10, Acknowledged: 1, Total: 2, Failure: "checkpoint expired before completing"},
		{CheckpointId: 5, Status: weirv1.CheckpointStatus_CHECKPOINT_STATUS_COMPLETED, Kind: cp, TriggerTimeUnixMillis: 2000,
			DurationMillis: 120, StateSize: 4096, AlignmentMillis: 7, Acknowledged: 2, Total: 2, Path: "s3://b/cp/job/chk-5"},
		{CheckpointId: 6, Status: weirv1.CheckpointStatus_CHECKPOINT_STATUS_COMPLETED, Kind: sp, TriggerTimeUnixMillis: 3000,
			DurationMillis: 300, StateSize: 5000, Acknowledged: 2, Total: 2, Path: "s3://b/sp/savepoint-6"},
		{CheckpointId: 7, Status: weirv1.CheckpointStatus_CHECKPOINT_STATUS_IN_PROGRESS, Kind: cp, TriggerTimeUnixMillis: 4000,
			Acknowledged: 1, Total: 2},
	}
}

func TestCheckpointsJSON(t *testing.T) {
	got := checkpointsJSON(&weirv1.ListCheckpointsResponse{Checkpoints: checkpointHistory(), LatestCompletedId: 5, RestoreFallbacks: 1})
	chk5 := CheckpointJSON{ID: 5, Status: "COMPLETED", TriggerTimestamp: 2000, EndToEndDuration: 120, StateSize: 4096,
		AlignmentDuration: 7, NumAcknowledgedSubtasks: 2, NumSubtasks: 2, ExternalPath: "s3://b/cp/job/chk-5"}
	sp6 := CheckpointJSON{ID: 6, Status: "COMPLETED", IsSavepoint: true, TriggerTimestamp: 3000, EndToEndDuration: 300,
		StateSize: 5000, NumAcknowledgedSubtasks: 2, NumSubtasks: 2, ExternalPath: "s3://b/sp/savepoint-6"}
	chk4 := CheckpointJSON{ID: 4, Status: "FAILED", TriggerTimestamp: 1000, EndToEndDuration: 600_000, StateSize: 10,
		NumAcknowledgedSubtasks: 1, NumSubtasks: 2, FailureMessage: "checkpoint expired before completing"}
	chk7 := CheckpointJSON{ID: 7, Status: "IN_PROGRESS", TriggerTimestamp: 4000, NumAcknowledgedSubtasks: 1, NumSubtasks: 2}
	want := CheckpointsJSON{
		Counts: CheckpointCountsJSON{Completed: 2, Failed: 1, InProgress: 1, Total: 4},
		// Completed is what a restart restores: a checkpoint, not the newer savepoint.
		Latest:           LatestCheckpoints{Completed: &chk5, Savepoint: &sp6, Failed: &chk4},
		History:          []CheckpointJSON{chk7, sp6, chk5, chk4},
		RestoreFallbacks: 1,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("checkpointsJSON =\n%+v\nwant\n%+v", got, want)
	}

	empty := checkpointsJSON(&weirv1.ListCheckpointsResponse{})
	b, err := json.Marshal(empty)
	if err != nil {
		t.Fatal(err)
	}
	wantJSON := `{"counts":{"completed":0,"failed":0,"in_progress":0,"total":0},"latest":{"completed":null,"savepoint":null,"failed":null},"history":[],"restore_fallbacks":0}`
	if string(b) != wantJSON {
		t.Errorf("no checkpoints:\n%s\nwant\n%s", b, wantJSON)
	}
}

func get(t *testing.T, h http.Handler, path string) (int, string, []byte) {
	t.Helper()
	srv := httptest.NewServer(h)
	defer srv.Close()
	resp, err := http.Get(srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header.Get("Content-Type"), body
}

func TestCheckpointsHandler(t *testing.T) {
	jm := New(Options{})
	m := &jobMaster{id: "job-1"}
	for _, c := range checkpointHistory() {
		m.publishCheckpoint(c)
	}
	jm.mu.jobs[m.id] = m
	jm.mu.order = append(jm.mu.order, m.id)

	code, ctype, body := get(t, jm.Handler(), "/api/v1/jobs/job-1/checkpoints")
	if code != http.StatusOK || ctype != "application/json" {
		t.Fatalf("status %d, Content-Type %q: %s", code, ctype, body)
	}
	// The field names are the API: decode into a map, not the struct.
	var got struct {
		Counts  map[string]int            `json:"counts"`
		Latest  map[string]map[string]any `json:"latest"`
		History []map[string]any          `json:"history"`
	}
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatalf("%v in %s", err, body)
	}
	if want := map[string]int{"completed": 2, "failed": 1, "in_progress": 1, "total": 4}; !reflect.DeepEqual(got.Counts, want) {
		t.Errorf("counts = %v, want %v", got.Counts, want)
	}
	if id := got.Latest["completed"]["id"]; id != 5.0 {
		t.Errorf("latest completed = %v, want checkpoint 5", id)
	}
	if len(got.History) != 4 {
		t.Fatalf("history has %d entries, want 4: %s", len(got.History), body)
	}
	wantFirst := map[string]any{"id": 7.0, "status": "IN_PROGRESS", "is_savepoint": false, "trigger_timestamp": 4000.0,
		"end_to_end_duration": 0.0, "state_size": 0.0, "uploaded_size": 0.0, "alignment_duration": 0.0, "num_acknowledged_subtasks": 1.0,
		"num_subtasks": 2.0, "failure_message": "", "external_path": ""}
	if !reflect.DeepEqual(got.History[0], wantFirst) {
		t.Errorf("newest history entry = %v\nwant %v", got.History[0], wantFirst)
	}

	code, ctype, body = get(t, jm.Handler(), "/api/v1/jobs/nope/checkpoints")
	if code != http.StatusNotFound || ctype != "application/json" {
		t.Errorf("unknown job: status %d, Content-Type %q", code, ctype)
	}
	var e struct{ Errors []string }
	if err := json.Unmarshal(body, &e); err != nil || len(e.Errors) != 1 || e.Errors[0] != `unknown job "nope"` {
		t.Errorf("unknown job: body %s (%v)", body, err)
	}
}
