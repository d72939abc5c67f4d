package main

import (
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/spf13/cobra"

	weirv1 "github.com/weirstream/weir/api/proto/weir/v1"
)

func newProgramsCmd(c *cli) *cobra.Command {
	return &cobra.Command{
		Use:   "programs",
		Short: `List the programs the jobmanager can run ("weir run NAME")`,
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.dial()
			if err != nil {
				return err
			}
			defer cl.Close()
			resp, err := call(cmd.Context(), cl, cl.ListPrograms, &weirv1.ListProgramsRequest{})
			if err != nil {
				return err
			}
			return printPrograms(c.stdout, resp.GetPrograms())
		},
	}
}

func printPrograms(w io.Writer, ps []*weirv1.ProgramInfo) error {
	if len(ps) == 0 {
		_, err := fmt.Fprintln(w, "No programs.")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tDESCRIPTION\tARGS")
	for _, p := range ps {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", p.GetName(), p.GetDescription(), p.GetUsage())
	}
	return tw.Flush()
}
