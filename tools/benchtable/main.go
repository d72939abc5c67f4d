// Command benchtable runs Weir's performance suite and prints its figures
// against their targets: one table with, for every figure, what was
// measured, what it is compared with, the ratio, the target and whether
// it is met. `make bench` runs it.
//
// The suite is a list of `go test` invocations (Go benchmarks and the
// integration tests that log recovery and memory figures), run one after
// another in the current directory, which must be the repository's root.
// Their combined output is saved (-raw) so a table can be made again
// from it (-from) without measuring anything.
//
// The default run is meant for a quarter of an hour on two quiet cores (it
// took 41 minutes on the loaded machine of docs/benchmarks.md); -short
// runs every step with tiny inputs (a smoke test of the suite and the
// table, not figures to read) and skips the integration tests.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "benchtable:", err)
		os.Exit(1)
	}
}

// step is one go test invocation of the suite.
type step struct {
	name string
	args []string // after `go test`
	env  []string
	// full marks steps that only the default run has: -short skips them.
	full bool
	// runs is how many times the invocation runs, one after another (1
	// if 0). Each run measures every benchmark of the step again, so
	// repeated ratios are of neighbouring runs.
	runs int
}

// config is a run's settings.
type config struct {
	short     bool
	stateMB   int
	stateRuns int
	// incrementalOnly leaves the full snapshots out of the state step
	// (-state-snapshots incremental).
	incrementalOnly bool
	// stateBackend, if not empty, is the only backend of the state
	// step's checkpointing jobs (-state-backends heap or pebble).
	stateBackend string
	recoveryMB   int
	goBin        string
	// only, if not empty, names the steps to run; the others are recorded
	// as not selected.
	only map[string]bool
}

// steps returns the suite for c.
func steps(c config) []step {
	bt := func(full, short string) string {
		if c.short {
			return "-benchtime=" + short
		}
		return "-benchtime=" + full
	}
	var wcLines, nexEvents, heapKeys, recoveryEnv, stateEnv []string
	stateMB, stateRuns, recoveryMB := c.stateMB, c.stateRuns, c.recoveryMB
	if c.incrementalOnly {
		stateEnv = []string{"WEIRBENCH_CHECKPOINT_SNAPSHOTS=incremental"}
	}
	if c.stateBackend != "" {
		stateEnv = append(stateEnv, "WEIRBENCH_CHECKPOINT_BACKENDS="+c.stateBackend)
	}
	if c.short {
		recoveryMB = 2
		// A small job ends soon after its first pass: checkpoints every
		// 100 ms let the recovery happen while it still runs.
		recoveryEnv = []string{"WEIRBENCH_CHECKPOINT_INTERVAL=100ms"}
		wcLines = []string{"WEIRBENCH_WORDCOUNT_LINES=20000"}
		nexEvents = []string{"WEIRBENCH_NEXMARK_EVENTS=20000"}
		heapKeys = []string{"WEIRBENCH_HEAP_KEYS=20000", "WEIRBENCH_CHECKPOINT_INTERVAL=100ms"}
		stateMB, stateRuns = 1, 1
	}
	return []step{
		{name: stepWordCount, env: wcLines,
			args: []string{"-run", "^$", "-bench", "^(BenchmarkWordCountCeiling|BenchmarkWordCountLocalCluster)$", bt("3x", "1x"), "-timeout", "30m", "./internal/bench/"}},
		{name: stepGenerator, env: nexEvents,
			args: []string{"-run", "^$", "-bench", "^BenchmarkGenerator$", bt("5x", "1x"), "./examples/nexmark/"}},
		{name: stepNexmark, env: nexEvents,
			args: []string{"-run", "^$", "-bench", "^BenchmarkQuery$/^(q0|q1|q2|q4|q5|q7|q8)$", "-benchtime=1x", "-timeout", "60m", "./examples/nexmark/"}},
		{name: stepState, env: append(append(heapKeys, stateEnv...), fmt.Sprintf("WEIRBENCH_STATE_MB=%d", stateMB)), runs: stateRuns,
			args: []string{"-run", "^$", "-bench", "^(BenchmarkHeapStateBytesPerKey|BenchmarkCheckpointing)$", "-benchtime=1x", "-timeout", "60m", "./internal/bench/"}},
		{name: stepRecovery, env: append(recoveryEnv, fmt.Sprintf("WEIRBENCH_RECOVERY_MB=%d", recoveryMB)),
			args: []string{"-run", "^$", "-bench", "^BenchmarkRecovery$", "-benchtime=1x", "-timeout", "90m", "./internal/bench/"}},
		{name: stepRestore,
			args: []string{"-run", "^$", "-bench", "^(BenchmarkRestore|BenchmarkNativeRestore)$", "-benchtime=1x", "-timeout", "30m", "./internal/statebackend/pebble/"}},
		{name: stepDownload, full: true,
			args: []string{"-run", "^$", "-bench", "^BenchmarkMinIODownload$", "-benchtime=3x", "-timeout", "30m", "./internal/bench/"}},
		{name: stepKill, full: true,
			args: []string{"-count=1", "-v", "-run", "^(TestKillTaskManagerPebbleLocalRecovery|TestKillTaskManagerMinIO)$", "-timeout", "20m", "./internal/integration/"}},
		{name: stepLargeState, full: true,
			args: []string{"-count=1", "-v", "-run", "^TestLargerThanMemoryRSS$", "-timeout", "30m", "./internal/integration/"}},
	}
}

