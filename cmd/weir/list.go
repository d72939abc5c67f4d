package main

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"text/tabwriter"

	"github.com/spf13/cobra"

	weirv1 "github.com/weirstream/weir/api/proto/weir/v1"
)

func newListCmd(c *cli) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the jobmanager's jobs",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.dial()
			if err != nil {
				return err
			}
			defer cl.Close()
			resp, err := call(cmd.Context(), cl, cl.ListJobs, &weirv1.ListJobsRequest{})
			if err != nil {
				return err
			}
			return c.printJobs(c.stdout, resp.GetJobs())
		},
	}
}

// printJobs prints a table of jobs, oldest first.
func (c *cli) printJobs(w io.Writer, jobs []*weirv1.JobSummary) error {
	if len(jobs) == 0 {
		_, err := fmt.Fprintln(w, "No jobs.")
		return err
	}
	jobs = slices.Clone(jobs)
	slices.SortStableFunc(jobs, func(a, b *weirv1.JobSummary) int {
		return cmp.Or(cmp.Compare(a.GetStartTimeUnixMillis(), b.GetStartTimeUnixMillis()), cmp.Compare(a.GetJobId(), b.GetJobId()))
	})
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "JOB ID\tNAME\tSTATUS\tRESTARTS\tSTART TIME\tMESSAGE")
	for _, j := range jobs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", j.GetJobId(), j.GetName(), statusName(j.GetStatus()), j.GetRestarts(),
			c.timeText(j.GetStartTimeUnixMillis()), j.GetStatusMessage())
	}
	return tw.Flush()
}
