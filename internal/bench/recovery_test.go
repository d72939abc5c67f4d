package bench

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	weirv1 "github.com/weirstream/weir/api/proto/weir/v1"
	"github.com/weirstream/weir/stream"
)

// recoveryPasses is how many times the recovery benchmark's input repeats
// its words: the job must still run when the figures are taken, a first
// pass, a checkpoint and a restore after the start.
const recoveryPasses = 10

// recoveryMinWords is the least input of the recovery benchmark, in
// words: at a small state (-short's 2 MiB) recoveryPasses alone end the
// job on a fast machine before the stop, the restore and a checkpoint
// after it, so the input repeats its words more often there.
const recoveryMinWords = 8_000_000

// recoveryInputPasses is how many passes over its words the recovery
// benchmark's input makes for stateMB MiB of state.
func recoveryInputPasses(stateMB int) int {
	keys := max(int64(stateMB)<<20/stateBytesPerWord, 1)
	return max(recoveryPasses, int((recoveryMinWords+keys-1)/keys))
}

// recoveryPoll is how often the recovery benchmark asks the jobmanager
// for the job's state while it recovers: the resolution of its figures.
const recoveryPoll = 10 * time.Millisecond

// BenchmarkRecovery measures how long a job with keyed state in Pebble
// takes to come back after its taskmanager stops: WordCount at
// parallelism 1 on one taskmanager over the checkpointing benchmark's
// words for about WEIRBENCH_RECOVERY_MB MiB of state (default 64), in
// recoveryPasses passes (more for a small state: recoveryInputPasses),
// with incremental checkpoints
// (state.backend.incremental: true) every second (WEIRBENCH_CHECKPOINT_INTERVAL) into a local directory,
// with the exactly-once file sink. Once a completed checkpoint holds the
// state of every distinct word (it was triggered after the first pass
// left the source), the taskmanager is stopped (its tasks are cancelled,
// as when its process dies). In "storage" a new taskmanager joins, so the
// restore fetches the checkpoint's files from checkpoint storage; in
// "local" (state.backend.local-recovery: true) the same taskmanager comes
// back with its data directory and restores from the local copy it kept.
// Metrics: kill-running-s, from the stop to every task running again;
// kill-first-checkpoint-s, to the first checkpoint completed after the
// restore, which is when the exactly-once sink's output after the restore
// becomes visible (its first output); and ckpt-MB, the size of the
// checkpoint restored. WEIRBENCH_RECOVERY_BACKEND=heap runs the same on
// the heap, whose incremental checkpoint is a chain of a full snapshot and
// deltas (no target covers it; the default is pebble).
func BenchmarkRecovery(b *testing.B) {
	stateMB := envInt(b, "WEIRBENCH_RECOVERY_MB", 64)
	backend := recoveryBackend(b)
	b.Run("storage", func(b *testing.B) { benchmarkRecovery(b, backend, stateMB, false) })
	b.Run("local", func(b *testing.B) { benchmarkRecovery(b, backend, stateMB, true) })
}

// recoveryBackend returns WEIRBENCH_RECOVERY_BACKEND, pebble if unset.
func recoveryBackend(b *testing.B) string {
	switch s := os.Getenv("WEIRBENCH_RECOVERY_BACKEND"); s {
	case "":
		return "pebble"
	case "heap", "pebble":
		return s
	default:
		b.Fatalf("WEIRBENCH_RECOVERY_BACKEND=%q: want heap or pebble", s)
		return ""
	}
}

