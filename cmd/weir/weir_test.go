package main

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	weirv1 "github.com/weirstream/weir/api/proto/weir/v1"
	"github.com/weirstream/weir/internal/config"
	"github.com/weirstream/weir/internal/jobspec"
	"github.com/weirstream/weir/internal/rpc"
)

func TestMain(m *testing.M) {
	pollInterval = time.Millisecond
	os.Exit(m.Run())
}

// fakeJM is a jobmanager that answers from a script. Tests reach it through
// the CLI over a real gRPC connection.
type fakeJM struct {
	weirv1.UnimplementedJobManagerServiceServer

	mu        sync.Mutex
	submitErr error
	submits   []*weirv1.SubmitJobRequest
	gets      []*weirv1.GetJobResponse // successive GetJob answers; the last repeats
	getCalls  int
	onGet     func(call int) // after each GetJob, numbered from 1
	jobs      []*weirv1.JobSummary
	cancels   []string
	programs  []*weirv1.ProgramInfo

	savepoints   []*weirv1.TriggerSavepointRequest
	savepointErr error
	// inSavepoint, if set, runs while a savepoint is in progress; the
	// savepoint then lasts until the client goes away.
	inSavepoint func()
	deadline    bool // whether the last TriggerSavepoint had a deadline

	checkpoints     []*weirv1.ListCheckpointsResponse // successive answers; the last repeats; none: Unimplemented
	checkpointCalls []string                          // job IDs
	onList          func(call int)                    // after each ListCheckpoints, numbered from 1
	// release, if set, holds TriggerSavepoint's answer until it is closed.
	release <-chan struct{}
}

func (f *fakeJM) SubmitJob(_ context.Context, req *weirv1.SubmitJobRequest) (*weirv1.SubmitJobResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.submitErr != nil {
		return nil, f.submitErr
	}
	f.submits = append(f.submits, req)
	return &weirv1.SubmitJobResponse{JobId: "job-1"}, nil
}

func (f *fakeJM) GetJob(_ context.Context, req *weirv1.GetJobRequest) (*weirv1.GetJobResponse, error) {
	f.mu.Lock()
	if len(f.gets) == 0 {
		f.mu.Unlock()
		return nil, status.Errorf(codes.NotFound, "unknown job %q", req.GetJobId())
	}
	f.getCalls++
	n := f.getCalls
	resp := f.gets[min(n, len(f.gets))-1]
	onGet := f.onGet
	f.mu.Unlock()
	if onGet != nil {
		onGet(n)
	}
	return resp, nil
}

func (f *fakeJM) ListJobs(context.Context, *weirv1.ListJobsRequest) (*weirv1.ListJobsResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return &weirv1.ListJobsResponse{Jobs: f.jobs}, nil
}

func (f *fakeJM) CancelJob(_ context.Context, req *weirv1.CancelJobRequest) (*weirv1.CancelJobResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if req.GetJobId() != "job-1" {
		return nil, status.Errorf(codes.NotFound, "unknown job %q", req.GetJobId())
	}
	f.cancels = append(f.cancels, req.GetJobId())
	return &weirv1.CancelJobResponse{}, nil
}

func (f *fakeJM) TriggerSavepoint(ctx context.Context, req *weirv1.TriggerSavepointRequest) (*weirv1.TriggerSavepointResponse, error) {
	f.mu.Lock()
	f.savepoints = append(f.savepoints, req)
	_, f.deadline = ctx.Deadline()
	inSavepoint, err, release := f.inSavepoint, f.savepointErr, f.release
	f.mu.Unlock()
	if release != nil {
		select {
		case <-release:
		case <-ctx.Done():
			return nil, status.FromContextError(ctx.Err()).Err()
		}
	}
	if inSavepoint != nil {
		inSavepoint()
		<-ctx.Done()
		return nil, status.FromContextError(ctx.Err()).Err()
	}
	if err != nil {
		return nil, err
	}
	return &weirv1.TriggerSavepointResponse{Path: cmp.Or(req.GetTargetDirectory(), "s3://cluster/savepoints") + "/savepoint-job-1-7"}, nil
}

func (f *fakeJM) ListCheckpoints(ctx context.Context, req *weirv1.ListCheckpointsRequest) (*weirv1.ListCheckpointsResponse, error) {
	f.mu.Lock()
	if len(f.checkpoints) == 0 {
		f.mu.Unlock()
		return f.UnimplementedJobManagerServiceServer.ListCheckpoints(ctx, req)
	}
	f.checkpointCalls = append(f.checkpointCalls, req.GetJobId())
	n := len(f.checkpointCalls)
	resp, onList := f.checkpoints[min(n, len(f.checkpoints))-1], f.onList
	f.mu.Unlock()
	if onList != nil {
		onList(n)
	}
	return resp, nil
}

func (f *fakeJM) ListPrograms(context.Context, *weirv1.ListProgramsRequest) (*weirv1.ListProgramsResponse, error) {
	return &weirv1.ListProgramsResponse{Programs: f.programs}, nil
}

