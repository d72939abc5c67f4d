package integration

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	weirv1 "github.com/weirstream/weir/api/proto/weir/v1"
)

// writeTimedLines writes lines `epoch_millis,text` whose timestamps step
// forward 50 ms a line but arrive up to ooo out of order, and returns the
// reference output of window-wordcount with tumbling windows of size:
// the count of every word in every window, keyed "start,word".
func writeTimedLines(t *testing.T, path string, lines int, size, ooo time.Duration) map[string]int64 {
	t.Helper()
	r := rand.New(rand.NewPCG(6, 1))
	vocab := strings.Fields("alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi rho sigma tau upsilon")
	want := map[string]int64{}
	var b strings.Builder
	base := int64(1_700_000_000_000)
	for i := range lines {
		ts := base + int64(i)*50 - r.Int64N(ooo.Milliseconds()+1)
		start := ts - ts%size.Milliseconds()
		fmt.Fprintf(&b, "%d,", ts)
		for j := range 1 + r.IntN(4) {
			w := vocab[r.IntN(len(vocab))]
			if j > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(strings.ToUpper(w[:1]) + w[1:]) // counted lowercased
			want[strconv.FormatInt(start, 10)+","+w]++
		}
		b.WriteByte('\n')
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return want
}

// checkWindowCounts checks that the output has exactly one line per window
// and word, with the reference count.
func checkWindowCounts(t *testing.T, lines []string, want map[string]int64) {
	t.Helper()
	got := map[string]int64{}
	for _, l := range lines {
		i := strings.LastIndexByte(l, ',')
		n, err := strconv.ParseInt(l[i+1:], 10, 64)
		if i < 0 || err != nil {
			t.Fatalf("malformed output line %q", l)
		}
		if _, dup := got[l[:i]]; dup {
			t.Fatalf("window and word %q emitted twice", l[:i])
		}
		got[l[:i]] = n
	}
	for k, n := range want {
		if got[k] != n {
			t.Fatalf("window and word %q: count %d, want %d", k, got[k], n)
		}
	}
	if len(got) != len(want) {
		t.Fatalf("%d windows and words in the output, want %d", len(got), len(want))
	}
}

// window-wordcount at parallelism 2 on two taskmanager processes, reading
// out-of-order lines for about 15 s, with checkpoints every second. After
// two completed checkpoints, with windows open, one taskmanager is killed
// with SIGKILL and a fresh one starts: the job restores and finishes, and
// every window fires exactly once for every word with its exact count.
func testWindowWordCountKill(t *testing.T, backend string) {
	hb := []string{"-D", "heartbeat.interval=200ms", "-D", "heartbeat.timeout=3s"}
	c := startClusterWith(t, &cluster{tmArgs: hb}, 2, 1, hb...)
	dir := t.TempDir()
	input := filepath.Join(dir, "lines.txt")
	const lines = 6000
	want := writeTimedLines(t, input, lines, time.Second, 2*time.Second)
	out := filepath.Join(dir, "out")
	stdout, stderr, err := c.weir("run", "-d", "-p", "2",
		"-D", "execution.checkpointing.interval=1s",
		"-D", "execution.checkpointing.mode=EXACTLY_ONCE",
		"-D", "state.checkpoints.dir=file://"+filepath.Join(dir, "checkpoints"),
		"-D", "state.backend="+backend,
		"-D", "restart-strategy.fixed-delay.delay=500ms",
		"window-wordcount", "--input", input, "--rate", strconv.Itoa(lines/15), "--output", out,
		"--window", "1s", "--out-of-orderness", "2s")
	if err != nil {
		t.Fatalf("weir run: %v\n%s", err, stderr)
	}
	id := jobID(t, stdout)
	awaitCheckpoints(t, c, id, 2)
	c.tms[1].kill()
	c.addTaskManager(1, hb...)
	eventually(t, 120*time.Second, func() (bool, string) {
		j := c.job(id).GetJob()
		switch j.GetStatus() {
		case weirv1.JobStatus_JOB_STATUS_FAILED, weirv1.JobStatus_JOB_STATUS_CANCELED:
			t.Fatalf("job ended %v: %s", j.GetStatus(), j.GetStatusMessage())
		}
		return j.GetStatus() == weirv1.JobStatus_JOB_STATUS_FINISHED, fmt.Sprintf("job is %v: %s", j.GetStatus(), j.GetStatusMessage())
	})
	if j := c.job(id).GetJob(); j.GetRestarts() < 1 {
		t.Fatal("the job finished without restarting")
	}
	if cps, err := c.client().ListCheckpoints(context.Background(), &weirv1.ListCheckpointsRequest{JobId: id}); err == nil {
		t.Logf("%d checkpoints", len(cps.GetCheckpoints()))
	}
	got := readOutput(t, out)
	checkWindowCounts(t, got, want)
	t.Logf("%d windows and words, each emitted once", len(got))
}

func TestWindowWordCountKillHeap(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for about 25 s")
	}
	t.Parallel()
	testWindowWordCountKill(t, "heap")
}

func TestWindowWordCountKillPebble(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for about 25 s")
	}
	t.Parallel()
	testWindowWordCountKill(t, "pebble")
}
