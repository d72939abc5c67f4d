package integration

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	weirv1 "github.com/weirstream/weir/api/proto/weir/v1"
)

// A job that needs more slots than the cluster has waits with a visible
// status and message, and fails after slot.request.timeout instead of
// hanging; the cluster then runs a job that fits.
func TestJobWaitsForSlotsThenFails(t *testing.T) {
	c := startCluster(t, 1, 1, "-D", "slot.request.timeout=3s")
	text := hamlet(t)
	stdout, stderr, err := c.weir("run", "-d", "-p", "2", "wordcount", "--input", text)
	if err != nil {
		t.Fatalf("weir run -d: %v\n%s", err, stderr)
	}
	id := jobID(t, stdout)
	st, msg := jobStatus(c, id)
	if st != weirv1.JobStatus_JOB_STATUS_CREATED || !strings.Contains(msg, "waiting for 2 free slots") {
		t.Fatalf("job is %v (%q), want CREATED and waiting for 2 free slots", st, msg)
	}
	eventually(t, 20*time.Second, statusIs(c, id, weirv1.JobStatus_JOB_STATUS_FAILED))
	if _, msg := jobStatus(c, id); !strings.Contains(msg, "slot.request.timeout") {
		t.Fatalf("failure message does not say why: %q", msg)
	}
	if _, stderr, err := c.weir("run", "wordcount", "--input", text, "--output", filepath.Join(t.TempDir(), "out")); err != nil {
		t.Fatalf("a job that fits: %v\n%s", err, stderr)
	}
}

// A taskmanager that disappears is noticed by heartbeat timeout: the
// jobmanager drops it and its tasks are marked failed.
func TestLostTaskManagerFailsItsTasks(t *testing.T) {
	hb := []string{"-D", "heartbeat.interval=100ms", "-D", "heartbeat.timeout=1s"}
	c := startCluster(t, 2, 1, hb...)
	dir := t.TempDir()
	input := filepath.Join(dir, "text.txt")
	writeText(t, input, 50_000)
	// --rate keeps the job running for minutes unless something stops it.
	stdout, stderr, err := c.weir("run", "-d", "-p", "2", "wordcount", "--input", input, "--rate", "20", "--output", filepath.Join(dir, "out"))
	if err != nil {
		t.Fatalf("weir run -d: %v\n%s", err, stderr)
	}
	id := jobID(t, stdout)
	eventually(t, 20*time.Second, statusIs(c, id, weirv1.JobStatus_JOB_STATUS_RUNNING))
	victim := c.job(id).GetTasks()[0].GetTaskManagerId()
	for i, tm := range c.tms {
		if strings.Contains(tm.log.String(), victim) {
			c.tms[i].kill()
		}
	}
	eventually(t, 20*time.Second, statusIs(c, id, weirv1.JobStatus_JOB_STATUS_FAILED))
	eventually(t, 20*time.Second, func() (bool, string) {
		log := c.jm.log.String()
		return strings.Contains(log, "taskmanager lost") && strings.Contains(log, victim), "no heartbeat-timeout line for " + victim
	})
	o, err := c.client().GetClusterOverview(context.Background(), &weirv1.GetClusterOverviewRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tm := range o.GetTaskManagers() {
		if tm.GetTaskManagerId() == victim {
			t.Fatalf("the lost taskmanager %s is still registered", victim)
		}
	}
	for _, task := range c.job(id).GetTasks() {
		if task.GetTaskManagerId() == victim && task.GetState() != weirv1.ExecutionState_EXECUTION_STATE_FAILED {
			t.Fatalf("task %s on the lost taskmanager is %v, want FAILED", task.GetName(), task.GetState())
		}
	}
}

// rss returns a process's resident set size in bytes.
func rss(t *testing.T, pid int) int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			var kb int64
			fmt.Sscanf(strings.TrimSpace(strings.TrimPrefix(l, "VmRSS:")), "%d", &kb)
			return kb << 10
		}
	}
	t.Fatalf("no VmRSS for pid %d", pid)
	return 0
}
