package main

import (
	"bytes"
	"context"
	"flag"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/suite.golden from testdata/suite.txt")

// suite parses the recorded output of a run.
func suite(t *testing.T) *Results {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "suite.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := Parse(f)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestTableGolden renders the table of a recorded run and compares it
// with the reviewed rendering: any change to a row, a ratio or a verdict
// shows in the diff (go test -update rewrites it).
func TestTableGolden(t *testing.T) {
	r := suite(t)
	var b bytes.Buffer
	if err := Render(&b, r, Rows(r)); err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "suite.golden")
	if *update {
		if err := os.WriteFile(golden, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if got := b.String(); got != string(want) {
		t.Errorf("table differs from %s (go test -update rewrites it):\n%s", golden, got)
	}
}

// TestParse checks what the parser takes from each kind of line.
func TestParse(t *testing.T) {
	r := suite(t)
	// Three runs of the ceiling: their mean; the -GOMAXPROCS suffix is
	// dropped, a name ending in letters after a dash is kept.
	if v, ok := r.Mean("BenchmarkWordCountCeiling", "words/s"); !ok || v != 1_000_000 {
		t.Errorf("ceiling words/s = %v, %v; want the mean of three runs, 1000000", v, ok)
	}
	if n := len(r.Bench["BenchmarkWordCountCeiling"]["other-cpus"]); n != 3 {
		t.Errorf("ceiling has %d other-cpus values, want 3", n)
	}
	if _, ok := r.Mean("BenchmarkWordCountLocalCluster/p=2-one-tm", "words/s"); !ok {
		t.Errorf("no p=2-one-tm row; names: %v", keys(r.Bench))
	}
	// Kill test figures go to the test whose output they are in, across
	// the interleaving of parallel tests.
	for test, want := range map[string]float64{"TestKillTaskManagerMinIO": 1.53, "TestKillTaskManagerPebbleLocalRecovery": 1.7} {
		if v, ok := r.Log(test, "kill-first-checkpoint-s"); !ok || v != want {
			t.Errorf("%s: kill → first checkpoint = %v, %v; want %v", test, v, ok, want)
		}
	}
	if v, ok := r.Log("TestLargerThanMemoryRSS", "growth-MiB"); !ok || v != 21 {
		t.Errorf("RSS growth = %v, %v; want 21", v, ok)
	}
	if len(r.Header) == 0 || r.Header[0][0] != "date" {
		t.Errorf("header %v, want the date first", r.Header)
	}
}

// TestRows checks the rows' arithmetic and verdicts on the recorded run.
func TestRows(t *testing.T) {
	rows := map[string]Row{}
	for _, row := range Rows(suite(t)) {
		if _, dup := rows[row.Figure]; dup {
			t.Fatalf("two rows named %q", row.Figure)
		}
		rows[row.Figure] = row
	}
	for _, c := range []struct{ figure, ratio, result string }{
		// 924,898 ÷ mean(823,294, 1,000,000, 1,176,706)
		{"WordCount p=1 local cluster ÷ single-goroutine ceiling", "0.92", pass},
		// 523,939 ÷ 687,421
		{"WordCount p=2: loopback-gRPC exchange (2 taskmanagers) ÷ in-process (1 taskmanager)", "0.76", pass},
		// 394,174 ÷ 647,857
		{"Nexmark q0 ÷ generator ceiling, per core", "0.61", pass},
		// 33,875 ÷ 74,500 < 1
		{"Nexmark q5 Pebble per core ÷ Flink 2.x", "0.45", miss},
		// 471,242 ÷ 28,000 ≥ 2
		{"Nexmark q4 heap per core ÷ Flink 2.x", "16.83", pass},
		// absent from the output
		{"Nexmark q8 Pebble per core ÷ Flink 2.x", "—", notMeasured},
		// 364,473 ÷ 438,233: below 0.9, but full snapshots have no
		// throughput target
		{"Checkpoints every 1 s ÷ none, heap full, words/s", "0.83", info},
		{"Checkpoints every 1 s ÷ none, heap incremental (state.backend.incremental), words/s", "0.95", pass},
		// 44,117 ÷ 89,307 < 0.9: the incremental rows keep the target
		{"Checkpoints every 0.1 s ÷ none, Pebble incremental (state.backend.incremental), words/s", "0.49", miss},
		{"Heap state bytes per key (count over 8–16-byte keys)", "4.86", info},
		// 21 MiB ≤ 2 + 48
		{"Pebble taskmanager RSS growth vs its memory budget", "10.5", pass},
	} {
		row, ok := rows[c.figure]
		if !ok {
			t.Errorf("no row %q", c.figure)
			continue
		}
		if row.Ratio != c.ratio || row.Result != c.result {
			t.Errorf("%s: ratio %s, %s; want %s, %s", c.figure, row.Ratio, row.Result, c.ratio, c.result)
		}
	}
	if row := rows["Checkpoints every 1 s ÷ none, heap full, words/cpu-s"]; row.Target != "—" || !strings.HasPrefix(row.Note, fullSnapshotsNote) {
		t.Errorf("full snapshots' row %+v: want no target, and the note that says whose it is", row)
	}
	for figure, c := range map[string]struct{ measured, result string }{
		"Synchronous pause per barrier p99, heap full":                                      {"29 ms", pass},
		"Synchronous pause per barrier p99, Pebble incremental (state.backend.incremental)": {"90 ms", miss},
		// 1.403 s ≤ 5 s + 2 s/GB × 1.967 MB
		"Recovery from checkpoint storage (file://), Pebble incremental, 2 MB checkpoint: stop → first output": {"1.40 s", pass},
		// 1.372 s ≤ 5 s
		"Recovery with local recovery (the taskmanager back with its data dir), Pebble incremental, 2 MB checkpoint: stop → first output": {"1.37 s", pass},
		// 1.7 s + 1 GB × 1.634 s/GB (native restore from the local copy)
		"Recovery, 1 GB Pebble, local recovery: kill → first output (estimate)": {"3.3 s", pass},
		// 15.16 s/GB > 2 s/GB
		"Download from MinIO per GB": {"15.2 s/GB", miss},
		// 1.53 s + 1 GB × (2.107 native restore from storage + 15.16 download) s/GB
		"Recovery, 1 GB Pebble, from MinIO: kill → first output (estimate)": {"18.8 s", miss},
	} {
		if row := rows[figure]; row.Measured != c.measured || row.Result != c.result {
			t.Errorf("%s: %s, %s; want %s, %s", figure, row.Measured, row.Result, c.measured, c.result)
		}
	}
}

// TestFailedStep checks that a row of a failed or skipped step says why
// it has no figure, and that a malformed benchmark line is an error.
func TestFailedStep(t *testing.T) {
	out := "### step wordcount: go test ...\n--- FAIL: BenchmarkWordCountCeiling\nFAIL\n" +
		"### failed wordcount: go test failed (exit status 1); its output is in the raw log\n" +
		"### failed largestate: not run in -short mode\n"
	r, err := Parse(strings.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	for _, row := range Rows(r) {
		if row.Result != notMeasured {
			t.Errorf("%s: %s with no figures in the output", row.Figure, row.Result)
		}
		switch {
		case strings.HasPrefix(row.Figure, "WordCount") && !strings.Contains(row.Note, "go test failed"):
			t.Errorf("%s: note %q, want the step's failure", row.Figure, row.Note)
		case strings.HasPrefix(row.Figure, "Pebble taskmanager RSS") && row.Note != "not run in -short mode":
			t.Errorf("%s: note %q, want the skip", row.Figure, row.Note)
		}
	}

	if _, err := Parse(strings.NewReader("BenchmarkX-2 1 12 ns/op 3\n")); err == nil {
		t.Error("a result line with a value and no unit parsed")
	}
	if _, err := Parse(strings.NewReader("BenchmarkX-2 1 twelve ns/op\n")); err == nil {
		t.Error("a result line with a value that is not a number parsed")
	}
}

// TestShortSuite runs the whole suite with tiny inputs, as `benchtable
// -short` does, and checks that every step's benchmarks still report the
// metrics the table reads: a renamed benchmark or metric fails here.
func TestShortSuite(t *testing.T) {
	if testing.Short() {
		t.Skip("runs every benchmark of the suite once (about two minutes)")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command:", err)
	}
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	t.Chdir(root)
	if err := runSuite(context.Background(), config{short: true, stateMB: 1, goBin: goBin}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	r, err := Parse(&out)
	if err != nil {
		t.Fatal(err)
	}
	for _, row := range Rows(r) {
		if row.Result == notMeasured && row.Note != "not run in -short mode" {
			t.Errorf("%s: not measured: %s", row.Figure, row.Note)
		}
	}
	if t.Failed() {
		t.Logf("suite output:\n%s", out.String())
	}
}

func keys[V any](m map[string]V) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}

// TestStepsSelected checks that a run limited by -steps runs only the
// named steps and records the others as not selected.
func TestStepsSelected(t *testing.T) {
	var out bytes.Buffer
	// No step is selected: running any would fail, as the go command does
	// not exist.
	c := config{only: map[string]bool{}, stateMB: 1, recoveryMB: 1, goBin: filepath.Join(t.TempDir(), "no-go")}
	if err := runSuite(context.Background(), c, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	r, err := Parse(&out)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range stepNames(c) {
		if why := r.Failed[name]; why != "not selected by -steps" {
			t.Errorf("step %s: %q, want not selected", name, why)
		}
	}
}

// TestRepeatedRuns checks that the state step runs -state-runs times, one
// run after another, and that its rows read every run: the ratios of the
// means with each run's ratio in the note, and the worst run's pause.
func TestRepeatedRuns(t *testing.T) {
	// A go command that prints one run of the checkpointing benchmark,
	// numbered by how many times it ran before.
	dir := t.TempDir()
	script := `#!/bin/sh
n=$(cat "` + dir + `/n" 2>/dev/null || echo 0)
n=$((n + 1))
echo $n > "` + dir + `/n"
echo "BenchmarkCheckpointing/heap/none-2 1 100 words/s"
echo "BenchmarkCheckpointing/heap/incremental-checkpoints-2 1 $((80 + 5 * n)) words/s 1 interval-s $((10 * n)) sync-p99-ms $((20 * n)) sync-max-ms"
`
	c := config{only: map[string]bool{stepState: true}, stateMB: 1, stateRuns: 3, recoveryMB: 1, goBin: fakeGo(t, dir, script)}
	r, out := runFakeSuite(t, c)
	if n := strings.Count(out, stepMarker+stepState+" (run "); n != 3 {
		t.Fatalf("the state step ran %d times, want 3:\n%s", n, out)
	}
	rows := map[string]Row{}
	for _, row := range Rows(r) {
		rows[row.Figure] = row
	}
	// mean(85, 90, 95) ÷ 100
	ratio := rows["Checkpoints every 1 s ÷ none, heap incremental (state.backend.incremental), words/s"]
	if ratio.Ratio != "0.90" || ratio.Result != pass || !strings.Contains(ratio.Note, "runs 0.85, 0.90, 0.95") {
		t.Errorf("ratio row %+v: want 0.90, pass, with each run's ratio", ratio)
	}
	pause := rows["Synchronous pause per barrier p99, heap incremental (state.backend.incremental)"]
	if pause.Measured != "30 ms" || !strings.Contains(pause.Note, "max 60 ms") {
		t.Errorf("pause row %+v: want the worst run's p99, 30 ms, and max, 60 ms", pause)
	}
}

// TestIncrementalOnly checks that -state-snapshots incremental runs the
// state step without the full snapshots, and that their rows say why they
// have no figure while the incremental rows are made as before.
func TestIncrementalOnly(t *testing.T) {
	// A go command that prints what the checkpointing benchmark prints
	// when WEIRBENCH_CHECKPOINT_SNAPSHOTS=incremental leaves out the full
	// snapshots, and fails without it.
	dir := t.TempDir()
	script := `#!/bin/sh
[ "$WEIRBENCH_CHECKPOINT_SNAPSHOTS" = incremental ] || exit 1
echo "BenchmarkCheckpointing/pebble/none-2 1 100 words/s 4.3 read-amp 7 read-amp-max 1.25 write-stall-s 524.3 sched-p99-us"
echo "BenchmarkCheckpointing/pebble/incremental-checkpoints-2 1 95 words/s 1 interval-s 20 sync-p99-ms 30 sync-max-ms 48.6 upload-MB 5.5 read-amp 9 read-amp-max 3.5 write-stall-s 3670 sched-p99-us"
`
	c := config{only: map[string]bool{stepState: true}, stateMB: 1024, stateRuns: 1, incrementalOnly: true, recoveryMB: 1, goBin: fakeGo(t, dir, script)}
	r, _ := runFakeSuite(t, c)
	if why, ok := r.Failed[stepState]; ok {
		t.Fatalf("the state step failed (%s): it did not run with WEIRBENCH_CHECKPOINT_SNAPSHOTS=incremental", why)
	}
	rows := map[string]Row{}
	for _, row := range Rows(r) {
		rows[row.Figure] = row
	}
	for _, figure := range []string{
		"Checkpoints every interval ÷ none, Pebble full, words/s",
		"Synchronous pause per barrier p99, heap full",
	} {
		if row := rows[figure]; row.Result != notMeasured || row.Note != "not selected by -state-snapshots incremental" {
			t.Errorf("%s: %+v, want not measured, not selected", figure, row)
		}
	}
	if row := rows["Checkpoints every 1 s ÷ none, Pebble incremental (state.backend.incremental), words/s"]; row.Ratio != "0.95" || row.Result != pass ||
		!strings.Contains(row.Note, "uploaded 49 MB per checkpoint") ||
		!strings.Contains(row.Note, "Pebble's read amplification 5.5, without checkpoints 4.3") ||
		!strings.Contains(row.Note, "writes held back 3.5 s a job, without checkpoints 1.2 s") ||
		!strings.Contains(row.Note, "scheduling latency p99 3.7 ms, without checkpoints 0.5 ms") {
		t.Errorf("incremental ratio row %+v: want 0.95, pass, the upload per checkpoint, the read amplification, the write stall and the scheduling latency with and without checkpoints", row)
	}
	// A failed state step is the reason of the full snapshots' rows too.
	r.Failed = map[string]string{stepState: "go test failed (exit status 1)"}
	r.Bench = nil
	for _, row := range Rows(r) {
		full := strings.HasSuffix(row.Figure, ", heap full") || strings.HasSuffix(row.Figure, ", Pebble full") ||
			strings.Contains(row.Figure, " full, ")
		if full && row.Note != r.Failed[stepState] {
			t.Errorf("%s: note %q, want the state step's failure", row.Figure, row.Note)
		}
	}
}

// TestOneBackend checks that -state-backends heap runs the state step's
// checkpointing jobs on the heap only, and that Pebble's rows say why they
// have no figure while the heap's are made as before.
func TestOneBackend(t *testing.T) {
	dir := t.TempDir()
	script := `#!/bin/sh
[ "$WEIRBENCH_CHECKPOINT_BACKENDS" = heap ] || exit 1
echo "BenchmarkCheckpointing/heap/none-2 1 100 words/s"
echo "BenchmarkCheckpointing/heap/incremental-checkpoints-2 1 92 words/s 1 interval-s 0 sync-p99-ms 0 sync-max-ms 27 upload-MB"
`
	c := config{only: map[string]bool{stepState: true}, stateMB: 1024, stateRuns: 1, incrementalOnly: true, stateBackend: "heap", recoveryMB: 1, goBin: fakeGo(t, dir, script)}
	r, text := runFakeSuite(t, c)
	if why, ok := r.Failed[stepState]; ok {
		t.Fatalf("the state step failed (%s): it did not run with WEIRBENCH_CHECKPOINT_BACKENDS=heap", why)
	}
	if !strings.Contains(text, "incremental snapshots only, heap only") {
		t.Errorf("the suite's mode does not say it ran the heap only:\n%s", text)
	}
	rows := map[string]Row{}
	for _, row := range Rows(r) {
		rows[row.Figure] = row
	}
	for _, figure := range []string{
		"Checkpoints every interval ÷ none, Pebble incremental (state.backend.incremental), words/cpu-s",
		"Synchronous pause per barrier p99, Pebble incremental (state.backend.incremental)",
		"Synchronous pause per barrier p99, Pebble full",
	} {
		if row := rows[figure]; row.Result != notMeasured || row.Note != "not selected by -state-backends heap" {
			t.Errorf("%s: %+v, want not measured, not selected", figure, row)
		}
	}
	if row := rows["Synchronous pause per barrier p99, heap full"]; row.Note != "not selected by -state-snapshots incremental" {
		t.Errorf("heap full pause row %+v: want not selected by -state-snapshots", row)
	}
	if row := rows["Checkpoints every 1 s ÷ none, heap incremental (state.backend.incremental), words/s"]; row.Ratio != "0.92" || row.Result != pass {
		t.Errorf("heap incremental ratio row %+v: want 0.92, pass", row)
	}
}

// fakeGo writes script into dir as a go command for runSuite and returns
// its path.
func fakeGo(t *testing.T, dir, script string) string {
	t.Helper()
	goBin := filepath.Join(dir, "go")
	if err := os.WriteFile(goBin, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return goBin
}

// runFakeSuite runs the suite of c and returns what it measured and its
// output.
func runFakeSuite(t *testing.T, c config) (*Results, string) {
	t.Helper()
	var out bytes.Buffer
	if err := runSuite(context.Background(), c, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	r, err := Parse(&out)
	if err != nil {
		t.Fatal(err)
	}
	return r, text
}
