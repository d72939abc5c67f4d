package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/proto"

	weirv1 "github.com/weirstream/weir/api/proto/weir/v1"
	"github.com/weirstream/weir/internal/config"
	"github.com/weirstream/weir/internal/jobspec"
)

// submitFlags are the flags run and submit share.
type submitFlags struct {
	detached         bool
	props            []string
	savepoint        string
	allowNonRestored bool
}

func (f *submitFlags) register(cmd *cobra.Command) {
	cmd.Flags().BoolVarP(&f.detached, "detached", "d", false, "return once the job is submitted instead of waiting for it to end")
	cmd.Flags().StringArrayVarP(&f.props, "property", "D", nil, "set a configuration key for this job, key=value (repeatable)")
	cmd.Flags().StringVarP(&f.savepoint, "from-savepoint", "s", "", "resume the job from this savepoint or retained checkpoint, a path as weir savepoint prints it")
	cmd.Flags().BoolVarP(&f.allowNonRestored, "allow-non-restored-state", "n", false, "with -s, resume even if the savepoint holds state of operators the job no longer has")
}

// request checks the flags and returns a request with their fields set:
// the job's configuration and the savepoint it resumes from.
func (f *submitFlags) request() (*weirv1.SubmitJobRequest, error) {
	cfg, err := f.jobConfig()
	if err != nil {
		return nil, err
	}
	if f.allowNonRestored && f.savepoint == "" {
		return nil, errors.New("-n/--allow-non-restored-state needs a savepoint to resume from (-s PATH)")
	}
	return &weirv1.SubmitJobRequest{Config: cfg, SavepointPath: f.savepoint, AllowNonRestoredState: f.allowNonRestored}, nil
}

// jobConfig checks the -D properties as job settings: known keys that a
// job may set, with valid values.
func (f *submitFlags) jobConfig() (map[string]string, error) {
	m, err := config.ParseDynamic(f.props)
	if err != nil {
		return nil, err
	}
	if _, err := config.Default().WithJob(m); err != nil {
		return nil, fmt.Errorf("-D %w", err)
	}
	if len(m) == 0 {
		return nil, nil
	}
	return m, nil
}

func newRunCmd(c *cli) *cobra.Command {
	var f submitFlags
	var parallelism int
	cmd := &cobra.Command{
		DisableFlagsInUseLine: true,
		Use:                   "run [-p N] [-d] [-s PATH [-n]] [-D key=value]... NAME [job args...]",
		Short:                 "Run a program compiled into the jobmanager, such as wordcount",
		Long: `Run builds the program NAME on the jobmanager with the job args, which are
passed verbatim: flags after NAME belong to the job, not to weir. List the
programs with "weir programs".

With -s, the job resumes from a savepoint (see "weir savepoint" and "weir
stop") or a retained checkpoint; -n lets it drop state that belongs to
operators it no longer has.

Without -d, weir waits for the job and prints its progress on stderr; it
exits 0 when the job finishes and non-zero when it fails or is canceled.
Ctrl-C stops waiting but leaves the job running.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return fmt.Errorf("missing the program name (usage: %s)", usageLine(cmd))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			var p *int32
			if cmd.Flags().Changed("parallelism") {
				if parallelism < 1 {
					return fmt.Errorf("-p %d: want a parallelism of at least 1", parallelism)
				}
				p = proto.Int32(int32(parallelism))
			}
			req, err := f.request()
			if err != nil {
				return err
			}
			req.Job = &weirv1.SubmitJobRequest_Program{Program: &weirv1.Program{Name: args[0], Args: args[1:]}}
			req.Parallelism = p
			return c.submit(cmd.Context(), req, f.detached)
		},
	}
	cmd.Flags().SetInterspersed(false)
	cmd.Flags().IntVarP(&parallelism, "parallelism", "p", 0, "default parallelism of the job's operators (default: the program's, usually 1)")
	f.register(cmd)
	return cmd
}

func newSubmitCmd(c *cli) *cobra.Command {
	var f submitFlags
	cmd := &cobra.Command{
		DisableFlagsInUseLine: true,
		Use:                   "submit [-d] [-s PATH [-n]] [-D key=value]... JOB.yaml",
		Short:                 "Submit a job spec (YAML or JSON) of built-in or registered functions",
		Long: `Submit reads a job spec, a YAML or JSON description of a job graph (see
package internal/jobspec), and submits the graph. The jobmanager checks the
functions it names. Waiting, -d, -s and -n are as for "weir run".`,
		Args: exactlyOne("the job spec file"),
		RunE: func(cmd *cobra.Command, args []string) error {
			req, err := f.request()
			if err != nil {
				return err
			}
			data, err := os.ReadFile(args[0])
			if err != nil {
				return err
			}
			// Decode, not Parse: the functions are registered in the
			// jobmanager's binary, not in this one.
			g, err := jobspec.Decode(data)
			if err != nil {
				return fmt.Errorf("%s: %w", args[0], err)
			}
			req.Job = &weirv1.SubmitJobRequest_Graph{Graph: g}
			return c.submit(cmd.Context(), req, f.detached)
		},
	}
	f.register(cmd)
	return cmd
}
