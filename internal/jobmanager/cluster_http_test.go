package jobmanager_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	weirv1 "github.com/weirstream/weir/api/proto/weir/v1"
	"github.com/weirstream/weir/connector/generator"
	"github.com/weirstream/weir/internal/jobmanager"
	"github.com/weirstream/weir/internal/minicluster"
	"github.com/weirstream/weir/internal/taskmanager"
	"github.com/weirstream/weir/stream"
)

type pair struct {
	Word  string
	Count int64
}

type split struct{}

func (split) FlatMap(line string, out stream.Collector[pair]) error {
	for _, w := range strings.Fields(line) {
		out.Collect(pair{Word: w, Count: 1})
	}
	return nil
}

type byWord struct{}

func (byWord) Key(p pair) string { return p.Word }

type add struct{}

func (add) Reduce(a, b pair) (pair, error) { a.Count += b.Count; return a, nil }

// discard is a sink that drops its records.
type discard struct{}

func (discard) CreateWriter(*stream.SinkContext) (stream.SinkWriter[pair], error) {
	return discardWriter{}, nil
}

type discardWriter struct{}

func (discardWriter) Write(pair) error { return nil }
func (discardWriter) Finish() error    { return nil }
func (discardWriter) Close() error     { return nil }

func init() {
	stream.RegisterFlatMap[string, pair]("jobmanager-test.split", split{})
	stream.RegisterKeySelector[pair, string]("jobmanager-test.word", byWord{})
	stream.RegisterReduce[pair]("jobmanager-test.add", add{})
	stream.RegisterSink[pair]("jobmanager-test.discard", discard{})
}

// apiCluster is a mini cluster of two taskmanagers, with their metrics
// served, running an unbounded keyed count on the Pebble backend at
// parallelism 2 that checkpoints every 100 ms.
type apiCluster struct {
	c      *minicluster.Cluster
	client weirv1.JobManagerServiceClient
	job    string
}

