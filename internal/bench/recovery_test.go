package bench

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	weirv1 "github.com/weirstream/weir/api/proto/weir/v1"
	"github.com/weirstream/weir/stream"
)

// recoveryPasses is how many times the recovery benchmark's input repeats
// its words: the job must still run when the figures are taken, a first
// pass, a checkpoint and a restore after the start.
const recoveryPasses = 10

// recoveryPoll is how often the recovery benchmark asks the jobmanager
// for the job's state while it recovers: the resolution of its figures.
const recoveryPoll = 10 * time.Millisecond

// BenchmarkRecovery measures how long a job with keyed state in Pebble
// takes to come back after its taskmanager stops: WordCount at
// parallelism 1 on one taskmanager over the checkpointing benchmark's
// words for about WEIRBENCH_RECOVERY_MB MiB of state (default 64), in
// recoveryPasses passes,
// checkpointing every second into a local directory, with the
// exactly-once file sink. Once a completed checkpoint holds the state of
// every distinct word (it was triggered after the first pass left the
// source), the taskmanager is stopped (its tasks are
// cancelled and its working state is lost, as when its process dies) and
// a new one joins, so the restore reads the checkpoint from checkpoint
// storage. Metrics: kill-running-s, from the stop to every task running
// again; kill-first-checkpoint-s, to the first checkpoint completed after
// the restore, which is when the exactly-once sink's output after the
// restore becomes visible (its first output); and ckpt-MB, the size of
// the checkpoint restored.
func BenchmarkRecovery(b *testing.B) {
	stateMB := envInt(b, "WEIRBENCH_RECOVERY_MB", 64)
	b.StopTimer()
	in := keyedInput(b, stateMB, recoveryPasses)
	s := oneSlot
	s.config = map[string]string{
		"state.checkpoints.dir":              "file://" + filepath.Join(b.TempDir(), "checkpoints"),
		"restart-strategy.fixed-delay.delay": "0s",
	}
	cl := startCluster(b, s)
	live := 0 // index of the running taskmanager
	var running, first time.Duration
	var restored int64
	for i := range b.N {
		out := filepath.Join(root, fmt.Sprintf("out-recovery-%d", i))
		env, err := stream.BuildProgram("wordcount", []string{"--input", in.path, "--output", out}, 1)
		if err != nil {
			b.Fatal(err)
		}
		env.SetConfig("state.backend", "pebble")
		env.SetConfig("execution.checkpointing.interval", "1s")
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
		cl.c.StopTaskManager(live)
		if live, err = cl.c.AddTaskManager(); err != nil {
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

		if _, err := cl.client.CancelJob(cl.ctx, &weirv1.CancelJobRequest{JobId: id}); err != nil {
			b.Fatal(err)
		}
	}
	n := float64(b.N)
	b.ReportMetric(running.Seconds()/n, "kill-running-s")
	b.ReportMetric(first.Seconds()/n, "kill-first-checkpoint-s")
	b.ReportMetric(float64(restored)/(1<<20), "ckpt-MB")
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
