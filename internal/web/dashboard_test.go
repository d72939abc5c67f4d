package web_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	weirv1 "github.com/weirstream/weir/api/proto/weir/v1"
	"github.com/weirstream/weir/connector/generator"
	"github.com/weirstream/weir/internal/minicluster"
	"github.com/weirstream/weir/stream"
)

// RequireChromiumEnv, set to 1, turns "Chromium is unavailable" from a
// skip into a failure; CI sets it.
const RequireChromiumEnv = "WEIRTEST_REQUIRE_CHROMIUM"

// ArtifactsEnv names the directory for the screenshots; out/test-artifacts
// at the module root when unset.
const ArtifactsEnv = "WEIRTEST_ARTIFACTS"

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

type discard struct{}

func (discard) CreateWriter(*stream.SinkContext) (stream.SinkWriter[pair], error) {
	return discardWriter{}, nil
}

type discardWriter struct{}

func (discardWriter) Write(pair) error { return nil }
func (discardWriter) Finish() error    { return nil }
func (discardWriter) Close() error     { return nil }

func init() {
	stream.RegisterFlatMap[string, pair]("web-test.split", split{})
	stream.RegisterKeySelector[pair, string]("web-test.word", byWord{})
	stream.RegisterReduce[pair]("web-test.add", add{})
	stream.RegisterSink[pair]("web-test.discard", discard{})
}

// chromium returns the path of a Chromium binary, installed by
// scripts/chromium.sh when missing.
func chromium(t *testing.T) string {
	t.Helper()
	var stderr bytes.Buffer
	cmd := exec.CommandContext(t.Context(), "bash", filepath.Join(moduleRoot(t), "scripts", "chromium.sh"))
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		msg := fmt.Sprintf("chromium unavailable: %v\n%s", err, stderr.String())
		if os.Getenv(RequireChromiumEnv) == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg + "(set " + RequireChromiumEnv + "=1 to fail instead)")
	}
	return strings.TrimSpace(string(out))
}

func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "go.mod")); err != nil {
		t.Fatalf("module root: %v", err)
	}
	return dir
}

