package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

// defaultJobManager is the jobmanager's default gRPC address
// (jobmanager.rpc.address).
const defaultJobManager = "127.0.0.1:6123"

func newRootCmd(c *cli) *cobra.Command {
	root := &cobra.Command{
		Use:   "weir",
		Short: "Submit, watch and cancel Weir jobs, or run a local cluster",
		Long: `weir talks to a Weir jobmanager over gRPC.

The jobmanager is -m/--jobmanager, else $WEIR_JOBMANAGER, else ` + defaultJobManager + `.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(c.stdout)
	root.SetErr(c.stderr)
	def := c.getenv("WEIR_JOBMANAGER")
	if def == "" {
		def = defaultJobManager
	}
	root.PersistentFlags().StringVarP(&c.jobmanager, "jobmanager", "m", def, "jobmanager gRPC address, host:port; $WEIR_JOBMANAGER sets the default")
	root.PersistentFlags().BoolVarP(&c.quiet, "quiet", "q", false, "print no progress, only results (job IDs, savepoint paths) and errors")
	root.PersistentFlags().StringVar(&c.token, "token", "", "bearer token for a jobmanager with access control; $WEIR_TOKEN sets the default")
	root.PersistentFlags().StringVar(&c.tlsCA, "tls-ca", c.getenv("WEIR_TLS_CA"), "PEM file of the CA to verify a TLS jobmanager against; $WEIR_TLS_CA sets the default")
	root.PersistentFlags().StringVar(&c.tlsCert, "tls-cert", c.getenv("WEIR_TLS_CERT"), "PEM client certificate (OU client) for a jobmanager with mutual TLS; $WEIR_TLS_CERT sets the default")
	root.PersistentFlags().StringVar(&c.tlsKey, "tls-key", c.getenv("WEIR_TLS_KEY"), "PEM key of --tls-cert; $WEIR_TLS_KEY sets the default")
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return fmt.Errorf("%w (see %s --help)", err, cmd.CommandPath())
	})
	root.AddCommand(
		newRunCmd(c),
		newSubmitCmd(c),
		newListCmd(c),
		newStatusCmd(c),
		newCancelCmd(c),
		newSavepointCmd(c),
		newStopCmd(c),
		newCheckpointsCmd(c),
		newProgramsCmd(c),
		newLocalCmd(c),
		newCertsCmd(c),
	)
	return root
}

// usageLine is the command's use line, without cobra's "[flags]".
func usageLine(cmd *cobra.Command) string {
	if cmd.HasParent() {
		return cmd.Parent().CommandPath() + " " + cmd.Use
	}
	return cmd.Use
}

// exactlyOne requires one argument, named what in the error.
func exactlyOne(what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		switch {
		case len(args) == 0:
			return fmt.Errorf("missing %s (usage: %s)", what, usageLine(cmd))
		case len(args) > 1:
			return fmt.Errorf("unexpected argument %q (usage: %s)", args[1], usageLine(cmd))
		}
		return nil
	}
}

func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return fmt.Errorf("unexpected argument %q (usage: %s)", args[0], usageLine(cmd))
	}
	return nil
}