// serve serves f on a loopback port until the test ends and returns its
// address.
func serve(t *testing.T, f *fakeJM) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := rpc.NewServer(0)
	weirv1.RegisterJobManagerServiceServer(s, f)
	done := make(chan error, 1)
	go func() { done <- s.Serve(lis) }()
	t.Cleanup(func() {
		s.Stop()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return lis.Addr().String()
}

// testCLI returns a cli writing to buffers, whose clock starts at
// 2026-01-02 03:04:05 UTC and advances one second per reading.
func testCLI(env map[string]string) (*cli, *bytes.Buffer, *bytes.Buffer) {
	var stdout, stderr bytes.Buffer
	var mu sync.Mutex
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	return &cli{
		stdout:  &stdout,
		stderr:  &stderr,
		getenv:  func(k string) string { return env[k] },
		environ: func() []string { return nil },
		now: func() time.Time {
			mu.Lock()
			defer mu.Unlock()
			t := now
			now = now.Add(time.Second)
			return t
		},
		loc: time.UTC,
	}, &stdout, &stderr
}

// weir runs the CLI against the jobmanager at addr.
func weir(ctx context.Context, addr string, args ...string) (stdout, stderr string, err error) {
	c, out, errOut := testCLI(nil)
	err = run(ctx, append([]string{"-m", addr}, args...), c)
	return out.String(), errOut.String(), err
}

func job(st weirv1.JobStatus, msg string, in, out int64) *weirv1.GetJobResponse {
	return &weirv1.GetJobResponse{
		Job: &weirv1.JobSummary{JobId: "job-1", Name: "wordcount", Status: st, StatusMessage: msg,
			StartTimeUnixMillis: 1_767_323_045_000, EndTimeUnixMillis: endTime(st)},
		Tasks: []*weirv1.TaskInfo{
			{Metrics: &weirv1.TaskMetrics{RecordsIn: in / 2, RecordsOut: out / 2}},
			{Metrics: &weirv1.TaskMetrics{RecordsIn: in - in/2, RecordsOut: out - out/2}},
		},
	}
}

func endTime(st weirv1.JobStatus) int64 {
	switch st {
	case weirv1.JobStatus_JOB_STATUS_FINISHED, weirv1.JobStatus_JOB_STATUS_FAILED, weirv1.JobStatus_JOB_STATUS_CANCELED:
		return 1_767_323_057_500
	}
	return 0
}

const (
	created    = weirv1.JobStatus_JOB_STATUS_CREATED
	running    = weirv1.JobStatus_JOB_STATUS_RUNNING
	restarting = weirv1.JobStatus_JOB_STATUS_RESTARTING
	finished   = weirv1.JobStatus_JOB_STATUS_FINISHED
	failed     = weirv1.JobStatus_JOB_STATUS_FAILED
	cancelled  = weirv1.JobStatus_JOB_STATUS_CANCELED
)

func TestRunDetached(t *testing.T) {
	f := &fakeJM{}
	addr := serve(t, f)
	stdout, stderr, err := weir(t.Context(), addr,
		"run", "-p", "3", "-d", "-D", "state.backend=pebble", "-Dexecution.checkpointing.interval=1s",
		"wordcount", "--input", "/data", "-p", "7", "-d", "-m", "elsewhere", "--help")
	if err != nil {
		t.Fatalf("%v\nstderr: %s", err, stderr)
	}
	if stdout != "Job has been submitted with JobID job-1\n" {
		t.Errorf("stdout = %q", stdout)
	}
	fields := strings.Fields(stdout)
	if fields[len(fields)-1] != "job-1" {
		t.Errorf("the job ID is not the last word of %q", stdout)
	}
	want := &weirv1.SubmitJobRequest{
		Job: &weirv1.SubmitJobRequest_Program{Program: &weirv1.Program{
			Name: "wordcount",
			// Everything after NAME is the job's, verbatim.
			Args: []string{"--input", "/data", "-p", "7", "-d", "-m", "elsewhere", "--help"},
		}},
		Parallelism: proto.Int32(3),
		Config:      map[string]string{"state.backend": "pebble", "execution.checkpointing.interval": "1s"},
	}
	if len(f.submits) != 1 || !proto.Equal(f.submits[0], want) {
		t.Fatalf("submitted %v\nwant %v", f.submits, want)
	}
	if f.getCalls != 0 {
		t.Errorf("-d polled the job %d times", f.getCalls)
	}
}

func TestRunWaitsUntilFinished(t *testing.T) {
	f := &fakeJM{gets: []*weirv1.GetJobResponse{
		job(created, "waiting for 2 slots (0 free)", 0, 0),
		job(running, "", 0, 0),
		job(running, "", 100, 100),
		job(running, "", 300, 300),
		job(finished, "", 400, 400),
	}}
	addr := serve(t, f)
	stdout, stderr, err := weir(t.Context(), addr, "run", "wordcount")
	if err != nil {
		t.Fatalf("%v\nstderr: %s", err, stderr)
	}
	if stdout != "Job has been submitted with JobID job-1\n" {
		t.Errorf("stdout = %q", stdout)
	}
	// The clock advances a second per poll and progress prints every two.
	want := `Job job-1 is CREATED: waiting for 2 slots (0 free)
Job job-1 is RUNNING
  records in 0 (0/s), out 0 (0/s)
  records in 300 (150/s), out 300 (150/s)
Job job-1 finished in 12.5s (records in 400, out 400)
`
	if stderr != want {
		t.Errorf("stderr:\n%s\nwant:\n%s", stderr, want)
	}
}

func TestRunWaitsUntilFailedOrCanceled(t *testing.T) {
	for _, tc := range []struct {
		name string
		end  *weirv1.GetJobResponse
		want string
	}{
		{"failed", job(failed, "operators[1] (\"words\"): task failed: boom", 5, 5), `job job-1 failed: operators[1] ("words"): task failed: boom`},
		{"failed without message", job(failed, "", 5, 5), "job job-1 failed: (no message)"},
		{"canceled", job(cancelled, "canceled by the user", 5, 5), "job job-1 was canceled: canceled by the user"},
		{"canceled without message", job(cancelled, "", 5, 5), "job job-1 was canceled"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := serve(t, &fakeJM{gets: []*weirv1.GetJobResponse{job(running, "", 0, 0), tc.end}})
			_, stderr, err := weir(t.Context(), addr, "run", "wordcount")
			if err == nil || err.Error() != tc.want {
				t.Fatalf("error = %v; want %q", err, tc.want)
			}
			if stderr != "Job job-1 is RUNNING\n" {
				t.Errorf("stderr = %q", stderr)
			}
		})
	}
}

func TestRunInterruptedLeavesJobRunning(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	f := &fakeJM{gets: []*weirv1.GetJobResponse{job(running, "", 0, 0)}}
	f.onGet = func(n int) {
		if n == 2 {
			cancel() // Ctrl-C
		}
	}
	addr := serve(t, f)
	_, stderr, err := weir(ctx, addr, "run", "wordcount")
	if !errors.Is(err, errInterrupted) {
		t.Fatalf("error = %v; want errInterrupted", err)
	}
	want := "Stopped waiting. Job job-1 is still running; cancel it with:\n  weir -m " + addr + " cancel job-1\n"
	if !strings.HasSuffix(stderr, want) {
		t.Errorf("stderr:\n%s\nwant suffix:\n%s", stderr, want)
	}
	if len(f.cancels) != 0 {
		t.Errorf("the job was canceled")
	}
}

