package integration

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	weirv1 "github.com/weirstream/weir/api/proto/weir/v1"
	"github.com/weirstream/weir/connector/generator"
	"github.com/weirstream/weir/examples/wordcount"
)

// With a deliberately slow sink, the source is held back: the records in
// flight between the source and the keyed operator stay under a bound that
// does not grow with the input, every process's memory stays bounded while
// the source keeps producing, and the job still finishes with exact counts.
//
// The cluster runs examples/custombinary, a user's own binary with a paced
// sink compiled in.
func TestBackpressureBoundsMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for about 15 s")
	}
	const (
		lines    = 1_000_000
		perSink  = 150_000 // records per second per sink subtask
		inFlight = 250_000 // records between source and keyed operator, at most
		maxRSS   = 150 << 20
	)
	hb := []string{"-D", "heartbeat.interval=100ms"}
	args := append([]string{"jobmanager", "--rpc-address", "127.0.0.1:0", "--http-address", "127.0.0.1:0"}, hb...)
	jm, addr := start(t, "jobmanager", "custombinary", jmReady, args...)
	c := &cluster{t: t, addr: addr, jm: jm}
	for i := range 2 {
		p, _ := start(t, "taskmanager-"+string(rune('0'+i)), "custombinary", tmReady, append([]string{"taskmanager",
			"--jobmanager", addr, "--slots", "1", "--data-dir", t.TempDir()}, hb...)...)
		c.tms = append(c.tms, p)
	}
	c.awaitSlots(2)

	out := filepath.Join(t.TempDir(), "out")
	stdout, stderr, err := c.weir("run", "-d", "-p", "2", "slow-wordcount", "--lines", "1000000",
		"--records-per-second", "150000", "--output", out)
	if err != nil {
		t.Fatalf("weir run: %v\n%s", err, stderr)
	}
	id := jobID(t, stdout)

	want := map[string]int64{}
	total := 0
	for i := range int64(lines) {
		wordcount.Tokenize(generator.Line(1, 1000, i), func(w string) { want[w]++; total++ })
	}

	var maxFlight int64
	var peak [3]int64
	produced := false // the source produced while the sink was already behind
	for {
		j := c.job(id)
		st := j.GetJob().GetStatus()
		if st == weirv1.JobStatus_JOB_STATUS_FINISHED {
			break
		}
		if st == weirv1.JobStatus_JOB_STATUS_FAILED || st == weirv1.JobStatus_JOB_STATUS_CANCELED {
			t.Fatalf("job ended %v: %s", st, j.GetJob().GetStatusMessage())
		}
		var sent, received int64
		for _, task := range j.GetTasks() {
			if strings.HasPrefix(task.GetName(), "lines") {
				sent += task.GetMetrics().GetRecordsOut()
			} else {
				received += task.GetMetrics().GetRecordsIn()
			}
		}
		maxFlight = max(maxFlight, sent-received)
		if received > 0 && sent < int64(total) {
			produced = true
		}
		for i, p := range append([]*proc{c.jm}, c.tms...) {
			peak[i] = max(peak[i], rss(t, p.cmd.Process.Pid))
		}
		time.Sleep(100 * time.Millisecond) // sampling another process's metrics
	}
	t.Logf("%d words; at most %d records in flight; peak RSS jobmanager %d MiB, taskmanagers %d and %d MiB",
		total, maxFlight, peak[0]>>20, peak[1]>>20, peak[2]>>20)
	if !produced {
		t.Fatal("never saw the source producing while the sink consumed: the test did not exercise backpressure")
	}
	if maxFlight > inFlight {
		t.Fatalf("%d records in flight, want at most %d: a queue is growing", maxFlight, inFlight)
	}
	for i, r := range peak {
		if r > maxRSS {
			t.Fatalf("process %d peaked at %d MiB RSS, want at most %d MiB", i, r>>20, maxRSS>>20)
		}
	}
	checkCounts(t, readOutput(t, out), want, total)
}
