package integration

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	weirv1 "github.com/weirstream/weir/api/proto/weir/v1"
)

func awaitCheckpoints(t *testing.T, c *cluster, id string, n int64) int64 {
	t.Helper()
	var latest int64
	eventually(t, 60*time.Second, func() (bool, string) {
		cps, err := c.client().ListCheckpoints(context.Background(), &weirv1.ListCheckpointsRequest{JobId: id})
		if err != nil {
			return false, err.Error()
		}
		latest = cps.GetLatestCompletedId()
		return latest >= n, fmt.Sprintf("latest completed checkpoint %d", latest)
	})
	return latest
}

// Stop-with-savepoint in the middle of a job, move the savepoint elsewhere,
// resume from it: the combined output is as if the job had never stopped.
// A damaged savepoint is refused.
func TestSavepointRoundTrip(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for about 10 s")
	}
	c := startCluster(t, 2, 1)
	dir := t.TempDir()
	input := filepath.Join(dir, "text.txt")
	want, total := writeText(t, input, 20_000)
	lines := strings.Count(readFile(t, input), "\n")
	out := filepath.Join(dir, "out")
	ckpt := []string{"-D", "execution.checkpointing.interval=500ms", "-D", "state.checkpoints.dir=file://" + filepath.Join(dir, "checkpoints")}
	stdout, stderr, err := c.weir(append(append([]string{"run", "-d", "-p", "2"}, ckpt...),
		"wordcount", "--input", input, "--rate", strconv.Itoa(lines/8), "--output", out)...)
	if err != nil {
		t.Fatalf("weir run: %v\n%s", err, stderr)
	}
	id := jobID(t, stdout)
	awaitCheckpoints(t, c, id, 2)
	stdout, stderr, err = c.weir("stop", "-p", "file://"+filepath.Join(dir, "savepoints"), id)
	if err != nil {
		t.Fatalf("weir stop: %v\n%s", err, stderr)
	}
	path := jobID(t, stdout) // the path is the last word too
	eventually(t, 20*time.Second, statusIs(c, id, weirv1.JobStatus_JOB_STATUS_FINISHED))
	if _, msg := jobStatus(c, id); !strings.Contains(msg, "stopped with savepoint") {
		t.Fatalf("the stopped job says %q", msg)
	}
	if n := len(readVisible(t, out)); n == 0 || n >= total {
		t.Fatalf("%d output lines before the stop: the stop did not come in the middle of the job (%d words)", n, total)
	}

	moved := filepath.Join(dir, "elsewhere", "sp")
	if err := os.MkdirAll(filepath.Dir(moved), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(strings.TrimPrefix(path, "file://"), moved); err != nil {
		t.Fatal(err)
	}

	// A damaged copy is refused with a clear error.
	damaged := filepath.Join(dir, "damaged")
	copyDir(t, moved, damaged)
	entries, _ := os.ReadDir(damaged)
	for _, e := range entries {
		if e.Name() != "_metadata" {
			b := []byte(readFile(t, filepath.Join(damaged, e.Name())))
			b[len(b)/2] ^= 0x20
			if err := os.WriteFile(filepath.Join(damaged, e.Name()), b, 0o644); err != nil {
				t.Fatal(err)
			}
			break
		}
	}
	_, stderr, err = c.weir(append(append([]string{"run", "-p", "2", "-s", "file://" + damaged}, ckpt...),
		"wordcount", "--input", input, "--output", out)...)
	if err == nil || !strings.Contains(stderr, "is damaged") {
		t.Fatalf("a damaged savepoint: %v\n%s", err, stderr)
	}

	if _, stderr, err := c.weir(append(append([]string{"run", "-p", "2", "-s", "file://" + moved}, ckpt...),
		"wordcount", "--input", input, "--output", out)...); err != nil {
		t.Fatalf("resuming from the moved savepoint: %v\n%s", err, stderr)
	}
	checkCounts(t, readOutput(t, out), want, total)
}