const spec = `
name: wordcount
parallelism: 2
operators:
  - {id: lines, source: weir.file.source, params: {path: /data/text.txt}}
  - {id: words, flatMap: weir.tokenize, input: lines}
  - {id: counts, reduce: weir.sum-count, input: {from: words, keyBy: weir.word-key}}
  - {id: out, sink: weir.print, input: counts}
`

func writeSpec(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "job.yaml")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSubmit(t *testing.T) {
	path := writeSpec(t, spec)
	graph, err := jobspec.Decode([]byte(spec))
	if err != nil {
		t.Fatal(err)
	}

	t.Run("detached", func(t *testing.T) {
		f := &fakeJM{}
		addr := serve(t, f)
		stdout, _, err := weir(t.Context(), addr, "submit", "-d", "-D", "execution.checkpointing.interval=5s", path)
		if err != nil {
			t.Fatal(err)
		}
		if stdout != "Job has been submitted with JobID job-1\n" {
			t.Errorf("stdout = %q", stdout)
		}
		want := &weirv1.SubmitJobRequest{Job: &weirv1.SubmitJobRequest_Graph{Graph: graph},
			Config: map[string]string{"execution.checkpointing.interval": "5s"}}
		if len(f.submits) != 1 || !proto.Equal(f.submits[0], want) {
			t.Fatalf("submitted %v\nwant %v", f.submits, want)
		}
	})

	t.Run("waits", func(t *testing.T) {
		f := &fakeJM{gets: []*weirv1.GetJobResponse{job(running, "", 0, 0), job(finished, "", 9, 9)}}
		addr := serve(t, f)
		_, stderr, err := weir(t.Context(), addr, "submit", path)
		if err != nil {
			t.Fatal(err)
		}
		if want := "Job job-1 is RUNNING\nJob job-1 finished in 12.5s (records in 9, out 9)\n"; stderr != want {
			t.Errorf("stderr = %q, want %q", stderr, want)
		}
	})

	t.Run("bad spec", func(t *testing.T) {
		f := &fakeJM{}
		addr := serve(t, f)
		bad := writeSpec(t, strings.Replace(spec, "from: words", "from: wrds", 1))
		_, _, err := weir(t.Context(), addr, "submit", bad)
		want := bad + `: operators[2] ("counts").input.from: unknown operator "wrds"`
		if err == nil || err.Error() != want {
			t.Fatalf("error = %v\nwant %q", err, want)
		}
		if len(f.submits) != 0 {
			t.Error("a bad spec was submitted")
		}
	})

	t.Run("missing file", func(t *testing.T) {
		_, _, err := weir(t.Context(), "127.0.0.1:1", "submit", "nope.yaml")
		if err == nil || err.Error() != "open nope.yaml: no such file or directory" {
			t.Fatalf("error = %v", err)
		}
	})
}

func TestList(t *testing.T) {
	f := &fakeJM{jobs: []*weirv1.JobSummary{
		{JobId: "b2", Name: "nexmark-q5", Status: failed, StatusMessage: "task failed: boom", StartTimeUnixMillis: 1_767_323_100_000},
		{JobId: "a1", Name: "wordcount", Status: running, StartTimeUnixMillis: 1_767_323_045_000},
		{JobId: "c3", Name: "waiting", Status: created, StatusMessage: "waiting for 4 slots (1 free)"},
		{JobId: "d4", Name: "flaky", Status: restarting, StatusMessage: "task failed: boom; restarting in 1s", Restarts: 12,
			StartTimeUnixMillis: 1_767_323_200_000},
	}}
	addr := serve(t, f)
	stdout, _, err := weir(t.Context(), addr, "list")
	if err != nil {
		t.Fatal(err)
	}
	want := `JOB ID  NAME        STATUS      RESTARTS  START TIME           MESSAGE
c3      waiting     CREATED     0         -                    waiting for 4 slots (1 free)
a1      wordcount   RUNNING     0         2026-01-02 03:04:05  
b2      nexmark-q5  FAILED      0         2026-01-02 03:05:00  task failed: boom
d4      flaky       RESTARTING  12        2026-01-02 03:06:40  task failed: boom; restarting in 1s
`
	if stdout != want {
		t.Errorf("stdout:\n%s\nwant:\n%s", stdout, want)
	}

	f.jobs = nil
	if stdout, _, _ := weir(t.Context(), addr, "list"); stdout != "No jobs.\n" {
		t.Errorf("empty list: %q", stdout)
	}
}

func TestStatus(t *testing.T) {
	resp := job(running, "", 0, 0)
	resp.Job.Parallelism = 2
	resp.Job.Restarts = 1
	resp.Tasks = []*weirv1.TaskInfo{
		{Execution: &weirv1.ExecutionID{JobId: "job-1", VertexId: 2, SubtaskIndex: 1, Attempt: 1}, Name: "counts -> out",
			State: weirv1.ExecutionState_EXECUTION_STATE_FAILED, TaskManagerId: "taskmanager-1", Failure: "boom",
			Metrics: &weirv1.TaskMetrics{RecordsIn: 7, RecordsOut: 7}},
		{Execution: &weirv1.ExecutionID{JobId: "job-1", VertexId: 0, SubtaskIndex: 0}, Name: "lines -> words",
			State: weirv1.ExecutionState_EXECUTION_STATE_RUNNING, TaskManagerId: "taskmanager-0",
			Metrics: &weirv1.TaskMetrics{RecordsIn: 0, RecordsOut: 1200}},
		{Execution: &weirv1.ExecutionID{JobId: "job-1", VertexId: 2, SubtaskIndex: 0}, Name: "counts -> out",
			State:   weirv1.ExecutionState_EXECUTION_STATE_DEPLOYING,
			Metrics: &weirv1.TaskMetrics{}},
	}
	addr := serve(t, &fakeJM{gets: []*weirv1.GetJobResponse{resp}})
	stdout, _, err := weir(t.Context(), addr, "status", "job-1")
	if err != nil {
		t.Fatal(err)
	}
	want := `Job:         job-1
Name:        wordcount
Status:      RUNNING
Restarts:    1
Started:     2026-01-02 03:04:05
Parallelism: 2

TASK            SUBTASK  ATTEMPT  STATE      TASKMANAGER    RECORDS IN  RECORDS OUT
lines -> words  1/1      0        RUNNING    taskmanager-0  0           1200
counts -> out   1/2      0        DEPLOYING  -              0           0
counts -> out   2/2      1        FAILED     taskmanager-1  7           7

Failures:
  counts -> out (2/2): boom
`
	if stdout != want {
		t.Errorf("stdout:\n%s\nwant:\n%s", stdout, want)
	}
}