func startAPICluster(t *testing.T) *apiCluster {
	t.Helper()
	ctx := t.Context()
	c, err := minicluster.Start(ctx, minicluster.Options{TaskManagers: 2, Slots: 1, BufferTimeout: 10 * time.Millisecond,
		HeartbeatInterval: 200 * time.Millisecond, HeartbeatTimeout: 10 * time.Second, TaskManagerMetrics: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	env := stream.NewEnv()
	env.SetJobName("api-count")
	env.SetParallelism(2)
	env.SetConfig("execution.checkpointing.interval", "100ms")
	env.SetConfig("state.backend", "pebble")
	env.SetConfig("restart-strategy.fixed-delay.delay", "50ms")
	words := stream.FlatMap[pair](stream.FromSource[string](env, generator.Source{Rate: 4000, Seed: 1, Words: 300}, "gen"), split{})
	stream.KeyBy[string](words, byWord{}).Reduce(add{}).SinkTo(discard{}, "drop")
	g, err := env.Graph()
	if err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.NewClient(c.RPCAddress(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	client := weirv1.NewJobManagerServiceClient(conn)
	resp, err := client.SubmitJob(ctx, &weirv1.SubmitJobRequest{Job: &weirv1.SubmitJobRequest_Graph{Graph: g}})
	if err != nil {
		t.Fatal(err)
	}
	return &apiCluster{c: c, client: client, job: resp.GetJobId()}
}

// until polls cond, which reads the cluster's state, until it holds.
func until(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		select {
		case <-t.Context().Done():
			t.Fatal(t.Context().Err())
		case <-time.After(20 * time.Millisecond): // polling a remote state, not synchronising
		}
	}
}

func httpGet(t *testing.T, url string) (int, string, []byte) {
	t.Helper()
	resp, err := http.Get(url)
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

// getJSON fetches path from the jobmanager's API and decodes it into a
// generic value: the field names are the API, so the test reads them as
// a client would.
func (a *apiCluster) getJSON(t *testing.T, path string, want int) map[string]any {
	t.Helper()
	code, ctype, body := httpGet(t, "http://"+a.c.HTTPAddress()+path)
	if code != want || ctype != "application/json" {
		t.Fatalf("GET %s: status %d, Content-Type %q, want %d application/json: %s", path, code, ctype, want, body)
	}
	var v map[string]any
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("GET %s: %v in %s", path, err, body)
	}
	return v
}

// running waits until the job runs with all four subtasks RUNNING, and
// returns its restarts so far.
func (a *apiCluster) running(t *testing.T) int32 {
	t.Helper()
	var restarts int32
	until(t, "the job's subtasks to run", func() bool {
		j, err := a.client.GetJob(t.Context(), &weirv1.GetJobRequest{JobId: a.job})
		if err != nil || j.GetJob().GetStatus() != weirv1.JobStatus_JOB_STATUS_RUNNING || len(j.GetTasks()) != 4 {
			return false
		}
		for _, task := range j.GetTasks() {
			if task.GetState() != weirv1.ExecutionState_EXECUTION_STATE_RUNNING {
				return false
			}
		}
		restarts = j.GetJob().GetRestarts()
		return true
	})
	return restarts
}

func (a *apiCluster) latestCheckpoint(t *testing.T) int64 {
	cps, err := a.client.ListCheckpoints(t.Context(), &weirv1.ListCheckpointsRequest{JobId: a.job})
	if err != nil {
		t.Fatal(err)
	}
	return cps.GetLatestCompletedId()
}

func num(v any) float64 {
	f, _ := v.(float64)
	return f
}

func list(t *testing.T, v any, what string) []map[string]any {
	t.Helper()
	l, ok := v.([]any)
	if !ok {
		t.Fatalf("%s: %T, want a list", what, v)
	}
	out := make([]map[string]any, len(l))
	for i, e := range l {
		if out[i], ok = e.(map[string]any); !ok {
			t.Fatalf("%s[%d]: %T, want an object", what, i, e)
		}
	}
	return out
}

// TestAPIResources reads every JSON resource of a running job's
// jobmanager and checks what each says against the cluster: two
// taskmanagers of one slot, a job of two tasks at parallelism 2, completed
// checkpoints acknowledged by all four subtasks, and after a taskmanager
// is lost, one restart in the exceptions history.
func TestAPIResources(t *testing.T) {
	a := startAPICluster(t)
	until(t, "two completed checkpoints", func() bool { return a.latestCheckpoint(t) >= 2 })
	// A loaded machine may restart the job on its own; the checks allow
	// for the restarts counted here.
	restarts := a.running(t)

	o := a.getJSON(t, "/api/v1/overview", http.StatusOK)
	if num(o["taskmanagers"]) != 2 || num(o["slots-total"]) != 2 || num(o["slots-available"]) != 0 || num(o["jobs-running"]) != 1 {
		t.Errorf("overview = %v", o)
	}

	jobs := list(t, a.getJSON(t, "/api/v1/jobs", http.StatusOK)["jobs"], "jobs")
	if len(jobs) != 1 || jobs[0]["jid"] != a.job || jobs[0]["state"] != "RUNNING" || jobs[0]["name"] != "api-count" {
		t.Errorf("jobs = %v", jobs)
	}

	d := a.getJSON(t, "/api/v1/jobs/"+a.job, http.StatusOK)
	if d["jid"] != a.job || d["state"] != "RUNNING" || num(d["parallelism"]) != 2 || d["checkpointing"] != true || num(d["duration"]) <= 0 {
		t.Errorf("job detail = %v", d)
	}
	vertices := list(t, d["vertices"], "vertices")
	if len(vertices) != 2 {
		t.Fatalf("vertices = %v, want 2 (gen -> split, count -> drop)", vertices)
	}
	for _, v := range vertices {
		if num(v["parallelism"]) != 2 || v["status"] != "RUNNING" {
			t.Errorf("vertex %v: want parallelism 2, RUNNING", v)
		}
	}
	src, sink := vertices[0], vertices[1]
	if ops := list(t, src["operators"], "operators"); len(ops) != 2 || ops[0]["kind"] != "SOURCE" || ops[1]["kind"] != "FLAT_MAP" {
		t.Errorf("source vertex operators = %v", ops)
	}
	if m := src["metrics"].(map[string]any); num(m["write-records"]) <= 0 {
		t.Errorf("source vertex wrote no records: %v", m)
	}
	if m := sink["metrics"].(map[string]any); num(m["read-records"]) <= 0 {
		t.Errorf("keyed vertex read no records: %v", m)
	}
	edges := list(t, d["edges"], "edges")
	if len(edges) != 1 || edges[0]["ship_strategy"] != "KEY_GROUP" || num(edges[0]["source"]) != num(src["id"]) || num(edges[0]["target"]) != num(sink["id"]) {
		t.Errorf("edges = %v", edges)
	}
	subtasks := list(t, d["subtasks"], "subtasks")
	tms := map[any]int{}
	for _, s := range subtasks {
		if s["status"] != "RUNNING" || num(s["attempt"]) != float64(restarts+1) {
			t.Errorf("subtask %v: want RUNNING, attempt %d", s, restarts+1)
		}
		tms[s["taskmanager"]]++
	}
	if len(subtasks) != 4 || len(tms) != 2 {
		t.Errorf("subtasks = %v, want 4 over 2 taskmanagers", subtasks)
	}

	cps := a.getJSON(t, "/api/v1/jobs/"+a.job+"/checkpoints", http.StatusOK)
	latest := cps["latest"].(map[string]any)["completed"].(map[string]any)
	cid := int64(num(latest["id"]))
	if cid < 2 || latest["status"] != "COMPLETED" || num(latest["num_acknowledged_subtasks"]) != 4 {
		t.Errorf("latest completed checkpoint = %v", latest)
	}

	det := a.getJSON(t, fmt.Sprintf("/api/v1/jobs/%s/checkpoints/details/%d", a.job, cid), http.StatusOK)
	acks := list(t, det["subtasks"], "checkpoint subtasks")
	if num(det["id"]) != float64(cid) || len(acks) != 4 {
		t.Fatalf("checkpoint %d detail = %v", cid, det)
	}
	var keyedState float64
	for _, s := range acks {
		if s["status"] != "ACKNOWLEDGED" || num(s["ack_timestamp"]) < num(det["trigger_timestamp"]) {
			t.Errorf("checkpoint %d, subtask %v: want ACKNOWLEDGED after the trigger", cid, s)
		}
		if num(s["vertex"]) == num(sink["id"]) {
			keyedState += num(s["state_size"])
		}
	}
	if keyedState <= 0 {
		t.Errorf("checkpoint %d: the keyed count's subtasks acknowledged no state: %v", cid, acks)
	}
	a.getJSON(t, "/api/v1/jobs/"+a.job+"/checkpoints/details/999999", http.StatusNotFound)
	a.getJSON(t, "/api/v1/jobs/"+a.job+"/checkpoints/details/x", http.StatusBadRequest)

	conf := a.getJSON(t, "/api/v1/jobs/"+a.job+"/checkpoints/config", http.StatusOK)
	if conf["enabled"] != true || conf["mode"] != "EXACTLY_ONCE" || num(conf["interval"]) != 100 || !strings.HasPrefix(conf["checkpoint_storage"].(string), "file://") {
		t.Errorf("checkpoint config = %v", conf)
	}

	tmList := list(t, a.getJSON(t, "/api/v1/taskmanagers", http.StatusOK)["taskmanagers"], "taskmanagers")
	if len(tmList) != 2 {
		t.Fatalf("taskmanagers = %v", tmList)
	}
	for _, tm := range tmList {
		if num(tm["slotsNumber"]) != 1 || num(tm["freeSlots"]) != 0 || num(tm["subtasks"]) != 2 {
			t.Errorf("taskmanager %v: want 1 slot, used, running 2 subtasks", tm)
		}
		one := a.getJSON(t, "/api/v1/taskmanagers/"+tm["id"].(string), http.StatusOK)
		if tasks := list(t, one["tasks"], "tasks"); len(tasks) != 2 || tasks[0]["jid"] != a.job {
			t.Errorf("taskmanager %s tasks = %v", tm["id"], tasks)
		}
	}
	a.getJSON(t, "/api/v1/taskmanagers/nope", http.StatusNotFound)
	a.getJSON(t, "/api/v1/jobs/nope", http.StatusNotFound)
	a.getJSON(t, "/api/v1/nothing", http.StatusNotFound)

	ex := a.getJSON(t, "/api/v1/jobs/"+a.job+"/exceptions", http.StatusOK)
	if num(ex["restarts"]) != float64(restarts) || len(list(t, ex["exceptions"], "exceptions")) != int(restarts) {
		t.Errorf("exceptions after %d restarts = %v", restarts, ex)
	}
	// Lose a taskmanager: the job restarts on a fresh one.
	a.c.StopTaskManager(1)
	if _, err := a.c.AddTaskManager(); err != nil {
		t.Fatal(err)
	}
	until(t, "a restart", func() bool {
		j, err := a.client.GetJob(t.Context(), &weirv1.GetJobRequest{JobId: a.job})
		return err == nil && j.GetJob().GetRestarts() > restarts && j.GetJob().GetStatus() == weirv1.JobStatus_JOB_STATUS_RUNNING
	})
	ex = a.getJSON(t, "/api/v1/jobs/"+a.job+"/exceptions", http.StatusOK)
	exs := list(t, ex["exceptions"], "exceptions")
	// Newest first. The cause names whichever subtask failed first: one on
	// the lost taskmanager, or one whose input from it broke.
	if num(ex["restarts"]) <= float64(restarts) || len(exs) != int(num(ex["restarts"])) || exs[0]["restarted"] != true ||
		num(exs[0]["attempt"]) <= float64(restarts) || !strings.Contains(exs[0]["cause"].(string), "subtask") || num(exs[0]["timestamp"]) <= 0 {
		t.Errorf("exceptions after losing taskmanager-1 (%d restarts before) = %v", restarts, ex)
	}
}

// TestReadiness checks /healthz and /readyz of the jobmanager and of a
// taskmanager: not ready before running (the jobmanager) or registering
// (the taskmanager), ready in a running cluster.
func TestReadiness(t *testing.T) {
	srv := httptest.NewServer(jobmanager.New(jobmanager.Options{}).Handler())
	defer srv.Close()
	if code, _, body := httpGet(t, srv.URL+"/readyz"); code != http.StatusServiceUnavailable || string(body) != "not started\n" {
		t.Errorf("GET /readyz of a jobmanager not started: %d %q", code, body)
	}
	if code, _, _ := httpGet(t, srv.URL+"/healthz"); code != http.StatusOK {
		t.Errorf("GET /healthz of a jobmanager not started: %d", code)
	}
	tm, err := taskmanager.New(taskmanager.Options{ID: "tm", Address: "127.0.0.1:1", JobManager: "127.0.0.1:1", Slots: 1, DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	tmSrv := httptest.NewServer(tm.Handler())
	defer tmSrv.Close()
	if code, _, body := httpGet(t, tmSrv.URL+"/readyz"); code != http.StatusServiceUnavailable || string(body) != "not registered with the jobmanager\n" {
		t.Errorf("GET /readyz of a taskmanager not registered: %d %q", code, body)
	}

	c, err := minicluster.Start(t.Context(), minicluster.Options{TaskManagers: 1, Slots: 1, TaskManagerMetrics: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, addr := range []string{c.HTTPAddress(), c.MetricsAddress(0)} {
		if code, _, body := httpGet(t, "http://"+addr+"/healthz"); code != http.StatusOK || string(body) != "ok\n" {
			t.Errorf("GET %s/healthz: %d %q", addr, code, body)
		}
		// The taskmanager marks itself registered just after the
		// jobmanager has.
		until(t, addr+"/readyz", func() bool {
			code, _, body := httpGet(t, "http://"+addr+"/readyz")
			return code == http.StatusOK && string(body) == "ok\n"
		})
	}
}
