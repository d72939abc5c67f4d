package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/spf13/cobra"

	"google.golang.org/protobuf/proto"

	weirv1 "github.com/weirstream/weir/api/proto/weir/v1"
	"github.com/weirstream/weir/internal/config"
	"github.com/weirstream/weir/internal/jobmanager"
	"github.com/weirstream/weir/internal/minicluster"

	// The local cluster runs in this process, so it runs the functions and
	// programs registered here: the same built-ins as the standard
	// jobmanager and taskmanager binaries, which entrypoint links in.
	_ "github.com/weirstream/weir/entrypoint"
)

func newLocalCmd(c *cli) *cobra.Command {
	var (
		taskManagers, slots, parallelism int
		file                             string
		props                            []string
	)
	cmd := &cobra.Command{
		DisableFlagsInUseLine: true,
		Use:                   "local [--taskmanagers N] [--slots S] [--config weir.yaml] [-D key=value]... [-p N NAME [job args...]]",
		Short:                 "Run a local cluster in this process, until interrupted or until a given job ends",
		Long: `Local runs one jobmanager and N taskmanagers in this process, listening on
jobmanager.rpc.address (default ` + defaultJobManager + `, where the other commands look
for it) and rest.address, until Ctrl-C.

Given a program NAME and its args (as for "weir run"), local runs that job on
the cluster, shows its progress on stderr, and stops the cluster when the job
ends; it exits non-zero if the job failed. The job's printed output goes to
stdout.

The configuration is read as the jobmanager and taskmanager binaries read it:
defaults, then --config, then WEIR_ environment variables, then -D.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := config.Load(config.Sources{File: file, Environ: c.environ(), Dynamic: props})
			if err != nil {
				return err
			}
			opts, err := localOptions(cfg, taskManagers, slots)
			if err != nil {
				return err
			}
			if len(args) == 0 {
				opts.Logger = slog.New(slog.NewTextHandler(c.stderr, nil))
				return c.runLocal(cmd.Context(), opts)
			}
			req := &weirv1.SubmitJobRequest{Job: &weirv1.SubmitJobRequest_Program{Program: &weirv1.Program{Name: args[0], Args: args[1:]}}}
			if cmd.Flags().Changed("parallelism") {
				if parallelism < 1 {
					return fmt.Errorf("-p %d: want a parallelism of at least 1", parallelism)
				}
				req.Parallelism = proto.Int32(int32(parallelism))
			}
			// The cluster's own log would drown the job's progress.
			opts.Logger = slog.New(slog.NewTextHandler(c.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
			return c.runLocalJob(cmd.Context(), opts, req)
		},
	}
	cmd.Flags().SetInterspersed(false)
	cmd.Flags().IntVarP(&parallelism, "parallelism", "p", 0, "default parallelism of the job given by NAME")
	cmd.Flags().IntVar(&taskManagers, "taskmanagers", 1, "number of taskmanagers")
	cmd.Flags().IntVar(&slots, "slots", 0, "task slots per taskmanager (default taskmanager.numberOfTaskSlots)")
	cmd.Flags().StringVar(&file, "config", "", "configuration file (weir.yaml)")
	cmd.Flags().StringArrayVarP(&props, "property", "D", nil, "set a configuration key, key=value (repeatable)")
	return cmd
}

// localOptions derives the cluster's options from its configuration and
// flags.
func localOptions(cfg *config.Config, taskManagers, slots int) (minicluster.Options, error) {
	if taskManagers < 1 {
		return minicluster.Options{}, fmt.Errorf("--taskmanagers %d: want at least 1", taskManagers)
	}
	var err error
	if slots == 0 {
		if slots, err = cfg.Int(config.TaskManagerSlots); err != nil {
			return minicluster.Options{}, err
		}
	}
	if slots < 1 {
		return minicluster.Options{}, fmt.Errorf("--slots %d: want at least 1", slots)
	}
	o := minicluster.Options{TaskManagers: taskManagers, Slots: slots}
	for _, g := range []struct {
		key string
		dst *string
	}{
		{config.JobManagerRPCAddress, &o.RPCAddress},
		{config.RESTAddress, &o.HTTPAddress},
		{config.PebbleLocalDir, &o.DataDir},
	} {
		if *g.dst, err = cfg.Get(g.key); err != nil {
			return minicluster.Options{}, err
		}
	}
	for _, d := range []struct {
		key string
		dst *time.Duration
	}{
		{config.HeartbeatInterval, &o.HeartbeatInterval},
		{config.HeartbeatTimeout, &o.HeartbeatTimeout},
		{config.SlotRequestTimeout, &o.SlotRequestTimeout},
		{config.BufferTimeout, &o.BufferTimeout},
	} {
		if *d.dst, err = cfg.Duration(d.key); err != nil {
			return minicluster.Options{}, err
		}
	}
	o.Config = jobmanager.JobSettings(cfg) // jobs inherit the keys a job may set
	limits, err := jobmanager.LimitsFrom(cfg)
	if err != nil {
		return minicluster.Options{}, err
	}
	o.Limits = &limits
	maxMsg, err := cfg.Bytes(config.RPCMaxMessageSize)
	if err != nil {
		return minicluster.Options{}, err
	}
	o.MaxMessageSize = int(maxMsg)
	return o, nil
}

// runLocal runs a cluster until ctx ends.
func (c *cli) runLocal(ctx context.Context, opts minicluster.Options) error {
	cluster, err := minicluster.Start(ctx, opts)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "Local cluster running: jobmanager at %s, web UI at http://%s, %d taskmanager(s) with %d slot(s) each.\nPress Ctrl-C to stop.\n",
		cluster.RPCAddress(), cluster.HTTPAddress(), opts.TaskManagers, opts.Slots)
	err = cluster.Wait()
	if ctx.Err() != nil && (err == nil || errors.Is(err, context.Canceled)) {
		fmt.Fprintln(c.stdout, "Local cluster stopped.")
		return nil
	}
	return err
}

// runLocalJob runs a cluster for one job: it submits req, waits for the job
// to end and stops the cluster.
func (c *cli) runLocalJob(ctx context.Context, opts minicluster.Options, req *weirv1.SubmitJobRequest) (err error) {
	cluster, err := minicluster.Start(ctx, opts)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, cluster.Close()) }()
	fmt.Fprintf(c.stderr, "Local cluster: jobmanager at %s, %d taskmanager(s) with %d slot(s) each.\n",
		cluster.RPCAddress(), opts.TaskManagers, opts.Slots)
	jc := *c
	jc.jobmanager = cluster.RPCAddress()
	jc.stdout = c.stderr // stdout carries the job's output
	return jc.submit(ctx, req, false)
}
