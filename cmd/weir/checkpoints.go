package main

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/encoding/protojson"

	weirv1 "github.com/weirstream/weir/api/proto/weir/v1"
)

func newCheckpointsCmd(c *cli) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		DisableFlagsInUseLine: true,
		Use:                   "checkpoints [--json] JOB",
		Short:                 "List a job's checkpoints and savepoints",
		Long: `Checkpoints lists the jobmanager's recent history of the job's checkpoints
and savepoints, completed, failed and in progress, oldest first, and the
checkpoint a restart would restore.

--json prints the jobmanager's answer as JSON (protojson, with the field
names of weir.v1.ListCheckpointsResponse), for scripts.`,
		Args: exactlyOne("the job ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.dial()
			if err != nil {
				return err
			}
			defer cl.Close()
			resp, err := call(cmd.Context(), cl, cl.ListCheckpoints, &weirv1.ListCheckpointsRequest{JobId: args[0]})
			if err != nil {
				return err
			}
			if asJSON {
				b, err := protojson.MarshalOptions{Multiline: true, UseProtoNames: true, EmitUnpopulated: true}.Marshal(resp)
				if err != nil {
					return err
				}
				_, err = fmt.Fprintf(c.stdout, "%s\n", b)
				return err
			}
			return c.printCheckpoints(c.stdout, resp)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the checkpoints as JSON")
	return cmd
}

// printCheckpoints prints a table of checkpoints, oldest first, and the
// latest completed one.
func (c *cli) printCheckpoints(w io.Writer, resp *weirv1.ListCheckpointsResponse) error {
	cps := slices.Clone(resp.GetCheckpoints())
	if len(cps) == 0 {
		fmt.Fprintln(w, "No checkpoints.")
	} else {
		slices.SortStableFunc(cps, func(a, b *weirv1.CheckpointInfo) int {
			return cmp.Compare(a.GetCheckpointId(), b.GetCheckpointId())
		})
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tSTATUS\tKIND\tTRIGGERED\tDURATION\tSIZE\tALIGNMENT\tACKS\tPATH/FAILURE")
		for _, cp := range cps {
			dur, detail := "-", cp.GetPath()
			if cp.GetStatus() != weirv1.CheckpointStatus_CHECKPOINT_STATUS_IN_PROGRESS {
				dur = millisText(cp.GetDurationMillis())
			}
			if cp.GetStatus() == weirv1.CheckpointStatus_CHECKPOINT_STATUS_FAILED {
				detail = cp.GetFailure()
			}
			size := bytesText(cp.GetStateSize())
			if up := cp.GetUploadedSize(); up > 0 && up < cp.GetStateSize() {
				// An incremental checkpoint: most of its state was
				// uploaded before.
				size += " (" + bytesText(up) + " new)"
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%d/%d\t%s\n", cp.GetCheckpointId(), checkpointStatusName(cp.GetStatus()),
				kindName(cp.GetKind()), c.timeText(cp.GetTriggerTimeUnixMillis()), dur, size,
				millisText(cp.GetAlignmentMillis()), cp.GetAcknowledged(), cp.GetTotal(), cmp.Or(detail, "-"))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	latest := "none"
	if id := resp.GetLatestCompletedId(); id > 0 {
		latest = fmt.Sprint(id)
	}
	fmt.Fprintf(w, "Latest completed: %s\n", latest)
	if n := resp.GetRestoreFallbacks(); n != 0 {
		fmt.Fprintf(w, "Restores that fell back past a damaged checkpoint: %d\n", n)
	}
	return nil
}
