package main

import (
	"fmt"

	"github.com/spf13/cobra"

	weirv1 "github.com/weirstream/weir/api/proto/weir/v1"
)

func newCancelCmd(c *cli) *cobra.Command {
	return &cobra.Command{
		Use:   "cancel JOB",
		Short: "Cancel a job",
		Args:  exactlyOne("the job ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.dial()
			if err != nil {
				return err
			}
			defer cl.Close()
			if _, err := call(cmd.Context(), cl, cl.CancelJob, &weirv1.CancelJobRequest{JobId: args[0]}); err != nil {
				return err
			}
			fmt.Fprintf(c.stdout, "Cancelling job %s.\n", args[0])
			return nil
		},
	}
}
