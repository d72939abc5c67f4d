package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/spf13/cobra"

	"github.com/weirstream/weir/internal/config"
	"github.com/weirstream/weir/internal/minicluster"

	// The local cluster runs in this process, so it runs the functions and
	// programs registered here: the same built-ins as the standard
	// jobmanager and taskmanager binaries, which entrypoint links in.
	_ "github.com/weirstream/weir/entrypoint"
)

func newLocalCmd(c *cli) *cobra.Command {
	var (
		taskManagers, slots int
		file                string
		props               []string
	)
	cmd := &cobra.Command{
		DisableFlagsInUseLine: true,
		Use:                   "local [--taskmanagers N] [--slots S] [--config weir.yaml] [-D key=value]...",
		Short:                 "Run a local cluster in this process until interrupted",
		Long: `Local runs one jobmanager and N taskmanagers in this process, listening on
jobmanager.rpc.address (default ` + defaultJobManager + `, where the other commands look
for it) and rest.address, until Ctrl-C.

The configuration is read as the jobmanager and taskmanager binaries read it:
defaults, then --config, then WEIR_ environment variables, then -D.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := config.Load(config.Sources{File: file, Environ: c.environ(), Dynamic: props})
			if err != nil {
				return err
			}
			opts, err := localOptions(cfg, taskManagers, slots)
			if err != nil {
				return err
			}
			opts.Logger = slog.New(slog.NewTextHandler(c.stderr, nil))
			return c.runLocal(cmd.Context(), opts)
		},
	}
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
	o := minicluster.Options{TaskManagers: taskManagers, Slots: slots, Config: map[string]string{}}
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
	// Jobs inherit the keys a job may set.
	for k, v := range cfg.Map() {
		if opt, ok := config.Lookup(k); ok && opt.Job {
			o.Config[k] = v
		}
	}
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
