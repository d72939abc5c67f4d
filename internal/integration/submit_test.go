package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	weirv1 "github.com/weirstream/weir/api/proto/weir/v1"
)

// A YAML job spec of built-in functions runs like the program it mirrors.
func TestSubmitJobSpec(t *testing.T) {
	c := startCluster(t, 2, 1)
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	spec, err := os.ReadFile(filepath.Join(root, "examples", "wordcount", "wordcount.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "out")
	text := hamlet(t)
	s := strings.Replace(string(spec), "examples/wordcount/data/hamlet.txt", text, 1)
	s = strings.Replace(s, "/tmp/weir-wordcount-spec", out, 1)
	path := filepath.Join(t.TempDir(), "job.yaml")
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	if stdout, stderr, err := c.weir("submit", path); err != nil {
		t.Fatalf("weir submit: %v\n%s\n%s", err, stdout, stderr)
	}
	want, total := referenceCounts(t, text)
	checkCounts(t, readOutput(t, out), want, total)

	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte(strings.Replace(s, "reduce: wordcount.sum", "reduce: wordcount.summ", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	_, stderr, err := c.weir("submit", bad)
	if err == nil || !strings.Contains(stderr, `unknown function "wordcount.summ"`) {
		t.Fatalf("a spec naming an unknown function: %v\n%s", err, stderr)
	}
}

// A running job can be cancelled: its tasks end CANCELED, its unfinished
// output stays unpublished, and its slots serve the next job.
func TestCancelRunningJob(t *testing.T) {
	c := startCluster(t, 2, 1)
	dir := t.TempDir()
	input := filepath.Join(dir, "text.txt")
	writeText(t, input, 10_000)
	stdout, stderr, err := c.weir("run", "-d", "-p", "2", "wordcount", "--input", input, "--rate", "10", "--output", filepath.Join(dir, "out"))
	if err != nil {
		t.Fatalf("weir run -d: %v\n%s", err, stderr)
	}
	id := jobID(t, stdout)
	eventually(t, 20*time.Second, statusIs(c, id, weirv1.JobStatus_JOB_STATUS_RUNNING))
	status, _, err := c.weir("status", id)
	if err != nil || !strings.Contains(status, "RUNNING") {
		t.Fatalf("weir status: %v\n%s", err, status)
	}
	if _, stderr, err := c.weir("cancel", id); err != nil {
		t.Fatalf("weir cancel: %v\n%s", err, stderr)
	}
	eventually(t, 20*time.Second, statusIs(c, id, weirv1.JobStatus_JOB_STATUS_CANCELED))
	for _, task := range c.job(id).GetTasks() {
		if task.GetState() != weirv1.ExecutionState_EXECUTION_STATE_CANCELED {
			t.Errorf("task %s subtask %d is %v after cancel", task.GetName(), task.GetExecution().GetSubtaskIndex(), task.GetState())
		}
	}
	if entries, _ := os.ReadDir(filepath.Join(dir, "out")); len(entries) != 0 {
		t.Errorf("a cancelled job left output files: %v", entries)
	}
	if _, stderr, err := c.weir("cancel", id); err == nil || !strings.Contains(stderr, "already CANCELED") {
		t.Fatalf("cancelling twice: %v\n%s", err, stderr)
	}
	if _, stderr, err := c.weir("run", "-p", "2", "wordcount", "--input", hamlet(t), "--output", filepath.Join(dir, "out2")); err != nil {
		t.Fatalf("a job after the cancelled one: %v\n%s", err, stderr)
	}
}
