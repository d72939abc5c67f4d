package main

import (
	"cmp"
	"fmt"
	"io"
	"maps"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	weirv1 "github.com/weirstream/weir/api/proto/weir/v1"
)

func newStatusCmd(c *cli) *cobra.Command {
	var watch bool
	cmd := &cobra.Command{
		DisableFlagsInUseLine: true,
		Use:                   "status [-w] JOB",
		Short:                 "Show a job and its tasks",
		Long: `Status prints a job's summary and its subtasks. With -w it then follows the
job as "weir run" does, printing status changes, records per second and
completed checkpoints on stderr until the job ends or Ctrl-C; it exits 0
when the job finishes and non-zero when it fails or is canceled.`,
		Args: exactlyOne("the job ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.dial()
			if err != nil {
				return err
			}
			defer cl.Close()
			resp, err := call(cmd.Context(), cl, cl.GetJob, &weirv1.GetJobRequest{JobId: args[0]})
			if err != nil {
				return err
			}
			if err := c.printJob(c.stdout, resp); err != nil || !watch {
				return err
			}
			return c.wait(cmd.Context(), cl, args[0], false)
		},
	}
	cmd.Flags().BoolVarP(&watch, "watch", "w", false, "follow the job's progress until it ends")
	return cmd
}

// printJob prints a job's summary and a table of its subtasks.
func (c *cli) printJob(w io.Writer, resp *weirv1.GetJobResponse) error {
	j := resp.GetJob()
	tw := tabwriter.NewWriter(w, 0, 0, 1, ' ', 0)
	fmt.Fprintf(tw, "Job:\t%s\n", j.GetJobId())
	fmt.Fprintf(tw, "Name:\t%s\n", j.GetName())
	fmt.Fprintf(tw, "Status:\t%s\n", statusName(j.GetStatus()))
	if m := j.GetStatusMessage(); m != "" {
		fmt.Fprintf(tw, "Message:\t%s\n", m)
	}
	fmt.Fprintf(tw, "Restarts:\t%d\n", j.GetRestarts())
	fmt.Fprintf(tw, "Started:\t%s\n", c.timeText(j.GetStartTimeUnixMillis()))
	if end := j.GetEndTimeUnixMillis(); end > 0 {
		fmt.Fprintf(tw, "Ended:\t%s (after %v)\n", c.timeText(end), time.Duration(end-j.GetStartTimeUnixMillis())*time.Millisecond)
	}
	fmt.Fprintf(tw, "Parallelism:\t%d\n", j.GetParallelism())
	if err := tw.Flush(); err != nil {
		return err
	}

	tasks := slices.Clone(resp.GetTasks())
	if len(tasks) == 0 {
		_, err := fmt.Fprintln(w, "\nNo tasks deployed.")
		return err
	}
	slices.SortStableFunc(tasks, func(a, b *weirv1.TaskInfo) int {
		return cmp.Or(cmp.Compare(a.GetExecution().GetVertexId(), b.GetExecution().GetVertexId()),
			cmp.Compare(a.GetExecution().GetSubtaskIndex(), b.GetExecution().GetSubtaskIndex()))
	})
	subtasks := map[int32]int{} // vertex -> number of subtasks
	for _, t := range tasks {
		subtasks[t.GetExecution().GetVertexId()]++
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TASK\tSUBTASK\tATTEMPT\tSTATE\tTASKMANAGER\tRECORDS IN\tRECORDS OUT")
	var failures []string
	for _, t := range tasks {
		e := t.GetExecution()
		sub := fmt.Sprintf("%d/%d", e.GetSubtaskIndex()+1, subtasks[e.GetVertexId()])
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%d\t%d\n", t.GetName(), sub, e.GetAttempt(), stateName(t.GetState()),
			cmp.Or(t.GetTaskManagerId(), "-"), t.GetMetrics().GetRecordsIn(), t.GetMetrics().GetRecordsOut())
		if f := t.GetFailure(); f != "" {
			failures = append(failures, fmt.Sprintf("  %s (%s): %s", t.GetName(), sub, f))
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(failures) > 0 {
		fmt.Fprintln(w, "\nFailures:")
		for _, f := range failures {
			fmt.Fprintln(w, f)
		}
	}
	return printCounters(w, tasks)
}

// printCounters prints the functions' counters (records a source skipped,
// say), summed over each task's subtasks.
func printCounters(w io.Writer, tasks []*weirv1.TaskInfo) error {
	type key struct{ task, counter string }
	sums := map[key]int64{}
	for _, t := range tasks {
		for name, n := range t.GetMetrics().GetCounters() {
			sums[key{t.GetName(), name}] += n
		}
	}
	if len(sums) == 0 {
		return nil
	}
	keys := slices.SortedFunc(maps.Keys(sums), func(a, b key) int { return cmp.Or(cmp.Compare(a.task, b.task), cmp.Compare(a.counter, b.counter)) })
	fmt.Fprintln(w, "\nCounters:")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TASK\tCOUNTER\tVALUE")
	for _, k := range keys {
		fmt.Fprintf(tw, "%s\t%s\t%d\n", k.task, k.counter, sums[k])
	}
	return tw.Flush()
}