func TestStatusFinishedWithoutTasks(t *testing.T) {
	resp := job(finished, "all tasks finished", 0, 0)
	resp.Tasks = nil
	addr := serve(t, &fakeJM{gets: []*weirv1.GetJobResponse{resp}})
	stdout, _, err := weir(t.Context(), addr, "status", "job-1")
	if err != nil {
		t.Fatal(err)
	}
	want := `Job:         job-1
Name:        wordcount
Status:      FINISHED
Message:     all tasks finished
Restarts:    0
Started:     2026-01-02 03:04:05
Ended:       2026-01-02 03:04:17 (after 12.5s)
Parallelism: 0

No tasks deployed.
`
	if stdout != want {
		t.Errorf("stdout:\n%s\nwant:\n%s", stdout, want)
	}
}

func TestCancel(t *testing.T) {
	f := &fakeJM{}
	addr := serve(t, f)
	stdout, _, err := weir(t.Context(), addr, "cancel", "job-1")
	if err != nil {
		t.Fatal(err)
	}
	if stdout != "Cancelling job job-1.\n" || !slices.Equal(f.cancels, []string{"job-1"}) {
		t.Errorf("stdout %q, cancels %v", stdout, f.cancels)
	}
	_, _, err = weir(t.Context(), addr, "cancel", "job-9")
	if err == nil || err.Error() != `unknown job "job-9"` {
		t.Errorf("error = %v", err)
	}
}

func TestSavepoint(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want *weirv1.TriggerSavepointRequest
		path string
	}{
		{[]string{"savepoint", "job-1", "s3://b/sp"}, &weirv1.TriggerSavepointRequest{JobId: "job-1", TargetDirectory: "s3://b/sp"}, "s3://b/sp/savepoint-job-1-7"},
		// Without DIR, the cluster's state.savepoints.dir.
		{[]string{"savepoint", "job-1"}, &weirv1.TriggerSavepointRequest{JobId: "job-1"}, "s3://cluster/savepoints/savepoint-job-1-7"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			f := &fakeJM{}
			addr := serve(t, f)
			stdout, stderr, err := weir(t.Context(), addr, tc.args...)
			if err != nil {
				t.Fatal(err)
			}
			if len(f.savepoints) != 1 || !proto.Equal(f.savepoints[0], tc.want) {
				t.Fatalf("requests %v, want %v", f.savepoints, tc.want)
			}
			if f.deadline {
				t.Error("the savepoint call has a deadline; savepoints may rightly take minutes")
			}
			if want := "Savepoint completed. Path: " + tc.path + "\n"; stdout != want {
				t.Errorf("stdout = %q, want %q", stdout, want)
			}
			if fields := strings.Fields(stdout); fields[len(fields)-1] != tc.path {
				t.Errorf("the path is not the last word of %q", stdout)
			}
			if want := "Triggering a savepoint of job job-1; waiting for it to complete.\n"; stderr != want {
				t.Errorf("stderr = %q, want %q", stderr, want)
			}
		})
	}
}

func TestStop(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want *weirv1.TriggerSavepointRequest
		path string
	}{
		{[]string{"stop", "-p", "s3://b/sp", "job-1"}, &weirv1.TriggerSavepointRequest{JobId: "job-1", TargetDirectory: "s3://b/sp", Stop: true}, "s3://b/sp/savepoint-job-1-7"},
		{[]string{"stop", "job-1", "--savepoint-dir=file:///sp"}, &weirv1.TriggerSavepointRequest{JobId: "job-1", TargetDirectory: "file:///sp", Stop: true}, "file:///sp/savepoint-job-1-7"},
		{[]string{"stop", "job-1"}, &weirv1.TriggerSavepointRequest{JobId: "job-1", Stop: true}, "s3://cluster/savepoints/savepoint-job-1-7"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			f := &fakeJM{}
			addr := serve(t, f)
			stdout, stderr, err := weir(t.Context(), addr, tc.args...)
			if err != nil {
				t.Fatal(err)
			}
			if len(f.savepoints) != 1 || !proto.Equal(f.savepoints[0], tc.want) {
				t.Fatalf("requests %v, want %v", f.savepoints, tc.want)
			}
			if f.deadline {
				t.Error("the stop call has a deadline; savepoints may rightly take minutes")
			}
			if want := "Savepoint completed. Path: " + tc.path + "\n"; stdout != want {
				t.Errorf("stdout = %q, want %q", stdout, want)
			}
			if want := "Stopping job job-1 with a savepoint; waiting for it to complete.\n"; stderr != want {
				t.Errorf("stderr = %q, want %q", stderr, want)
			}
		})
	}
}

func TestSavepointFails(t *testing.T) {
	msg := "job job-1 takes no checkpoints; savepoints need execution.checkpointing.interval"
	addr := serve(t, &fakeJM{savepointErr: status.Error(codes.FailedPrecondition, msg)})
	for _, args := range [][]string{{"savepoint", "job-1"}, {"stop", "job-1"}} {
		stdout, _, err := weir(t.Context(), addr, args...)
		if err == nil || err.Error() != msg {
			t.Errorf("%s: error = %v, want %q", args[0], err, msg)
		}
		if stdout != "" {
			t.Errorf("%s: stdout = %q", args[0], stdout)
		}
	}
}