func copyDir(t *testing.T, from, to string) {
	t.Helper()
	if err := os.MkdirAll(to, 0o755); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(from)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if err := os.WriteFile(filepath.Join(to, e.Name()), []byte(readFile(t, filepath.Join(from, e.Name()))), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// damage runs a job with three retained checkpoints, damages the newest
// (with damage) the moment it completes, and kills a taskmanager so the job
// restores; it returns the cluster, the job ID and the damaged checkpoint.
func damageAndRecover(t *testing.T, damage func(t *testing.T, chk string)) (*cluster, string, int64) {
	hb := []string{"-D", "heartbeat.interval=200ms", "-D", "heartbeat.timeout=3s"}
	c := startClusterWith(t, &cluster{tmArgs: hb}, 2, 1, hb...)
	dir := t.TempDir()
	input := filepath.Join(dir, "text.txt")
	want, _ := writeText(t, input, 10_000)
	lines := strings.Count(readFile(t, input), "\n")
	out := filepath.Join(dir, "out")
	store := filepath.Join(dir, "checkpoints")
	stdout, stderr, err := c.weir("run", "-d", "-p", "2", "-D", "execution.checkpointing.interval=2s",
		"-D", "state.checkpoints.dir=file://"+store, "-D", "state.checkpoints.num-retained=3",
		"-D", "restart-strategy.fixed-delay.delay=200ms",
		"wordcount", "--input", input, "--rate", strconv.Itoa(lines/12), "--output", out)
	if err != nil {
		t.Fatalf("weir run: %v\n%s", err, stderr)
	}
	id := jobID(t, stdout)
	newest := awaitCheckpoints(t, c, id, 3)
	damage(t, filepath.Join(store, id, fmt.Sprintf("chk-%d", newest)))
	c.tms[1].kill()
	c.addTaskManager(1, hb...)
	eventually(t, 120*time.Second, statusIs(c, id, weirv1.JobStatus_JOB_STATUS_FINISHED))
	// Side effects of the newest checkpoint were committed before it was
	// found damaged, so an older restore repeats some: counts are exact,
	// lines may repeat.
	checkFinalCounts(t, readOutput(t, out), want)
	return c, id, newest
}

// A flipped byte in the newest checkpoint's state: recovery uses the
// previous checkpoint and says so.
func TestRecoveryFallsBackPastDamagedState(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for about 15 s")
	}
	t.Parallel()
	c, id, newest := damageAndRecover(t, func(t *testing.T, chk string) {
		entries, err := os.ReadDir(chk)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if e.Name() != "_metadata" {
				p := filepath.Join(chk, e.Name())
				b := []byte(readFile(t, p))
				b[len(b)/2] ^= 0x01
				if err := os.WriteFile(p, b, 0o644); err != nil {
					t.Fatal(err)
				}
			}
		}
	})
	cps, err := c.client().ListCheckpoints(context.Background(), &weirv1.ListCheckpointsRequest{JobId: id})
	if err != nil {
		t.Fatal(err)
	}
	if cps.GetRestoreFallbacks() < 1 {
		t.Fatal("no restore fell back past the damaged checkpoint")
	}
	log := c.jm.log.String()
	if !strings.Contains(log, "falling back to an older one") || !strings.Contains(log, fmt.Sprintf("checkpoint=%d", newest)) {
		t.Fatalf("the jobmanager did not say it fell back past checkpoint %d", newest)
	}
}

// Without its _metadata the newest checkpoint does not exist: recovery
// ignores it.
func TestRecoveryIgnoresCheckpointWithoutMetadata(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for about 15 s")
	}
	t.Parallel()
	c, _, newest := damageAndRecover(t, func(t *testing.T, chk string) {
		if err := os.Remove(filepath.Join(chk, "_metadata")); err != nil {
			t.Fatal(err)
		}
	})
	for _, l := range strings.Split(c.jm.log.String(), "\n") {
		if strings.Contains(l, "restoring") && strings.Contains(l, fmt.Sprintf("chk-%d ", newest)) {
			t.Fatalf("restored the checkpoint whose _metadata was deleted: %s", l)
		}
	}
	if !strings.Contains(c.jm.log.String(), "restoring") {
		t.Fatal("the job did not restore from a checkpoint")
	}
}

// A cancelled job's checkpoints are deleted by default; retained on
// cancellation, the newest one resumes the job like a savepoint.
func TestResumeFromRetainedCheckpoint(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for about 10 s")
	}
	c := startCluster(t, 2, 1)
	dir := t.TempDir()
	input := filepath.Join(dir, "text.txt")
	want, total := writeText(t, input, 20_000)
	lines := strings.Count(readFile(t, input), "\n")
	out := filepath.Join(dir, "out")
	run := func(store, retention string) string {
		stdout, stderr, err := c.weir("run", "-d", "-p", "2", "-D", "execution.checkpointing.interval=500ms",
			"-D", "state.checkpoints.dir=file://"+store,
			"-D", "execution.checkpointing.externalized-checkpoint-retention="+retention,
			"wordcount", "--input", input, "--rate", strconv.Itoa(lines/8), "--output", out)
		if err != nil {
			t.Fatalf("weir run: %v\n%s", err, stderr)
		}
		id := jobID(t, stdout)
		awaitCheckpoints(t, c, id, 2)
		if _, stderr, err := c.weir("cancel", id); err != nil {
			t.Fatalf("weir cancel: %v\n%s", err, stderr)
		}
		eventually(t, 20*time.Second, statusIs(c, id, weirv1.JobStatus_JOB_STATUS_CANCELED))
		return id
	}

	deleted := filepath.Join(dir, "deleted")
	id := run(deleted, "DELETE_ON_CANCELLATION")
	eventually(t, 10*time.Second, func() (bool, string) {
		_, err := os.Stat(filepath.Join(deleted, id))
		return os.IsNotExist(err), fmt.Sprintf("the checkpoints of cancelled job %s are still there", id)
	})
	if err := os.RemoveAll(out); err != nil {
		t.Fatal(err)
	}

	retained := filepath.Join(dir, "retained")
	id = run(retained, "RETAIN_ON_CANCELLATION")
	cps, err := c.client().ListCheckpoints(context.Background(), &weirv1.ListCheckpointsRequest{JobId: id})
	if err != nil {
		t.Fatal(err)
	}
	chk := fmt.Sprintf("file://%s/%s/chk-%d", retained, id, cps.GetLatestCompletedId())
	if _, stderr, err := c.weir("run", "-p", "2", "-s", chk, "-D", "execution.checkpointing.interval=500ms",
		"-D", "state.checkpoints.dir=file://"+filepath.Join(dir, "resumed"),
		"wordcount", "--input", input, "--output", out); err != nil {
		t.Fatalf("resuming from retained checkpoint %s: %v\n%s", chk, err, stderr)
	}
	checkCounts(t, readOutput(t, out), want, total)
}
