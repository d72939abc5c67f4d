package main

import (
	"context"
	"fmt"
	"time"

	weirv1 "github.com/weirstream/weir/api/proto/weir/v1"
)

// How often a waiting weir polls the job, and prints a progress line.
// Variables so tests can poll without delay.
var (
	pollInterval     = 500 * time.Millisecond
	progressInterval = 2 * time.Second
)

// submit submits req and, unless detached, waits for the job to end.
func (c *cli) submit(ctx context.Context, req *weirv1.SubmitJobRequest, detached bool) error {
	cl, err := c.dial()
	if err != nil {
		return err
	}
	defer cl.Close()
	resp, err := call(ctx, cl, cl.SubmitJob, req)
	if err != nil {
		return err
	}
	id := resp.GetJobId()
	// Scripts take the ID as the last word of the last line.
	fmt.Fprintf(c.stdout, "Job has been submitted with JobID %s\n", id)
	if detached {
		return nil
	}
	return c.wait(ctx, cl, id, true)
}

// sample is a job's record counts at one time. A restart deploys new
// subtasks, whose counts start from zero.
type sample struct {
	at       time.Time
	in, out  int64
	restarts int32
}

// wait polls job id until it ends, printing status changes (restarts
// among them), progress and newly completed checkpoints on stderr. It
// returns nil when the job finishes, an error with the job's message when
// it fails or is canceled, and errInterrupted when ctx ends first, after
// telling how to cancel the job if hint is set. With -q it prints nothing.
func (c *cli) wait(ctx context.Context, cl *client, id string, hint bool) error {
	out := c.progress()
	interrupted := func() error {
		if !hint {
			return errInterrupted
		}
		return c.interrupted(id)
	}
	t := time.NewTicker(pollInterval)
	defer t.Stop()
	var last *weirv1.JobSummary
	var checkpoint int64 // latest completed checkpoint printed
	prev := sample{at: c.now()}
	for {
		resp, err := call(ctx, cl, cl.GetJob, &weirv1.GetJobRequest{JobId: id})
		if ctx.Err() != nil {
			return interrupted()
		}
		if err != nil {
			return fmt.Errorf("waiting for job %s: %w", id, err)
		}
		job := resp.GetJob()
		cur := records(resp.GetTasks())
		cur.at, cur.restarts = c.now(), job.GetRestarts()
		switch job.GetStatus() {
		case weirv1.JobStatus_JOB_STATUS_FINISHED:
			fmt.Fprintln(out, finishedLine(job, cur))
			return nil
		case weirv1.JobStatus_JOB_STATUS_FAILED:
			return fmt.Errorf("job %s failed: %s", id, orNone(job.GetStatusMessage()))
		case weirv1.JobStatus_JOB_STATUS_CANCELED:
			if m := job.GetStatusMessage(); m != "" {
				return fmt.Errorf("job %s was canceled: %s", id, m)
			}
			return fmt.Errorf("job %s was canceled", id)
		}
		// A restart shows even if the polls missed RESTARTING.
		if last == nil || job.GetStatus() != last.GetStatus() || job.GetStatusMessage() != last.GetStatusMessage() ||
			job.GetRestarts() != last.GetRestarts() {
			fmt.Fprintln(out, statusLine(job))
		}
		last = job
		if job.GetStatus() == weirv1.JobStatus_JOB_STATUS_RUNNING && cur.at.Sub(prev.at) >= progressInterval {
			fmt.Fprintln(out, progressLine(prev, cur))
			prev = cur
			// Checkpoints are a nicety here: a jobmanager that cannot list
			// them does not stop the wait.
			if cps, err := call(ctx, cl, cl.ListCheckpoints, &weirv1.ListCheckpointsRequest{JobId: id}); err == nil {
				if n := cps.GetLatestCompletedId(); n != checkpoint && n > 0 {
					fmt.Fprintf(out, "  checkpoint %d completed\n", n)
					checkpoint = n
				}
			}
		}
		select {
		case <-ctx.Done():
			return interrupted()
		case <-t.C:
		}
	}
}

// interrupted tells how to cancel the job the user stopped waiting for.
func (c *cli) interrupted(id string) error {
	fmt.Fprintf(c.stderr, "\nStopped waiting. Job %s is still running; cancel it with:\n  %s cancel %s\n", id, c.command(), id)
	return errInterrupted
}

// command is how to run weir against this jobmanager, for the commands
// weir suggests.
func (c *cli) command() string {
	if c.jobmanager != defaultJobManager {
		return "weir -m " + c.jobmanager
	}
	return "weir"
}

// records sums the record counts of all tasks.
func records(tasks []*weirv1.TaskInfo) sample {
	var s sample
	for _, t := range tasks {
		s.in += t.GetMetrics().GetRecordsIn()
		s.out += t.GetMetrics().GetRecordsOut()
	}
	return s
}

func statusLine(job *weirv1.JobSummary) string {
	s := fmt.Sprintf("Job %s is %s", job.GetJobId(), statusName(job.GetStatus()))
	if n := job.GetRestarts(); n > 0 {
		s += fmt.Sprintf(" (restart %d)", n)
	}
	if m := job.GetStatusMessage(); m != "" {
		s += ": " + m
	}
	return s
}

// progressLine reports the records counted at cur and the rates since prev,
// or, if the job restarted since, since zero.
func progressLine(prev, cur sample) string {
	secs := cur.at.Sub(prev.at).Seconds()
	if cur.restarts != prev.restarts {
		prev.in, prev.out = 0, 0
	}
	rate := func(a, b int64) int64 {
		if secs <= 0 {
			return 0
		}
		return int64(float64(b-a) / secs)
	}
	return fmt.Sprintf("  records in %d (%d/s), out %d (%d/s)", cur.in, rate(prev.in, cur.in), cur.out, rate(prev.out, cur.out))
}

func finishedLine(job *weirv1.JobSummary, cur sample) string {
	s := fmt.Sprintf("Job %s finished", job.GetJobId())
	if start, end := job.GetStartTimeUnixMillis(), job.GetEndTimeUnixMillis(); start > 0 && end >= start {
		s += " in " + (time.Duration(end-start) * time.Millisecond).String()
	}
	s += fmt.Sprintf(" (records in %d, out %d)", cur.in, cur.out)
	if m := job.GetStatusMessage(); m != "" {
		s += ": " + m // such as "stopped with savepoint PATH"
	}
	return s
}

func orNone(s string) string {
	if s == "" {
		return "(no message)"
	}
	return s
}