func TestSavepointInterrupted(t *testing.T) {
	for _, tc := range []struct {
		cmd  string
		want string
	}{
		{"savepoint", "Stopped waiting. The savepoint of job job-1 may still complete; follow it with:\n"},
		{"stop", "Stopped waiting. Job job-1 stops if its savepoint completes; follow it with:\n"},
	} {
		t.Run(tc.cmd, func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			f := &fakeJM{inSavepoint: cancel} // Ctrl-C while the savepoint runs
			addr := serve(t, f)
			stdout, stderr, err := weir(ctx, addr, tc.cmd, "job-1")
			if !errors.Is(err, errInterrupted) {
				t.Fatalf("error = %v; want errInterrupted", err)
			}
			if want := tc.want + "  weir -m " + addr + " checkpoints job-1\n"; !strings.HasSuffix(stderr, want) {
				t.Errorf("stderr:\n%s\nwant suffix:\n%s", stderr, want)
			}
			if stdout != "" {
				t.Errorf("stdout = %q", stdout)
			}
		})
	}
}

func TestRunFromSavepoint(t *testing.T) {
	f := &fakeJM{}
	addr := serve(t, f)
	if _, _, err := weir(t.Context(), addr, "run", "-d", "-s", "s3://b/sp/savepoint-1", "-n", "wordcount", "-s", "x"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := weir(t.Context(), addr, "run", "-d", "--from-savepoint=s3://b/sp/savepoint-2", "wordcount"); err != nil {
		t.Fatal(err)
	}
	path := writeSpec(t, spec)
	if _, _, err := weir(t.Context(), addr, "submit", "-d", "--from-savepoint", "file:///sp/savepoint-3", "--allow-non-restored-state", path); err != nil {
		t.Fatal(err)
	}
	if len(f.submits) != 3 {
		t.Fatalf("%d submissions, want 3", len(f.submits))
	}
	for i, want := range []struct {
		path  string
		allow bool
	}{{"s3://b/sp/savepoint-1", true}, {"s3://b/sp/savepoint-2", false}, {"file:///sp/savepoint-3", true}} {
		if got := f.submits[i]; got.GetSavepointPath() != want.path || got.GetAllowNonRestoredState() != want.allow {
			t.Errorf("submission %d: savepoint %q, allow non-restored state %v; want %q, %v",
				i, got.GetSavepointPath(), got.GetAllowNonRestoredState(), want.path, want.allow)
		}
	}
	// -s after NAME belongs to the job.
	if args := f.submits[0].GetProgram().GetArgs(); !slices.Equal(args, []string{"-s", "x"}) {
		t.Errorf("job args = %q", args)
	}
}

func TestRunWaitsThroughRestarts(t *testing.T) {
	restarted := func(r *weirv1.GetJobResponse, n int32) *weirv1.GetJobResponse {
		r.Job.Restarts = n
		return r
	}
	f := &fakeJM{
		gets: []*weirv1.GetJobResponse{
			job(running, "", 0, 0),
			job(running, "", 100, 100),
			job(running, "", 200, 200),
			job(running, "", 300, 300),
			restarted(job(restarting, "task failed: boom; restarting in 1s", 300, 300), 1),
			restarted(job(running, "", 40, 40), 1),
			// The polls missed the second RESTARTING.
			restarted(job(running, "", 10, 10), 2),
			restarted(job(running, "", 50, 50), 2),
			restarted(job(finished, "stopped with savepoint s3://b/sp/savepoint-job-1-7", 60, 60), 2),
		},
		checkpoints: []*weirv1.ListCheckpointsResponse{
			{},
			{LatestCompletedId: 3},
			{LatestCompletedId: 3},
			{LatestCompletedId: 5},
		},
	}
	addr := serve(t, f)
	_, stderr, err := weir(t.Context(), addr, "run", "wordcount")
	if err != nil {
		t.Fatalf("%v\nstderr: %s", err, stderr)
	}
	// Progress, and with it the checkpoint poll, comes every other poll
	// while running; rates after a restart count from zero.
	want := `Job job-1 is RUNNING
  records in 100 (50/s), out 100 (50/s)
  records in 300 (100/s), out 300 (100/s)
  checkpoint 3 completed
Job job-1 is RESTARTING (restart 1): task failed: boom; restarting in 1s
Job job-1 is RUNNING (restart 1)
  records in 40 (20/s), out 40 (20/s)
Job job-1 is RUNNING (restart 2)
  records in 50 (25/s), out 50 (25/s)
  checkpoint 5 completed
Job job-1 finished in 12.5s (records in 60, out 60): stopped with savepoint s3://b/sp/savepoint-job-1-7
`
	if stderr != want {
		t.Errorf("stderr:\n%s\nwant:\n%s", stderr, want)
	}
	if !slices.Equal(f.checkpointCalls, []string{"job-1", "job-1", "job-1", "job-1"}) {
		t.Errorf("ListCheckpoints calls: %q", f.checkpointCalls)
	}
}

func checkpointHistory() *weirv1.ListCheckpointsResponse {
	const cp, sp = weirv1.SnapshotKind_SNAPSHOT_KIND_CHECKPOINT, weirv1.SnapshotKind_SNAPSHOT_KIND_SAVEPOINT
	return &weirv1.ListCheckpointsResponse{
		Checkpoints: []*weirv1.CheckpointInfo{
			{CheckpointId: 8, Status: weirv1.CheckpointStatus_CHECKPOINT_STATUS_IN_PROGRESS, Kind: cp,
				TriggerTimeUnixMillis: 1_767_323_110_000, StateSize: 512, Acknowledged: 1, Total: 4},
			{CheckpointId: 6, Status: weirv1.CheckpointStatus_CHECKPOINT_STATUS_COMPLETED, Kind: cp,
				TriggerTimeUnixMillis: 1_767_323_090_000, DurationMillis: 1250, StateSize: 3 << 20, AlignmentMillis: 40,
				Acknowledged: 4, Total: 4, Path: "s3://b/cp/job-1/chk-6"},
			{CheckpointId: 7, Status: weirv1.CheckpointStatus_CHECKPOINT_STATUS_FAILED, Kind: sp,
				TriggerTimeUnixMillis: 1_767_323_100_000, DurationMillis: 60_000, StateSize: 1536,
				Acknowledged: 2, Total: 4, Failure: "checkpoint expired before completing"},
		},
		LatestCompletedId: 6,
		RestoreFallbacks:  2,
	}
}

func TestCheckpoints(t *testing.T) {
	f := &fakeJM{checkpoints: []*weirv1.ListCheckpointsResponse{checkpointHistory()}}
	addr := serve(t, f)
	stdout, _, err := weir(t.Context(), addr, "checkpoints", "job-1")
	if err != nil {
		t.Fatal(err)
	}
	want := `ID  STATUS       KIND        TRIGGERED            DURATION  SIZE     ALIGNMENT  ACKS  PATH/FAILURE
6   COMPLETED    CHECKPOINT  2026-01-02 03:04:50  1.25s     3.0 MiB  40ms       4/4   s3://b/cp/job-1/chk-6
7   FAILED       SAVEPOINT   2026-01-02 03:05:00  1m0s      1.5 KiB  0s         2/4   checkpoint expired before completing
8   IN_PROGRESS  CHECKPOINT  2026-01-02 03:05:10  -         512 B    0s         1/4   -
Latest completed: 6
Restores that fell back past a damaged checkpoint: 2
`
	if stdout != want {
		t.Errorf("stdout:\n%s\nwant:\n%s", stdout, want)
	}
	if !slices.Equal(f.checkpointCalls, []string{"job-1"}) {
		t.Errorf("ListCheckpoints calls: %q", f.checkpointCalls)
	}

	f.checkpoints = []*weirv1.ListCheckpointsResponse{{}}
	f.checkpointCalls = nil
	stdout, _, err = weir(t.Context(), addr, "checkpoints", "job-1")
	if err != nil {
		t.Fatal(err)
	}
	if want := "No checkpoints.\nLatest completed: none\n"; stdout != want {
		t.Errorf("stdout = %q, want %q", stdout, want)
	}
}

func TestCheckpointsJSON(t *testing.T) {
	want := checkpointHistory()
	addr := serve(t, &fakeJM{checkpoints: []*weirv1.ListCheckpointsResponse{want}})
	stdout, _, err := weir(t.Context(), addr, "checkpoints", "--json", "job-1")
	if err != nil {
		t.Fatal(err)
	}
	var got weirv1.ListCheckpointsResponse
	if err := protojson.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatalf("%v in:\n%s", err, stdout)
	}
	if !proto.Equal(&got, want) {
		t.Errorf("got %v\nwant %v", &got, want)
	}
	// The .proto's field names, and every field, zero or not, for scripts.
	for _, field := range []string{`"latest_completed_id"`, `"restore_fallbacks"`, `"checkpoint_id"`, `"failure"`, `"path"`} {
		if !strings.Contains(stdout, field) {
			t.Errorf("no %s in:\n%s", field, stdout)
		}
	}
}

