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

// stopWithSavepoint runs WordCount on input at parallelism p with the given
// state backend, stops it with a savepoint after two checkpoints, and
// returns the savepoint's path. The output so far is in out.
func stopWithSavepoint(t *testing.T, c *cluster, dir, input, out string, p int, backend string) string {
	t.Helper()
	lines := strings.Count(readFile(t, input), "\n")
	stdout, stderr, err := c.weir("run", "-d", "-p", strconv.Itoa(p),
		"-D", "execution.checkpointing.interval=500ms",
		"-D", "state.checkpoints.dir=file://"+filepath.Join(dir, "checkpoints"),
		"-D", "state.backend="+backend,
		"wordcount", "--input", input, "--rate", strconv.Itoa(lines/8), "--output", out)
	if err != nil {
		t.Fatalf("weir run: %v\n%s", err, stderr)
	}
	id := jobID(t, stdout)
	awaitCheckpoints(t, c, id, 2)
	stdout, stderr, err = c.weir("stop", "-p", "file://"+filepath.Join(dir, "savepoints"), id)
	if err != nil {
		t.Fatalf("weir stop: %v\n%s", err, stderr)
	}
	eventually(t, 20*time.Second, statusIs(c, id, weirv1.JobStatus_JOB_STATUS_FINISHED))
	if n := len(readVisible(t, out)); n == 0 {
		t.Fatalf("no output before the stop")
	}
	return jobID(t, stdout) // the savepoint's path is the last word too
}

// resume runs WordCount from a savepoint at parallelism p with the given
// backend to the end of its input and checks the combined output.
func resume(t *testing.T, c *cluster, savepoint, input, out string, p int, backend string, want map[string]int64, total int) {
	t.Helper()
	if _, stderr, err := c.weir("run", "-p", strconv.Itoa(p), "-s", savepoint,
		"-D", "execution.checkpointing.interval=500ms",
		"-D", "state.checkpoints.dir=file://"+filepath.Join(t.TempDir(), "checkpoints"),
		"-D", "state.backend="+backend,
		"wordcount", "--input", input, "--output", out); err != nil {
		t.Fatalf("resuming at parallelism %d on %s: %v\n%s", p, backend, err, stderr)
	}
	checkCounts(t, readOutput(t, out), want, total)
}

// A savepoint taken at parallelism 2 resumes at 3 and at 1 with exact
// WordCount results: each subtask gets exactly its key groups and the file
// source's splits are shared out. The same savepoints move state between
// the heap and Pebble.
func TestRescaleFromSavepoint(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for about 30 s")
	}
	c := startCluster(t, 3, 1)
	for _, tc := range []struct {
		from string
		to   [2]string // backends resuming at 3 and at 1
	}{
		{from: "pebble", to: [2]string{"heap", "pebble"}},
		{from: "heap", to: [2]string{"pebble", "heap"}},
	} {
		t.Run(tc.from, func(t *testing.T) {
			dir := t.TempDir()
			input := filepath.Join(dir, "text.txt")
			want, total := writeText(t, input, 20_000)
			out := filepath.Join(dir, "out")
			sp := stopWithSavepoint(t, c, dir, input, out, 2, tc.from)
			// The second resume continues the same stopped job: it needs
			// the output as the savepoint left it (pending part files too).
			out1 := filepath.Join(dir, "out1")
			copyDir(t, out, out1)
			resume(t, c, sp, input, out, 3, tc.to[0], want, total)
			resume(t, c, sp, input, out1, 1, tc.to[1], want, total)
		})
	}
}

// A checkpoint retained on cancellation resumes at another parallelism
// too: cancelled at 2 on the heap, resumed at 3 on Pebble. An incremental
// checkpoint (Pebble's files, not self-contained) resumes at 3 on the heap
// — converted to the canonical format — and at 2 on Pebble, where its
// files are opened in place. An incremental heap checkpoint (a full
// snapshot and deltas) resumes converted, at 3 on Pebble and at 2 on the
// heap.
func TestRescaleFromRetainedCheckpoint(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for about 30 s")
	}
	for _, tc := range []struct {
		name    string
		from    []string
		p       int
		backend string
	}{
		{"heap to pebble at 3", nil, 3, "pebble"},
		{"incremental pebble to heap at 3", incrementalPebble, 3, "heap"},
		{"incremental pebble to pebble at 2", incrementalPebble, 2, "pebble"},
		{"incremental heap to pebble at 3", incrementalHeap, 3, "pebble"},
		{"incremental heap to heap at 2", incrementalHeap, 2, "heap"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := startCluster(t, 3, 1)
			dir := t.TempDir()
			input := filepath.Join(dir, "text.txt")
			want, total := writeText(t, input, 20_000)
			lines := strings.Count(readFile(t, input), "\n")
			out := filepath.Join(dir, "out")
			store := filepath.Join(dir, "checkpoints")
			stdout, stderr, err := c.weir(append(append([]string{"run", "-d", "-p", "2", "-D", "execution.checkpointing.interval=500ms",
				"-D", "state.checkpoints.dir=file://" + store,
				"-D", "execution.checkpointing.externalized-checkpoint-retention=RETAIN_ON_CANCELLATION"}, tc.from...),
				"wordcount", "--input", input, "--rate", strconv.Itoa(lines/8), "--output", out)...)
			if err != nil {
				t.Fatalf("weir run: %v\n%s", err, stderr)
			}
			id := jobID(t, stdout)
			latest := awaitCheckpoints(t, c, id, 2)
			if len(tc.from) > 0 {
				// Resume from a checkpoint with shared SSTs: until the
				// job's writes leave the write-ahead log, a checkpoint
				// holds only the log's copy.
				eventually(t, 30*time.Second, func() (bool, string) {
					shared, err := os.ReadDir(filepath.Join(store, id, "shared"))
					return err == nil && len(shared) > 0, fmt.Sprintf("no shared objects yet (%v)", err)
				})
				latest = awaitCheckpoints(t, c, id, latest+2)
			}
			if _, stderr, err := c.weir("cancel", id); err != nil {
				t.Fatalf("weir cancel: %v\n%s", err, stderr)
			}
			eventually(t, 20*time.Second, statusIs(c, id, weirv1.JobStatus_JOB_STATUS_CANCELED))
			cps, err := c.client().ListCheckpoints(context.Background(), &weirv1.ListCheckpointsRequest{JobId: id})
			if err != nil {
				t.Fatal(err)
			}
			if cps.GetLatestCompletedId() < latest {
				t.Fatalf("latest completed checkpoint %d, saw %d", cps.GetLatestCompletedId(), latest)
			}
			if len(tc.from) > 0 {
				// The checkpoint is incremental: its SSTs are shared objects.
				if shared, err := os.ReadDir(filepath.Join(store, id, "shared")); err != nil || len(shared) == 0 {
					t.Fatalf("the incremental checkpoint has no shared objects (%v)", err)
				}
			}
			chk := fmt.Sprintf("file://%s/%s/chk-%d", store, id, cps.GetLatestCompletedId())
			resume(t, c, chk, input, out, tc.p, tc.backend, want, total)
		})
	}
}
