package jobmanager_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	weirv1 "github.com/weirstream/weir/api/proto/weir/v1"
	"github.com/weirstream/weir/connector/generator"
	"github.com/weirstream/weir/internal/jobmanager"
	"github.com/weirstream/weir/internal/minicluster"
	"github.com/weirstream/weir/stream"
)

// Submissions over every limit, over real gRPC: each is refused with its
// code and a message naming the field, the value and the limit; none leaves
// a job behind, and a valid job runs, checkpoints and takes a savepoint
// afterwards.
func TestSubmissionLimits(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	allowed := "file://" + filepath.Join(dir, "allowed")
	elsewhere := "file://" + filepath.Join(dir, "elsewhere")

	env := stream.NewEnv()
	env.SetJobName("limits-count")
	env.SetParallelism(2)
	env.SetMaxParallelism(256)
	words := stream.FlatMap[pair](stream.FromSource[string](env, generator.Source{Rate: 2000, Seed: 1, Words: 100}, "gen"), split{})
	stream.KeyBy[string](words, byWord{}).Reduce(add{}).SinkTo(discard{}, "drop")
	g, err := env.Graph()
	if err != nil {
		t.Fatal(err)
	}
	ops := len(g.GetOperators())

	limits := jobmanager.DefaultLimits()
	limits.MaxGraphSize = 64 << 10
	limits.MaxOperators = ops
	limits.MaxParallelism = 2
	limits.MaxKeyGroups = 256
	limits.SubmissionRate, limits.SubmissionBurst = 0.001, 40 // no refill within the test
	limits.AllowedStorage = []string{allowed}
	c, err := minicluster.Start(ctx, minicluster.Options{TaskManagers: 1, Slots: 2, BufferTimeout: 10 * time.Millisecond,
		HeartbeatInterval: 200 * time.Millisecond, HeartbeatTimeout: 10 * time.Second,
		Limits: &limits, MaxMessageSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	conn, err := grpc.NewClient(c.RPCAddress(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	client := weirv1.NewJobManagerServiceClient(conn)

	submit := func(mutate func(g *weirv1.JobGraph, req *weirv1.SubmitJobRequest)) error {
		gc := proto.Clone(g).(*weirv1.JobGraph)
		req := &weirv1.SubmitJobRequest{Job: &weirv1.SubmitJobRequest_Graph{Graph: gc}}
		mutate(gc, req)
		_, err := client.SubmitJob(ctx, req)
		return err
	}
	setConfig := func(kv ...string) func(*weirv1.JobGraph, *weirv1.SubmitJobRequest) {
		return func(_ *weirv1.JobGraph, req *weirv1.SubmitJobRequest) {
			req.Config = map[string]string{}
			for i := 0; i < len(kv); i += 2 {
				req.Config[kv[i]] = kv[i+1]
			}
		}
	}
	for _, tc := range []struct {
		name   string
		mutate func(g *weirv1.JobGraph, req *weirv1.SubmitJobRequest)
		code   codes.Code
		want   []string
	}{
		{"message over rpc.max-message-size", func(g *weirv1.JobGraph, _ *weirv1.SubmitJobRequest) { g.Name = strings.Repeat("x", 2<<20) },
			codes.ResourceExhausted, []string{"larger than max", "1048576"}},
		{"graph over jobmanager.job.max-graph-size", func(g *weirv1.JobGraph, _ *weirv1.SubmitJobRequest) { g.Name = strings.Repeat("x", 100<<10) },
			codes.InvalidArgument, []string{"rejected: job: ", " bytes exceeds the limit 65536 bytes (jobmanager.job.max-graph-size)"}},
		{"operators over jobmanager.job.max-operators", func(g *weirv1.JobGraph, _ *weirv1.SubmitJobRequest) {
			sink := proto.Clone(g.Operators[ops-1]).(*weirv1.Operator)
			sink.Id, sink.Name, sink.Uid = int32(ops), sink.GetName()+"-2", sink.GetUid()+"-2"
			g.Operators = append(g.Operators, sink)
		}, codes.InvalidArgument, []string{"rejected: operators: " + itoa(ops+1) + " operators exceeds the limit " + itoa(ops) + " (jobmanager.job.max-operators)"}},
		{"parallelism over jobmanager.job.max-parallelism", func(g *weirv1.JobGraph, _ *weirv1.SubmitJobRequest) { g.Operators[0].Parallelism = 3 },
			codes.InvalidArgument, []string{"rejected: operators[0] (", ").parallelism: 3 exceeds the limit 2 (jobmanager.job.max-parallelism)"}},
		{"key groups over jobmanager.job.max-key-groups", func(g *weirv1.JobGraph, _ *weirv1.SubmitJobRequest) { g.MaxParallelism = 512 },
			codes.InvalidArgument, []string{"rejected: max_parallelism: 512 exceeds the limit 256 (jobmanager.job.max-key-groups)"}},
		{"checkpoint interval below the floor", setConfig("execution.checkpointing.interval", "50ms", "state.checkpoints.dir", allowed),
			codes.InvalidArgument, []string{"execution.checkpointing.interval: 50ms is below the cluster's floor of 100ms (jobmanager.checkpointing.min-interval)"}},
		{"checkpoints outside the prefixes", setConfig("execution.checkpointing.interval", "1s", "state.checkpoints.dir", elsewhere),
			codes.PermissionDenied, []string{"rejected: config: state.checkpoints.dir: ", elsewhere + " is not under " + allowed}},
		{"checkpoints escaping with ..", setConfig("execution.checkpointing.interval", "1s", "state.checkpoints.dir", allowed+"/../elsewhere"),
			codes.InvalidArgument, []string{"state.checkpoints.dir", `has a ".." segment`}},
		{"checkpoints in another bucket", setConfig("execution.checkpointing.interval", "1s", "state.checkpoints.dir", "s3://other/weir"),
			codes.PermissionDenied, []string{"state.checkpoints.dir", "s3://other/weir is not under"}},
		{"savepoints dir outside the prefixes", setConfig("state.savepoints.dir", "/etc"),
			codes.PermissionDenied, []string{"rejected: config: state.savepoints.dir: ", "file:///etc is not under"}},
		{"restore from outside the prefixes", func(_ *weirv1.JobGraph, req *weirv1.SubmitJobRequest) { req.SavepointPath = elsewhere + "/savepoint-1" },
			codes.PermissionDenied, []string{"rejected: savepoint_path: ", elsewhere + "/savepoint-1 is not under"}},
	} {
		err := submit(tc.mutate)
		if status.Code(err) != tc.code {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.code)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(status.Convert(err).Message(), w) {
				t.Errorf("%s: %q does not say %q", tc.name, status.Convert(err).Message(), w)
			}
		}
	}
	jobs, err := client.ListJobs(ctx, &weirv1.ListJobsRequest{})
	if err != nil || len(jobs.GetJobs()) != 0 {
		t.Fatalf("refused submissions left jobs: %v, %v", jobs.GetJobs(), err)
	}

	// A valid job runs and checkpoints under the allowed prefix.
	resp, err := client.SubmitJob(ctx, &weirv1.SubmitJobRequest{Job: &weirv1.SubmitJobRequest_Graph{Graph: g},
		Config: map[string]string{"execution.checkpointing.interval": "100ms", "state.checkpoints.dir": allowed + "/checkpoints"}})
	if err != nil {
		t.Fatalf("a valid job after the refusals: %v", err)
	}
	until(t, "a completed checkpoint of the valid job", func() bool {
		cps, err := client.ListCheckpoints(ctx, &weirv1.ListCheckpointsRequest{JobId: resp.GetJobId()})
		return err == nil && cps.GetLatestCompletedId() > 0
	})
	for target, code := range map[string]codes.Code{elsewhere: codes.PermissionDenied, allowed + "/../elsewhere": codes.InvalidArgument} {
		_, err := client.TriggerSavepoint(ctx, &weirv1.TriggerSavepointRequest{JobId: resp.GetJobId(), TargetDirectory: target})
		if status.Code(err) != code || !strings.Contains(status.Convert(err).Message(), "target_directory") {
			t.Errorf("savepoint into %s: %v, want %v naming target_directory", target, err, code)
		}
	}
	sp, err := client.TriggerSavepoint(ctx, &weirv1.TriggerSavepointRequest{JobId: resp.GetJobId(), TargetDirectory: allowed + "/savepoints"})
	if err != nil || !strings.HasPrefix(sp.GetPath(), allowed+"/savepoints/") {
		t.Fatalf("savepoint under the allowed prefix: %v, %v", sp.GetPath(), err)
	}

	// The rate limit: the burst runs out (every submission so far took a
	// token), then ResourceExhausted with a retry hint.
	var last error
	for range limits.SubmissionBurst + 1 {
		if _, last = client.SubmitJob(ctx, &weirv1.SubmitJobRequest{}); status.Code(last) == codes.ResourceExhausted {
			break
		}
	}
	if status.Code(last) != codes.ResourceExhausted || !strings.Contains(status.Convert(last).Message(), "jobmanager.submission.rate") ||
		!strings.Contains(status.Convert(last).Message(), "retry in ") {
		t.Fatalf("after the burst: %v, want ResourceExhausted with the limit and a retry hint", last)
	}
	j, err := client.GetJob(ctx, &weirv1.GetJobRequest{JobId: resp.GetJobId()})
	if err != nil || j.GetJob().GetStatus() != weirv1.JobStatus_JOB_STATUS_RUNNING {
		t.Fatalf("the valid job after the rate limit: %v, %v", j.GetJob().GetStatus(), err)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// No HTTP endpoint serves a file by a path from the request: the dashboard
// is an embedded file tree, and paths that try to leave it get no file.
func TestHTTPServesNoFileByPath(t *testing.T) {
	srv := httptest.NewServer(jobmanager.New(jobmanager.Options{}).Handler())
	defer srv.Close()
	for _, p := range []string{"/../../../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd", "/static/../../go.mod", "/..%2f..%2fetc%2fpasswd",
		"/api/v1/jobs/..%2f..%2fetc%2fpasswd", "/api/v1/jobs/x/checkpoints/details/..%2f_metadata"} {
		req, err := http.NewRequest("GET", srv.URL+"/", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.URL.Opaque = p // sent as written, not cleaned by the client
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.Contains(string(body), "root:") || strings.Contains(string(body), "module github.com/weirstream/weir") {
			t.Errorf("GET %s served a file from disk: %d %q", p, resp.StatusCode, body)
		}
	}
}