// stepNames is the names of the steps of c, in order.
func stepNames(c config) []string {
	var names []string
	for _, s := range steps(c) {
		names = append(names, s.name)
	}
	return names
}

func run() error {
	var c config
	flag.BoolVar(&c.short, "short", false, "tiny inputs, no integration tests: a smoke test of the suite, not figures to read")
	flag.IntVar(&c.stateMB, "state-mb", 128, "approximate keyed state of the checkpointing benchmark, in MiB")
	flag.IntVar(&c.stateRuns, "state-runs", 3, "how many times the checkpointing benchmark runs; its ratios are of the means, its pauses the worst run's")
	snapshots := flag.String("state-snapshots", "all", "the checkpointing benchmark's snapshots: all, or incremental (without the full ones, for -state-mb 1024)")
	backends := flag.String("state-backends", "all", "the checkpointing benchmark's backends: all, heap or pebble")
	flag.IntVar(&c.recoveryMB, "recovery-mb", 1024, "approximate keyed state of the recovery benchmark, in MiB")
	flag.StringVar(&c.goBin, "go", "go", "the go command")
	raw := flag.String("raw", "out/bench-raw.txt", "where to save the suite's output")
	from := flag.String("from", "", "make the table from this saved output instead of running the suite")
	only := flag.String("steps", "", "comma-separated steps to run (default all): "+strings.Join(stepNames(config{}), ","))
	flag.Parse()
	if flag.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", flag.Args())
	}
	if *only != "" {
		c.only = map[string]bool{}
		known := stepNames(config{})
		for _, name := range strings.Split(*only, ",") {
			if !slices.Contains(known, name) {
				return fmt.Errorf("-steps: unknown step %q; the steps are %s", name, strings.Join(known, ", "))
			}
			c.only[name] = true
		}
	}
	if c.stateMB <= 0 {
		return fmt.Errorf("-state-mb %d: want a positive size", c.stateMB)
	}
	if c.stateRuns <= 0 {
		return fmt.Errorf("-state-runs %d: want at least one run", c.stateRuns)
	}
	switch *snapshots {
	case "all":
	case "incremental":
		c.incrementalOnly = true
	default:
		return fmt.Errorf("-state-snapshots %q: want all or incremental", *snapshots)
	}
	switch *backends {
	case "all":
	case "heap", "pebble":
		c.stateBackend = *backends
	default:
		return fmt.Errorf("-state-backends %q: want all, heap or pebble", *backends)
	}
	if c.recoveryMB <= 0 {
		return fmt.Errorf("-recovery-mb %d: want a positive size", c.recoveryMB)
	}

	var out []byte
	if *from != "" {
		b, err := os.ReadFile(*from)
		if err != nil {
			return err
		}
		out = b
	} else {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
		defer stop()
		if err := os.MkdirAll(filepath.Dir(*raw), 0o755); err != nil {
			return err
		}
		f, err := os.Create(*raw)
		if err != nil {
			return err
		}
		var buf bytes.Buffer
		err = runSuite(ctx, c, io.MultiWriter(f, &buf), os.Stderr)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "suite output saved in %s\n", *raw)
		out = buf.Bytes()
	}
	res, err := Parse(bytes.NewReader(out))
	if err != nil {
		return err
	}
	return Render(os.Stdout, res, Rows(res))
}