func TestBytesText(t *testing.T) {
	for n, want := range map[int64]string{
		0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 1536: "1.5 KiB", 5 << 20: "5.0 MiB",
		3<<30 + 1<<29: "3.5 GiB", 2 << 40: "2.0 TiB", 1 << 62: "4.0 EiB",
	} {
		if got := bytesText(n); got != want {
			t.Errorf("bytesText(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestPrograms(t *testing.T) {
	addr := serve(t, &fakeJM{programs: []*weirv1.ProgramInfo{
		{Name: "wordcount", Description: "Counts words in text files", Usage: "--input PATH [--output PATH]"},
	}})
	stdout, _, err := weir(t.Context(), addr, "programs")
	if err != nil {
		t.Fatal(err)
	}
	want := "NAME       DESCRIPTION                 ARGS\nwordcount  Counts words in text files  --input PATH [--output PATH]\n"
	if stdout != want {
		t.Errorf("stdout:\n%s\nwant:\n%s", stdout, want)
	}
}

// TestServerErrors checks that errors print as the server's message alone.
func TestServerErrors(t *testing.T) {
	msg := "rejected: operators[0].parallelism: 0 is outside 1..128"
	addr := serve(t, &fakeJM{submitErr: status.Error(codes.InvalidArgument, msg)})
	_, _, err := weir(t.Context(), addr, "run", "-d", "wordcount")
	if err == nil || err.Error() != msg {
		t.Errorf("error = %v; want %q", err, msg)
	}

	// Limits: gRPC's size refusal gets its option; the jobmanager's own
	// refusals are its message.
	for server, want := range map[string]string{
		"grpc: received message larger than max (70000000 vs. 67108864)": "the request is too large for the jobmanager: received message larger than max (70000000 vs. 67108864) (rpc.max-message-size)",
		"rejected: too many submissions from all clients together: the limit is 10 per second with bursts of 20 (jobmanager.submission.rate, jobmanager.submission.burst); retry in 100ms": "rejected: too many submissions from all clients together: the limit is 10 per second with bursts of 20 (jobmanager.submission.rate, jobmanager.submission.burst); retry in 100ms",
	} {
		addr := serve(t, &fakeJM{submitErr: status.Error(codes.ResourceExhausted, server)})
		if _, _, err := weir(t.Context(), addr, "run", "-d", "wordcount"); err == nil || err.Error() != want {
			t.Errorf("error = %v\nwant %q", err, want)
		}
	}

	// A port nobody listens on.
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := lis.Addr().String()
	lis.Close()
	_, _, err = weir(t.Context(), dead, "list")
	want := "cannot reach the jobmanager at " + dead + " (is it running? set it with -m or WEIR_JOBMANAGER): connection refused"
	if err == nil || err.Error() != want {
		t.Errorf("error = %v\nwant %q", err, want)
	}
}

func TestJobManagerFromEnvironment(t *testing.T) {
	f := &fakeJM{}
	addr := serve(t, f)
	c, stdout, _ := testCLI(map[string]string{"WEIR_JOBMANAGER": addr})
	if err := run(t.Context(), []string{"run", "-d", "wordcount"}, c); err != nil {
		t.Fatal(err)
	}
	if stdout.String() != "Job has been submitted with JobID job-1\n" {
		t.Errorf("stdout = %q", stdout)
	}
	if f.submits[0].Parallelism != nil {
		t.Errorf("without -p, parallelism = %d; want it unset", f.submits[0].GetParallelism())
	}

	// -m wins over the environment.
	c, _, _ = testCLI(map[string]string{"WEIR_JOBMANAGER": "127.0.0.1:1"})
	if err := run(t.Context(), []string{"-m", addr, "run", "-d", "wordcount"}, c); err != nil {
		t.Fatal(err)
	}
	if len(f.submits) != 2 {
		t.Errorf("%d submissions, want 2", len(f.submits))
	}
}

// TestUsageErrors covers command lines rejected before any RPC.
func TestUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"run"}, "missing the program name (usage: weir run [-p N] [-d] [-s PATH [-n]] [-D key=value]... NAME [job args...])"},
		{[]string{"run", "-d"}, "missing the program name (usage: weir run [-p N] [-d] [-s PATH [-n]] [-D key=value]... NAME [job args...])"},
		{[]string{"run", "-p", "-1", "wordcount"}, "-p -1: want a parallelism of at least 1"},
		{[]string{"run", "-p", "0", "wordcount"}, "-p 0: want a parallelism of at least 1"},
		{[]string{"run", "-p", "two", "wordcount"}, `invalid argument "two" for "-p, --parallelism" flag: strconv.ParseInt: parsing "two": invalid syntax (see weir run --help)`},
		{[]string{"run", "-x", "wordcount"}, "unknown shorthand flag: 'x' in -x (see weir run --help)"},
		{[]string{"run", "-D", "state.backend", "wordcount"}, `-D "state.backend": want key=value`},
		{[]string{"run", "-D", "state.bakend=heap", "wordcount"}, "-D state.bakend: unknown configuration key (did you mean state.backend?)"},
		{[]string{"run", "-D", "taskmanager.numberOfTaskSlots=4", "wordcount"}, "-D taskmanager.numberOfTaskSlots is a cluster setting and cannot be set per job"},
		{[]string{"run", "-D", "heartbeat.timeout=x", "wordcount"}, "-D heartbeat.timeout is a cluster setting and cannot be set per job"},
		{[]string{"run", "-D", "execution.checkpointing.interval=often", "wordcount"}, `-D execution.checkpointing.interval: invalid value "often": want a duration such as "10 s", "500 ms", "1 min" or plain milliseconds`},
		{[]string{"submit"}, "missing the job spec file (usage: weir submit [-d] [-s PATH [-n]] [-D key=value]... JOB.yaml)"},
		{[]string{"submit", "a.yaml", "b.yaml"}, `unexpected argument "b.yaml" (usage: weir submit [-d] [-s PATH [-n]] [-D key=value]... JOB.yaml)`},
		{[]string{"run", "-n", "wordcount"}, "-n/--allow-non-restored-state needs a savepoint to resume from (-s PATH)"},
		{[]string{"submit", "--allow-non-restored-state", "job.yaml"}, "-n/--allow-non-restored-state needs a savepoint to resume from (-s PATH)"},
		{[]string{"status"}, "missing the job ID (usage: weir status [-w] JOB)"},
		{[]string{"savepoint"}, "missing the job ID (usage: weir savepoint JOB [DIR])"},
		{[]string{"savepoint", "job-1", "s3://b/sp", "extra"}, `unexpected argument "extra" (usage: weir savepoint JOB [DIR])`},
		{[]string{"stop"}, "missing the job ID (usage: weir stop [-p DIR] JOB)"},
		{[]string{"stop", "job-1", "s3://b/sp"}, `unexpected argument "s3://b/sp" (usage: weir stop [-p DIR] JOB)`},
		{[]string{"stop", "-p"}, "flag needs an argument: 'p' in -p (see weir stop --help)"},
		{[]string{"checkpoints"}, "missing the job ID (usage: weir checkpoints [--json] JOB)"},
		{[]string{"cancel"}, "missing the job ID (usage: weir cancel JOB)"},
		{[]string{"list", "all"}, `unexpected argument "all" (usage: weir list)`},
		{[]string{"list", "--all"}, "unknown flag: --all (see weir list --help)"},
		{[]string{"stats"}, `unknown command "stats" for "weir"` + "\n\nDid you mean this?\n\tstatus\n"},
		{[]string{"local", "--taskmanagers", "0"}, "--taskmanagers 0: want at least 1"},
		{[]string{"local", "-D", "state.bakend=heap"}, "-D state.bakend: unknown configuration key (did you mean state.backend?)"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			c, stdout, _ := testCLI(nil)
			err := run(t.Context(), append([]string{"-m", "127.0.0.1:1"}, tc.args...), c)
			if err == nil || err.Error() != tc.want {
				t.Fatalf("error = %v\nwant %q", err, tc.want)
			}
			if stdout.Len() != 0 {
				t.Errorf("stdout = %q", stdout)
			}
		})
	}
}

