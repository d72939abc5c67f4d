// Package entrypoint is the main of Weir's processes, for the standard
// binaries and for a user's own: a user who registers their own functions
// builds one binary whose main calls Main, and runs it as
//
//	mybinary jobmanager [flags]
//	mybinary taskmanager [flags]
//
// The built-in connectors and example jobs are always linked in.
package entrypoint

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"google.golang.org/grpc"

	"github.com/weirstream/weir/internal/checkpoint"
	"github.com/weirstream/weir/internal/checkpoint/objstore"
	"github.com/weirstream/weir/internal/clock"
	"github.com/weirstream/weir/internal/config"
	"github.com/weirstream/weir/internal/jobmanager"
	"github.com/weirstream/weir/internal/rpc"
	"github.com/weirstream/weir/internal/security"
	"github.com/weirstream/weir/internal/taskmanager"

	// Built-in connectors and examples register their functions and programs.
	_ "github.com/weirstream/weir/connector/file"
	_ "github.com/weirstream/weir/connector/generator"
	_ "github.com/weirstream/weir/connector/kafka"
	_ "github.com/weirstream/weir/connector/nexmark"
	_ "github.com/weirstream/weir/connector/print"
	_ "github.com/weirstream/weir/connector/socket"
	_ "github.com/weirstream/weir/examples/nexmark"
	_ "github.com/weirstream/weir/examples/windowwordcount"
	_ "github.com/weirstream/weir/examples/wordcount"
)

// Main runs the process named by os.Args[1] ("jobmanager" or "taskmanager")
// with the remaining arguments until SIGINT or SIGTERM, and exits non-zero
// on failure. It is the whole main of a user's combined binary.
func Main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: "+filepath.Base(os.Args[0])+" jobmanager|taskmanager [flags]")
		os.Exit(2)
	}
	var run func(context.Context, []string) error
	switch os.Args[1] {
	case "jobmanager":
		run = JobManager
	case "taskmanager":
		run = TaskManager
	default:
		fmt.Fprintf(os.Stderr, "%s: unknown process %q; want jobmanager or taskmanager\n", filepath.Base(os.Args[0]), os.Args[1])
		os.Exit(2)
	}
	Exit(os.Args[1], run(SignalContext(), os.Args[2:]))
}

// SignalContext returns a context cancelled by SIGINT or SIGTERM.
func SignalContext() context.Context {
	ctx, _ := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	return ctx
}

// Exit ends the process: status 0 for a nil error or -h, else 1 with the
// error on stderr.
func Exit(name string, err error) {
	if err == nil || errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
	os.Exit(1)
}

// process is what both processes read from their flags and configuration.
type process struct {
	cfg               *config.Config
	heartbeatInterval time.Duration
	heartbeatTimeout  time.Duration
	maxMessageSize    int
	stores            *checkpoint.Stores
	sec               *security.Process // nil: security off
	log               *slog.Logger
}