// runSuite runs every step of c, writing their output between marker
// lines to out and progress to progress. A failing step is recorded and
// the suite goes on; only an interrupt or a broken output stops it.
func runSuite(ctx context.Context, c config, out, progress io.Writer) error {
	snapshots := "full and incremental snapshots"
	if c.incrementalOnly {
		snapshots = "incremental snapshots only"
	}
	if c.stateBackend != "" {
		snapshots += ", " + c.stateBackend + " only"
	}
	mode := fmt.Sprintf("full, checkpointing state %d MiB (%d runs, %s), recovery state %d MiB", c.stateMB, c.stateRuns, snapshots, c.recoveryMB)
	if c.short {
		mode = "short (tiny inputs: a smoke test, not figures)"
	}
	if c.only != nil {
		var names []string
		for _, n := range stepNames(c) {
			if c.only[n] {
				names = append(names, n)
			}
		}
		mode += "; steps " + strings.Join(names, ", ") + " only"
	}
	header := [][2]string{
		{"date", time.Now().UTC().Format(time.RFC3339)},
		{"commit", gitCommit()},
		{"mode", mode},
		{"cpus", fmt.Sprint(runtime.NumCPU())},
		{"load average at start", loadAverage()},
	}
	for _, h := range header {
		if _, err := fmt.Fprintf(out, "%s%s: %s\n", headerMarker, h[0], h[1]); err != nil {
			return err
		}
	}
	start := time.Now()
	for _, s := range steps(c) {
		if c.only != nil && !c.only[s.name] {
			fmt.Fprintf(out, "%s%s: not selected by -steps\n", failMarker, s.name)
			continue
		}
		if s.name == stepState && c.incrementalOnly {
			fmt.Fprintf(out, "%s%s: not selected by -state-snapshots incremental\n", failMarker, stepStateFull)
		}
		if s.name == stepState && c.stateBackend != "" {
			for _, be := range []string{"heap", "pebble"} {
				if be != c.stateBackend {
					fmt.Fprintf(out, "%s%s: not selected by -state-backends %s\n", failMarker, stepStateOf(be), c.stateBackend)
				}
			}
		}
		if s.full && c.short {
			fmt.Fprintf(out, "%s%s: not run in -short mode\n", failMarker, s.name)
			continue
		}
		for run := 1; run <= max(s.runs, 1); run++ {
			if err := runStep(ctx, c, s, run, out, progress); err != nil {
				return err
			}
		}
	}
	_, err := fmt.Fprintf(out, "%sload average at end: %s\n%ssuite time: %s\n", headerMarker, loadAverage(), headerMarker, time.Since(start).Round(time.Second))
	return err
}

// runStep runs step s once, its run-th run.
func runStep(ctx context.Context, c config, s step, run int, out, progress io.Writer) error {
	cmd := exec.CommandContext(ctx, c.goBin, append([]string{"test"}, s.args...)...)
	cmd.Env = append(os.Environ(), s.env...)
	name := s.name
	if s.runs > 1 {
		name = fmt.Sprintf("%s (run %d of %d)", s.name, run, s.runs)
	}
	fmt.Fprintf(out, "%s%s: %s %s\n", stepMarker, name, strings.Join(s.env, " "), strings.Join(cmd.Args, " "))
	fmt.Fprintf(progress, "benchtable: %s: %s %s\n", name, strings.Join(s.env, " "), strings.Join(cmd.Args, " "))
	cmd.Stdout, cmd.Stderr = out, out
	t0 := time.Now()
	err := cmd.Run()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err != nil {
		var exit *exec.ExitError
		if !errors.As(err, &exit) {
			return fmt.Errorf("step %s: %w", name, err)
		}
		fmt.Fprintf(out, "%s%s: go test failed (%v); its output is in the raw log\n", failMarker, s.name, err)
	}
	fmt.Fprintf(progress, "benchtable: %s took %s\n", name, time.Since(t0).Round(time.Second))
	return nil
}

func gitCommit() string {
	b, err := exec.Command("git", "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return "unknown"
	}
	commit := strings.TrimSpace(string(b))
	if st, err := exec.Command("git", "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(bytes.TrimSpace(st)) > 0 {
		commit += " (with uncommitted changes)"
	}
	return commit
}

// loadAverage is /proc/loadavg's 1, 5 and 15 minute load averages.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}