func TestProgressLine(t *testing.T) {
	t0 := time.Unix(100, 0)
	for _, tc := range []struct {
		prev, cur sample
		want      string
	}{
		{sample{at: t0}, sample{at: t0.Add(2 * time.Second), in: 1000, out: 500}, "  records in 1000 (500/s), out 500 (250/s)"},
		{sample{at: t0, in: 1000, out: 500}, sample{at: t0.Add(500 * time.Millisecond), in: 1500, out: 500}, "  records in 1500 (1000/s), out 500 (0/s)"},
		{sample{at: t0, in: 7}, sample{at: t0, in: 9}, "  records in 9 (0/s), out 0 (0/s)"},
		// A restart's subtasks count from zero.
		{sample{at: t0, in: 1000, out: 500}, sample{at: t0.Add(2 * time.Second), in: 300, out: 100, restarts: 1}, "  records in 300 (150/s), out 100 (50/s)"},
	} {
		if got := progressLine(tc.prev, tc.cur); got != tc.want {
			t.Errorf("progressLine = %q, want %q", got, tc.want)
		}
	}
}

func TestLocalOptions(t *testing.T) {
	cfg, err := config.Load(config.Sources{Dynamic: []string{
		"jobmanager.rpc.address=127.0.0.1:0", "heartbeat.timeout=3s", "taskmanager.numberOfTaskSlots=3",
		"execution.checkpointing.interval=10s",
	}})
	if err != nil {
		t.Fatal(err)
	}
	o, err := localOptions(cfg, 2, 0)
	if err != nil {
		t.Fatal(err)
	}
	if o.TaskManagers != 2 || o.Slots != 3 || o.RPCAddress != "127.0.0.1:0" || o.HTTPAddress != "127.0.0.1:8081" ||
		o.HeartbeatTimeout != 3*time.Second || o.HeartbeatInterval != time.Second || o.SlotRequestTimeout != 5*time.Minute {
		t.Errorf("options = %+v", o)
	}
	if o.Config["execution.checkpointing.interval"] != "10s" {
		t.Errorf("jobs do not inherit the checkpoint interval: %v", o.Config)
	}
	if _, ok := o.Config["heartbeat.timeout"]; ok {
		t.Errorf("jobs inherit a cluster key: %v", o.Config)
	}
	if o, _ := localOptions(cfg, 1, 8); o.Slots != 8 {
		t.Errorf("--slots 8 gave %d slots", o.Slots)
	}
}