// load parses args with the flags fs already has plus --config and -D,
// then loads the configuration: defaults, file, WEIR_ environment, -D.
func load(name string, fs *flag.FlagSet, args []string) (*process, error) {
	file := fs.String("config", "", "configuration file (weir.yaml)")
	var props config.Properties
	fs.Var(&props, "D", "configuration property key=value (repeatable)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	cfg, err := config.Load(config.Sources{File: *file, Environ: os.Environ(), Dynamic: props})
	if err != nil {
		return nil, err
	}
	p := &process{cfg: cfg, log: slog.New(slog.NewTextHandler(os.Stderr, nil)).With("process", name)}
	var errs []error
	p.heartbeatInterval, err = cfg.Duration(config.HeartbeatInterval)
	errs = append(errs, err)
	p.heartbeatTimeout, err = cfg.Duration(config.HeartbeatTimeout)
	errs = append(errs, err)
	maxMsg, err := cfg.Bytes(config.RPCMaxMessageSize)
	errs = append(errs, err)
	p.maxMessageSize = int(maxMsg)
	p.stores, err = Stores(cfg)
	errs = append(errs, err)
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	secSettings, err := security.SettingsFrom(cfg)
	if err != nil {
		return nil, err
	}
	if p.sec, err = security.New(secSettings, p.log); err != nil {
		return nil, err
	}
	return p, nil
}

// dialOptions are the options of connections to other cluster members.
func (p *process) dialOptions() []grpc.DialOption {
	return rpc.DialOptions(p.maxMessageSize, p.sec.DialOptions()...)
}

// JobManager runs a jobmanager with command-line args until ctx ends.
//
//	jobmanager [--rpc-address 127.0.0.1:6123] [--http-address 127.0.0.1:8081] [--config weir.yaml] [-D key=value]...
func JobManager(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("jobmanager", flag.ContinueOnError)
	rpcAddr := fs.String("rpc-address", "", "gRPC listen address (default jobmanager.rpc.address, 127.0.0.1:6123)")
	httpAddr := fs.String("http-address", "", "HTTP listen address for the dashboard, the JSON API, /metrics, /healthz and /readyz (default rest.address, 127.0.0.1:8081)")
	p, err := load("jobmanager", fs, args)
	if err != nil {
		return err
	}
	if *rpcAddr == "" {
		*rpcAddr, _ = p.cfg.Get(config.JobManagerRPCAddress)
	}
	if *httpAddr == "" {
		*httpAddr, _ = p.cfg.Get(config.RESTAddress)
	}
	slotTimeout, err := p.cfg.Duration(config.SlotRequestTimeout)
	if err != nil {
		return err
	}
	limits, err := jobmanager.LimitsFrom(p.cfg)
	if err != nil {
		return err
	}
	rpcLis, err := net.Listen("tcp", *rpcAddr)
	if err != nil {
		return err
	}
	httpLis, err := net.Listen("tcp", *httpAddr)
	if err != nil {
		rpcLis.Close()
		return err
	}
	jm := jobmanager.New(jobmanager.Options{
		HeartbeatInterval: p.heartbeatInterval, HeartbeatTimeout: p.heartbeatTimeout, SlotRequestTimeout: slotTimeout,
		Config: jobmanager.JobSettings(p.cfg), DialOptions: p.dialOptions(), Logger: p.log,
		Stores: p.stores, Security: p.sec, ConfigView: p.cfg.Redacted(), Limits: &limits,
	})
	p.log.Info("jobmanager started", "rpc", rpcLis.Addr().String(), "http", httpLis.Addr().String(), "tls", p.sec != nil, "config", p.cfg)
	return jm.Serve(ctx, rpcLis, httpLis, p.maxMessageSize)
}

// TaskManager runs a taskmanager with command-line args until ctx ends.
//
//	taskmanager --jobmanager HOST:PORT [--slots N] [--rpc-address HOST:PORT] [--metrics-address HOST:PORT] [--data-dir DIR] [--config weir.yaml] [-D key=value]...
func TaskManager(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("taskmanager", flag.ContinueOnError)
	jmAddr := fs.String("jobmanager", "", "the jobmanager's gRPC address (default jobmanager.rpc.address)")
	slots := fs.Int("slots", 0, "number of task slots (default taskmanager.numberOfTaskSlots)")
	rpcAddr := fs.String("rpc-address", "127.0.0.1:0", "gRPC listen address; port 0 picks a free port, which is advertised")
	advertise := fs.String("advertised-address", "", "address peers dial, if not the listen address (e.g. a container's service name)")
	dataDir := fs.String("data-dir", "", "directory for local working state (default a directory under the system temp dir)")
	id := fs.String("id", "", "taskmanager id (default: derived from the advertised address and a random suffix)")
	metricsAddr := fs.String("metrics-address", "", "HTTP listen address for /metrics, /healthz and /readyz (default metrics.address; empty serves none)")
	p, err := load("taskmanager", fs, args)
	if err != nil {
		return err
	}
	mem, err := setMemoryLimit(p.cfg)
	if err != nil {
		return err
	}
	if *jmAddr == "" {
		*jmAddr, _ = p.cfg.Get(config.JobManagerRPCAddress)
	}
	if *slots == 0 {
		if *slots, err = p.cfg.Int(config.TaskManagerSlots); err != nil {
			return err
		}
	}
	if *slots < 1 {
		return fmt.Errorf("--slots %d must be at least 1", *slots)
	}
	bufferTimeout, err := p.cfg.Duration(config.BufferTimeout)
	if err != nil {
		return err
	}
	if *dataDir == "" {
		*dataDir = filepath.Join(os.TempDir(), "weir-taskmanager")
	}
	if err := os.MkdirAll(*dataDir, 0o755); err != nil {
		return fmt.Errorf("--data-dir: %w", err)
	}
	lis, err := net.Listen("tcp", *rpcAddr)
	if err != nil {
		return err
	}
	addr := lis.Addr().String()
	if *advertise != "" {
		addr = *advertise
	}
	if *id == "" {
		var b [3]byte
		_, _ = rand.Read(b[:])
		*id = addr + "-" + hex.EncodeToString(b[:])
	}
	pebbleDir, err := p.cfg.Get(config.PebbleLocalDir)
	if err != nil {
		lis.Close()
		return err
	}
	if *metricsAddr == "" {
		*metricsAddr, _ = p.cfg.Get(config.MetricsAddress)
	}
	var metricsLis net.Listener
	if *metricsAddr != "" {
		if metricsLis, err = net.Listen("tcp", *metricsAddr); err != nil {
			lis.Close()
			return fmt.Errorf("--metrics-address: %w", err)
		}
	}
	tm, err := taskmanager.New(taskmanager.Options{
		ID: *id, Address: addr, JobManager: *jmAddr, Slots: *slots, DataDir: *dataDir, PebbleDir: pebbleDir,
		HeartbeatInterval: p.heartbeatInterval, HeartbeatTimeout: p.heartbeatTimeout, BufferTimeout: bufferTimeout,
		DialOptions: p.dialOptions(), Logger: p.log, Stores: p.stores, MetricsListener: metricsLis, Security: p.sec,
	})
	if err != nil {
		lis.Close()
		if metricsLis != nil {
			metricsLis.Close()
		}
		return err
	}
	metricsAt := "none"
	if metricsLis != nil {
		metricsAt = metricsLis.Addr().String()
	}
	p.log.Info("taskmanager started", "id", *id, "rpc", addr, "jobmanager", *jmAddr, "slots", *slots, "data-dir", *dataDir, "metrics", metricsAt, "tls", p.sec != nil,
		"memory-limit", mem, "memory-limit-source", mem.Source)
	return tm.Serve(ctx, lis, p.maxMessageSize)
}

// Stores returns the checkpoint storage of a process configured by cfg: its
// S3 settings and credentials (s3.*, else the AWS_* environment).
func Stores(cfg *config.Config) (*checkpoint.Stores, error) {
	var o objstore.Options
	var errs []error
	get := func(k string) string {
		v, err := cfg.Get(k)
		errs = append(errs, err)
		return v
	}
	o.Endpoint, o.Region = get(config.S3Endpoint), get(config.S3Region)
	o.AccessKey, o.SecretKey = get(config.S3AccessKey), get(config.S3SecretKey)
	var err error
	o.PathStyleAccess, err = cfg.Bool(config.S3PathStyleAccess)
	errs = append(errs, err)
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return checkpoint.NewStores(o, clock.Real{}), nil
}