func benchmarkRecovery(b *testing.B, backend string, stateMB int, local bool) {
	b.StopTimer()
	in := keyedInput(b, stateMB, recoveryInputPasses(stateMB))
	s := oneSlot
	s.config = map[string]string{
		"state.checkpoints.dir":              "file://" + filepath.Join(b.TempDir(), "checkpoints"),
		"restart-strategy.fixed-delay.delay": "0s",
	}
	s.restores = &restoreLog{}
	cl := startCluster(b, s)
	live := 0 // index of the running taskmanager
	var running, first time.Duration
	var restored int64
	var localMB, downloadMB float64
	for i := range b.N {
		out := filepath.Join(root, fmt.Sprintf("out-recovery-%v-%d", local, i))
		env, err := stream.BuildProgram("wordcount", []string{"--input", in.path, "--output", out}, 1)
		if err != nil {
			b.Fatal(err)
		}
		env.SetConfig("state.backend", backend)
		env.SetConfig("execution.checkpointing.interval", checkpointInterval(b).String())
		env.SetConfig("state.backend.incremental", "true")
		if local {
			env.SetConfig("state.backend.local-recovery", "true")
		}
		g, err := env.Graph()
		if err != nil {
			b.Fatal(err)
		}
		cl.waitIdle(b)
		resp, err := cl.client.SubmitJob(cl.ctx, &weirv1.SubmitJobRequest{Job: &weirv1.SubmitJobRequest_Graph{Graph: g}})
		if err != nil {
			b.Fatal(err)
		}
		id := resp.GetJobId()

		// Wait until the first pass has left the source (a task has
		// emitted a record per distinct word), then for a checkpoint
		// triggered after that: it holds the count of every word.
		var passDone int64 // Unix milliseconds
		for passDone == 0 {
			job, err := cl.client.GetJob(cl.ctx, &weirv1.GetJobRequest{JobId: id})
			if err != nil {
				b.Fatal(err)
			}
			for _, t := range job.GetTasks() {
				if t.GetMetrics().GetRecordsOut() >= in.keys {
					passDone = time.Now().UnixMilli()
				}
			}
			cl.pollJob(b, id)
		}
		var last int64
		for last == 0 {
			cps, err := cl.client.ListCheckpoints(cl.ctx, &weirv1.ListCheckpointsRequest{JobId: id})
			if err != nil {
				b.Fatal(err)
			}
			for _, cp := range cps.GetCheckpoints() {
				if cp.GetStatus() == weirv1.CheckpointStatus_CHECKPOINT_STATUS_COMPLETED && cp.GetTriggerTimeUnixMillis() > passDone &&
					cp.GetCheckpointId() == cps.GetLatestCompletedId() {
					last, restored = cp.GetCheckpointId(), cp.GetStateSize()
				}
			}
			cl.pollJob(b, id)
		}

		b.StartTimer()
		start := time.Now()
		if local {
			err = cl.c.RestartTaskManager(live)
		} else {
			cl.c.StopTaskManager(live)
			live, err = cl.c.AddTaskManager()
		}
		if err != nil {
			b.Fatal(err)
		}
		for {
			job, err := cl.client.GetJob(cl.ctx, &weirv1.GetJobRequest{JobId: id})
			if err != nil {
				b.Fatal(err)
			}
			if job.GetJob().GetRestarts() > 0 && allRunning(job) {
				break
			}
			cl.pollJob(b, id)
		}
		running += time.Since(start)
		for {
			cps, err := cl.client.ListCheckpoints(cl.ctx, &weirv1.ListCheckpointsRequest{JobId: id})
			if err != nil {
				b.Fatal(err)
			}
			if cps.GetLatestCompletedId() > last {
				break
			}
			cl.pollJob(b, id)
		}
		first += time.Since(start)
		b.StopTimer()
		s.restores.mu.Lock()
		restores, localBytes, downloads := s.restores.restores, s.restores.localBytes, s.restores.downloads
		s.restores.restores, s.restores.localBytes, s.restores.downloads = 0, 0, 0
		s.restores.mu.Unlock()
		switch {
		case restores == 0:
			b.Fatal("no subtask restored state")
		case local && (localBytes == 0 || downloads != 0):
			b.Fatalf("local recovery restored %d bytes from the local copy and downloaded %d", localBytes, downloads)
		case !local && downloads == 0:
			b.Fatal("the restore from checkpoint storage downloaded nothing")
		}
		localMB += float64(localBytes) / (1 << 20)
		downloadMB += float64(downloads) / (1 << 20)

		if _, err := cl.client.CancelJob(cl.ctx, &weirv1.CancelJobRequest{JobId: id}); err != nil {
			b.Fatal(err)
		}
	}
	n := float64(b.N)
	b.ReportMetric(running.Seconds()/n, "kill-running-s")
	b.ReportMetric(first.Seconds()/n, "kill-first-checkpoint-s")
	b.ReportMetric(float64(restored)/(1<<20), "ckpt-MB")
	b.ReportMetric(localMB/n, "local-MB")
	b.ReportMetric(downloadMB/n, "downloaded-MB")
	b.ReportMetric(0, "ns/op")
}

// allRunning says whether every task of job is running.
func allRunning(job *weirv1.GetJobResponse) bool {
	if job.GetJob().GetStatus() != weirv1.JobStatus_JOB_STATUS_RUNNING || len(job.GetTasks()) == 0 {
		return false
	}
	for _, t := range job.GetTasks() {
		if t.GetState() != weirv1.ExecutionState_EXECUTION_STATE_RUNNING {
			return false
		}
	}
	return true
}

// pollJob waits for the next poll of job id, failing tb if the job has
// ended: the benchmark stops it only when it has its figures.
func (cl *cluster) pollJob(tb testing.TB, id string) {
	tb.Helper()
	job, err := cl.client.GetJob(cl.ctx, &weirv1.GetJobRequest{JobId: id})
	if err != nil {
		tb.Fatal(err)
	}
	switch st := job.GetJob().GetStatus(); st {
	case weirv1.JobStatus_JOB_STATUS_FINISHED, weirv1.JobStatus_JOB_STATUS_FAILED, weirv1.JobStatus_JOB_STATUS_CANCELED:
		tb.Fatalf("job ended %v before the benchmark had its figures (%s); a larger input runs longer", st, job.GetJob().GetStatusMessage())
	}
	select {
	case <-cl.ctx.Done():
		tb.Fatal(cl.ctx.Err())
	case <-time.After(recoveryPoll): // polling remote state, not synchronising
	}
}

// restoreLog adds up the taskmanagers' "restored state" log records: the
// bytes every subtask's restore read from its local copy and downloaded.
type restoreLog struct {
	mu                    sync.Mutex
	restores              int64
	localBytes, downloads int64
}

// restoreHandler passes records to Handler and counts the restores in log.
type restoreHandler struct {
	slog.Handler
	log *restoreLog
}

func (h restoreHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelInfo || h.Handler.Enabled(ctx, l)
}

func (h restoreHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == "restored state" {
		h.log.mu.Lock()
		h.log.restores++
		r.Attrs(func(a slog.Attr) bool {
			switch a.Key {
			case "local_copy_bytes":
				h.log.localBytes += a.Value.Int64()
			case "downloaded_bytes":
				h.log.downloads += a.Value.Int64()
			}
			return true
		})
		h.log.mu.Unlock()
	}
	if !h.Handler.Enabled(ctx, r.Level) {
		return nil
	}
	return h.Handler.Handle(ctx, r)
}

func (h restoreHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return restoreHandler{Handler: h.Handler.WithAttrs(as), log: h.log}
}

func (h restoreHandler) WithGroup(name string) slog.Handler {
	return restoreHandler{Handler: h.Handler.WithGroup(name), log: h.log}
}