// With -q, run waits for the job as without it, and exits the same way,
// but prints only the job ID.
func TestRunQuiet(t *testing.T) {
	f := &fakeJM{gets: []*weirv1.GetJobResponse{job(created, "waiting", 0, 0), job(running, "", 100, 100),
		job(running, "", 300, 300), job(finished, "", 400, 400)}}
	addr := serve(t, f)
	stdout, stderr, err := weir(t.Context(), addr, "-q", "run", "wordcount")
	if err != nil || stdout != "Job has been submitted with JobID job-1\n" || stderr != "" {
		t.Errorf("run -q: err %v, stdout %q, stderr %q", err, stdout, stderr)
	}
	f = &fakeJM{gets: []*weirv1.GetJobResponse{job(running, "", 0, 0), job(failed, "boom", 0, 0)}}
	addr = serve(t, f)
	_, stderr, err = weir(t.Context(), addr, "run", "--quiet", "wordcount")
	if err == nil || err.Error() != "job job-1 failed: boom" || stderr != "" {
		t.Errorf("run -q of a failing job: err %v, stderr %q", err, stderr)
	}
}

// status -w prints the job, then follows it like run until it ends.
func TestStatusWatch(t *testing.T) {
	f := &fakeJM{gets: []*weirv1.GetJobResponse{job(running, "", 0, 0), job(running, "", 0, 0),
		job(running, "", 200, 100), job(running, "", 600, 300), job(finished, "", 800, 400)}}
	addr := serve(t, f)
	stdout, stderr, err := weir(t.Context(), addr, "status", "-w", "job-1")
	if err != nil {
		t.Fatalf("%v\nstderr: %s", err, stderr)
	}
	if !strings.HasPrefix(stdout, "Job:         job-1\n") {
		t.Errorf("stdout does not start with the job's summary:\n%s", stdout)
	}
	want := `Job job-1 is RUNNING
  records in 200 (100/s), out 100 (50/s)
Job job-1 finished in 12.5s (records in 800, out 400)
`
	if stderr != want {
		t.Errorf("stderr:\n%s\nwant:\n%s", stderr, want)
	}

	f = &fakeJM{gets: []*weirv1.GetJobResponse{job(running, "", 0, 0), job(cancelled, "", 0, 0)}}
	addr = serve(t, f)
	if _, _, err := weir(t.Context(), addr, "status", "-w", "-q", "job-1"); err == nil || err.Error() != "job job-1 was canceled" {
		t.Errorf("status -w of a job canceled meanwhile: %v", err)
	}
}

// While a savepoint is in progress, weir savepoint prints how many
// subtasks have acknowledged it whenever that changes; -q prints only the
// path.
func TestSavepointProgress(t *testing.T) {
	inProgress := func(acked int32, size int64) *weirv1.ListCheckpointsResponse {
		return &weirv1.ListCheckpointsResponse{Checkpoints: []*weirv1.CheckpointInfo{
			{CheckpointId: 6, Kind: weirv1.SnapshotKind_SNAPSHOT_KIND_CHECKPOINT, Status: weirv1.CheckpointStatus_CHECKPOINT_STATUS_COMPLETED, Acknowledged: 4, Total: 4},
			{CheckpointId: 7, Kind: weirv1.SnapshotKind_SNAPSHOT_KIND_SAVEPOINT, Status: weirv1.CheckpointStatus_CHECKPOINT_STATUS_IN_PROGRESS,
				Acknowledged: acked, Total: 4, StateSize: size},
		}}
	}
	for _, quiet := range []bool{false, true} {
		release := make(chan struct{})
		var once sync.Once
		f := &fakeJM{
			checkpoints: []*weirv1.ListCheckpointsResponse{inProgress(1, 1024), inProgress(1, 1024), inProgress(3, 4096)},
			onList: func(n int) {
				// The poller asks again only after printing the 3/4 answer.
				if n >= 4 {
					once.Do(func() { close(release) })
				}
			},
			release: release,
		}
		addr := serve(t, f)
		args := []string{"savepoint", "job-1"}
		if quiet {
			args = append([]string{"-q"}, args...)
		}
		stdout, stderr, err := weir(t.Context(), addr, args...)
		if err != nil {
			t.Fatal(err)
		}
		if stdout != "Savepoint completed. Path: s3://cluster/savepoints/savepoint-job-1-7\n" {
			t.Errorf("quiet %v: stdout = %q", quiet, stdout)
		}
		want := `Triggering a savepoint of job job-1; waiting for it to complete.
  savepoint 7: 1/4 subtasks acknowledged, 1.0 KiB of state so far
  savepoint 7: 3/4 subtasks acknowledged, 4.0 KiB of state so far
`
		if quiet {
			want = ""
		}
		if stderr != want {
			t.Errorf("quiet %v: stderr:\n%s\nwant:\n%s", quiet, stderr, want)
		}
	}
}
