package main

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/spf13/cobra"

	weirv1 "github.com/weirstream/weir/api/proto/weir/v1"
)

func newSavepointCmd(c *cli) *cobra.Command {
	return &cobra.Command{
		Use:   "savepoint JOB [DIR]",
		Short: "Take a savepoint of a running job",
		Long: `Savepoint takes a savepoint of the running job JOB in the directory DIR, a
URI such as s3://bucket/savepoints or file:///var/weir/savepoints; without
DIR, in the cluster's state.savepoints.dir. It waits until the savepoint is
complete, however long that takes, and prints its path as the last word of
the last line. Resume a job from it with "weir run -s PATH".

Ctrl-C stops waiting but not the savepoint.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 2 {
				return fmt.Errorf("unexpected argument %q (usage: %s)", args[2], usageLine(cmd))
			}
			return exactlyOne("the job ID")(cmd, args[:min(len(args), 1)])
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			req := &weirv1.TriggerSavepointRequest{JobId: args[0]}
			if len(args) == 2 {
				req.TargetDirectory = args[1]
			}
			fmt.Fprintf(c.progress(), "Triggering a savepoint of job %s; waiting for it to complete.\n", req.GetJobId())
			return c.savepoint(cmd.Context(), req)
		},
	}
}

func newStopCmd(c *cli) *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		DisableFlagsInUseLine: true,
		Use:                   "stop [-p DIR] JOB",
		Short:                 "Stop a job with a savepoint",
		Long: `Stop takes a savepoint of the running job JOB, as "weir savepoint" does, and
then stops the job, which ends FINISHED. The savepoint goes to DIR
(-p/--savepoint-dir), else to the cluster's state.savepoints.dir. Stop waits
until the savepoint is complete and prints its path as the last word of the
last line; the job stops only once it is complete. Resume the job with
"weir run -s PATH".

Ctrl-C stops waiting but not the savepoint, nor the stop that follows it.`,
		Args: exactlyOne("the job ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			req := &weirv1.TriggerSavepointRequest{JobId: args[0], TargetDirectory: dir, Stop: true}
			fmt.Fprintf(c.progress(), "Stopping job %s with a savepoint; waiting for it to complete.\n", req.GetJobId())
			return c.savepoint(cmd.Context(), req)
		},
	}
	cmd.Flags().StringVarP(&dir, "savepoint-dir", "p", "", "directory (URI) to take the savepoint in (default: the cluster's state.savepoints.dir)")
	return cmd
}

// savepoint triggers req's savepoint and waits for it with no deadline but
// ctx: a savepoint of a large state rightly takes minutes. It prints the
// savepoint's path, and returns errInterrupted, after saying what goes on
// without it, when ctx ends first.
func (c *cli) savepoint(ctx context.Context, req *weirv1.TriggerSavepointRequest) error {
	cl, err := c.dial()
	if err != nil {
		return err
	}
	defer cl.Close()
	pctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.savepointProgress(pctx, cl, req.GetJobId())
	}()
	resp, err := callLong(ctx, cl, cl.TriggerSavepoint, req)
	stop()
	<-done
	if ctx.Err() != nil {
		id := req.GetJobId()
		what := fmt.Sprintf("The savepoint of job %s may still complete", id)
		if req.GetStop() {
			what = fmt.Sprintf("Job %s stops if its savepoint completes", id)
		}
		fmt.Fprintf(c.stderr, "\nStopped waiting. %s; follow it with:\n  %s checkpoints %s\n", what, c.command(), id)
		return errInterrupted
	}
	if err != nil {
		return err
	}
	// Scripts take the path as the last word of the last line.
	fmt.Fprintf(c.stdout, "Savepoint completed. Path: %s\n", resp.GetPath())
	return nil
}

// savepointProgress prints, until ctx ends, how many subtasks have
// acknowledged the job's savepoint in progress, whenever that changes. A
// jobmanager that cannot list checkpoints leaves it silent.
func (c *cli) savepointProgress(ctx context.Context, cl *client, id string) {
	out := c.progress()
	t := time.NewTicker(pollInterval)
	defer t.Stop()
	var last string
	for {
		if cps, err := call(ctx, cl, cl.ListCheckpoints, &weirv1.ListCheckpointsRequest{JobId: id}); err == nil {
			for _, cp := range slices.Backward(cps.GetCheckpoints()) {
				if cp.GetKind() != weirv1.SnapshotKind_SNAPSHOT_KIND_SAVEPOINT || cp.GetStatus() != weirv1.CheckpointStatus_CHECKPOINT_STATUS_IN_PROGRESS {
					continue
				}
				line := fmt.Sprintf("  savepoint %d: %d/%d subtasks acknowledged, %s of state so far",
					cp.GetCheckpointId(), cp.GetAcknowledged(), cp.GetTotal(), bytesText(cp.GetStateSize()))
				if line != last && ctx.Err() == nil {
					fmt.Fprintln(out, line)
					last = line
				}
				break
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