func artifacts(t *testing.T) string {
	t.Helper()
	dir := os.Getenv(ArtifactsEnv)
	if dir == "" {
		dir = filepath.Join(moduleRoot(t), "out", "test-artifacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// browser runs headless Chromium on url with args, giving the page's
// scripts 3 s of virtual time (fetches included) before it answers.
func browser(t *testing.T, bin, url string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	all := append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars",
		"--no-first-run", "--user-data-dir=" + t.TempDir(), "--virtual-time-budget=3000", "--window-size=1400,1100"}, args...)
	cmd := exec.CommandContext(ctx, bin, append(all, url)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %s: %v\n%s", url, err, stderr.String())
	}
	return stdout.String()
}

// TestDashboard drives the dashboard in headless Chromium against a mini
// cluster running a checkpointing job: the jobs list shows the running
// job, the job's checkpoints tab shows completed checkpoints, the job's
// graph and a checkpoint's per-subtask acknowledgements render, and
// screenshots are kept as test artifacts.
func TestDashboard(t *testing.T) {
	bin := chromium(t)
	ctx := t.Context()
	c, err := minicluster.Start(ctx, minicluster.Options{TaskManagers: 2, Slots: 1, BufferTimeout: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	env := stream.NewEnv()
	env.SetJobName("dashboard-count")
	env.SetParallelism(2)
	env.SetConfig("execution.checkpointing.interval", "200ms")
	words := stream.FlatMap[pair](stream.FromSource[string](env, generator.Source{Rate: 2000, Seed: 1, Words: 200}, "gen"), split{})
	stream.KeyBy[string](words, byWord{}).Reduce(add{}).SinkTo(discard{}, "drop")
	g, err := env.Graph()
	if err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.NewClient(c.RPCAddress(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := weirv1.NewJobManagerServiceClient(conn)
	resp, err := client.SubmitJob(ctx, &weirv1.SubmitJobRequest{Job: &weirv1.SubmitJobRequest_Graph{Graph: g}})
	if err != nil {
		t.Fatal(err)
	}
	id := resp.GetJobId()
	for {
		cps, err := client.ListCheckpoints(ctx, &weirv1.ListCheckpointsRequest{JobId: id})
		if err != nil {
			t.Fatal(err)
		}
		if cps.GetLatestCompletedId() >= 2 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		case <-time.After(20 * time.Millisecond): // polling the job's progress
		}
	}
	base := "http://" + c.HTTPAddress() + "/"
	out := artifacts(t)

	// The jobs list shows the running job.
	dom := browser(t, bin, base+"#/jobs", "--dump-dom")
	row := regexp.MustCompile(`<tr data-jid="` + id + `" data-state="RUNNING">[\s\S]*?</tr>`).FindString(dom)
	if row == "" || !strings.Contains(row, "dashboard-count") || !strings.Contains(row, `href="#/jobs/`+id+`"`) {
		t.Fatalf("jobs list has no RUNNING row of job %s named dashboard-count:\n%s", id, dom)
	}

	// The checkpoints tab shows completed checkpoints with their figures.
	dom = browser(t, bin, base+"#/jobs/"+id+"/checkpoints", "--dump-dom")
	completed := regexp.MustCompile(`<tr data-checkpoint="(\d+)" data-status="COMPLETED">[\s\S]*?</tr>`).FindAllStringSubmatch(dom, -1)
	if len(completed) < 2 {
		t.Fatalf("checkpoints tab shows %d completed checkpoints, want at least 2:\n%s", len(completed), dom)
	}
	if !strings.Contains(completed[0][0], "4/4") {
		t.Errorf("completed checkpoint row lacks 4/4 acknowledgements: %s", completed[0][0])
	}
	if !strings.Contains(dom, `id="checkpoint-config"`) || !strings.Contains(dom, "EXACTLY_ONCE") {
		t.Errorf("checkpoints tab lacks the configuration")
	}
	browser(t, bin, base+"#/jobs/"+id+"/checkpoints", "--screenshot="+filepath.Join(out, "dashboard-checkpoints.png"))

	// One checkpoint's per-subtask acknowledgements.
	dom = browser(t, bin, base+"#/jobs/"+id+"/checkpoints/"+completed[0][1], "--dump-dom")
	if n := strings.Count(dom, `<tr data-status="ACKNOWLEDGED">`); n != 4 {
		t.Errorf("checkpoint %s detail shows %d acknowledged subtasks, want 4:\n%s", completed[0][1], n, dom)
	}

	// The job's operator graph and subtasks.
	dom = browser(t, bin, base+"#/jobs/"+id, "--dump-dom")
	if n := strings.Count(dom, `class="vertex RUNNING"`); n != 2 || !strings.Contains(dom, "key group") {
		t.Errorf("job page shows %d running vertices, want 2 joined by a key group edge:\n%s", n, dom)
	}
	browser(t, bin, base+"#/jobs/"+id, "--screenshot="+filepath.Join(out, "dashboard-job.png"))

	// Overview and task managers.
	dom = browser(t, bin, base+"#/taskmanagers", "--dump-dom")
	if n := strings.Count(dom, `<tr data-taskmanager="`); n != 2 {
		t.Errorf("task managers page lists %d, want 2", n)
	}

	for _, name := range []string{"dashboard-checkpoints.png", "dashboard-job.png"} {
		b, err := os.ReadFile(filepath.Join(out, name))
		if err != nil {
			t.Fatal(err)
		}
		if len(b) < 10_000 || !bytes.HasPrefix(b, []byte("\x89PNG")) {
			t.Errorf("%s: %d bytes, not a screenshot of a rendered page", name, len(b))
		}
		t.Logf("screenshot: %s", filepath.Join(out, name))
	}
}
