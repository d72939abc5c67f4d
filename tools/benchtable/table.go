package main

import (
	"fmt"
	"io"
	"math"
	"strings"
)

// Row is one line of the table: a figure, what it was compared with, and
// whether it meets its target.
type Row struct {
	Figure    string
	Measured  string
	Reference string
	Ratio     string
	Target    string
	Result    string // pass, MISS, info or not measured
	Note      string
}

// Results of a row.
const (
	pass        = "pass"
	miss        = "MISS"
	info        = "info"
	notMeasured = "not measured"
)

// Step names: each row says which step measures it, so that a row whose
// step failed or was skipped says why it has no figure.
const (
	stepWordCount = "wordcount"
	stepState     = "state"
	// stepStateFull is the state step's full snapshots, which
	// -state-snapshots incremental leaves out.
	stepStateFull = "state-full"
	// The state step's jobs on one backend, which -state-backends leaves
	// out: stepStateOf.
	stepNexmark    = "nexmark"
	stepGenerator  = "nexmark-ceiling"
	stepRecovery   = "recovery"
	stepRestore    = "restore"
	stepDownload   = "download"
	stepKill       = "kill"
	stepLargeState = "largestate"
)

// Flink 2.x's published throughput per core (nexmark V2 with ForSt,
// shared/research/performance.md §1a), events per second.
var flinkPerCore = map[string]float64{
	"q0": 379_000, "q1": 395_000, "q2": 414_000,
	"q4": 28_000, "q5": 74_500, "q7": 23_000, "q8": 162_000,
}

// Targets.
const (
	wordCountMin     = 0.25 // p=1 cluster ÷ ceiling
	exchangeMin      = 0.7  // loopback gRPC ÷ in-process exchange
	statelessMin     = 0.5  // q0–q2 ÷ generator ceiling
	heapFlinkMin     = 2.0  // stateful queries on the heap ÷ Flink 2.x
	pebbleFlinkMin   = 1.0
	checkpointMin    = 0.9  // throughput with 1 s checkpoints ÷ none
	syncP99MaxMillis = 50.0 // synchronous pause per barrier
	localRecoveryMax = 5.0  // s, kill → first output, 1 GB, local recovery
	remoteRecoveryS  = 5.0  // s, plus remotePerGB per GB from MinIO
	remotePerGB      = 2.0
	rssOverheadMiB   = 48.0 // internal/integration/largestate_test.go's stated overhead
)

// Rows computes the table from r.
func Rows(r *Results) []Row {
	t := &table{r: r}

	const lc = "BenchmarkWordCountLocalCluster/"
	t.ratio("WordCount p=1 local cluster ÷ single-goroutine ceiling", stepWordCount,
		lc+"p=1", "BenchmarkWordCountCeiling", "words/s", wordCountMin)
	t.ratio("WordCount p=2: loopback-gRPC exchange (2 taskmanagers) ÷ in-process (1 taskmanager)", stepWordCount,
		lc+"p=2", lc+"p=2-one-tm", "words/s", exchangeMin)

	for _, q := range []string{"q0", "q1", "q2"} {
		t.ratio("Nexmark "+q+" ÷ generator ceiling, per core", stepNexmark,
			"BenchmarkQuery/"+q+"/heap", "BenchmarkGenerator", "events/cpu-s", statelessMin)
	}
	for _, q := range []string{"q0", "q1", "q2"} {
		t.vsConst("Nexmark "+q+" per core ÷ Flink 2.x", stepNexmark, "BenchmarkQuery/"+q+"/heap", "events/cpu-s", flinkPerCore[q], 1)
	}
	for _, q := range []string{"q4", "q5", "q7", "q8"} {
		t.vsConst("Nexmark "+q+" heap per core ÷ Flink 2.x", stepNexmark, "BenchmarkQuery/"+q+"/heap", "events/cpu-s", flinkPerCore[q], heapFlinkMin)
		t.vsConst("Nexmark "+q+" Pebble per core ÷ Flink 2.x", stepNexmark, "BenchmarkQuery/"+q+"/pebble", "events/cpu-s", flinkPerCore[q], pebbleFlinkMin)
	}

	const cp = "BenchmarkCheckpointing/"
	// Full snapshots on the heap and on Pebble (the default), and
	// incremental ones (state.backend.incremental: true): the heap's
	// deltas, and Pebble's new files, as Flink's RocksDB figures are.
	// The throughput target is the incremental ones': a full snapshot
	// encodes and uploads the whole state at every checkpoint, so its cost
	// follows the state's size, not the writes, and at the target's 1 GB
	// every second it cannot be met by any backend (docs/benchmarks.md,
	// "How each ratio is formed"). Their ratios are shown for what they
	// cost; their pauses keep the target.
	checkpointed := []struct {
		name, run, step  string
		throughputTarget bool
	}{
		{"heap full", "heap/checkpoints", stepStateFull, false},
		{"heap incremental (state.backend.incremental)", "heap/incremental-checkpoints", stepState, true},
		{"Pebble full", "pebble/checkpoints", stepStateFull, false},
		{"Pebble incremental (state.backend.incremental)", "pebble/incremental-checkpoints", stepState, true},
	}
	for i, c := range checkpointed {
		be, _, _ := strings.Cut(c.run, "/")
		if _, ok := r.Failed[stepStateOf(be)]; ok {
			checkpointed[i].step = stepStateOf(be)
			c = checkpointed[i]
		}
		for _, unit := range []string{"words/s", "words/cpu-s"} {
			row := t.ratio("Checkpoints "+t.every(cp+c.run)+" ÷ none, "+c.name+", "+unit, c.step, cp+c.run, cp+be+"/none", unit, checkpointMin)
			t.checkpointNote(row, cp+c.run)
			t.readAmpNote(row, cp+c.run, cp+be+"/none")
			t.schedNote(row, cp+c.run, cp+be+"/none")
			if !c.throughputTarget {
				row.Target = "—"
				if row.Result != notMeasured {
					row.Result = info
					row.Note = joinNotes(fullSnapshotsNote, row.Note)
				}
			}
		}
	}
	for _, c := range checkpointed {
		row := t.limit("Synchronous pause per barrier p99, "+c.name, c.step, cp+c.run, "sync-p99-ms", "ms", syncP99MaxMillis)
		t.checkpointNote(row, cp+c.run)
		if max, ok := r.Max(cp+c.run, "sync-max-ms"); ok && row.Result != notMeasured {
			row.Note = joinNotes(fmt.Sprintf("max %.0f ms", max), row.Note)
		}
	}

	t.recovery()

	t.heapBytes()
	t.pebbleRSS()
	return t.rows
}

// fullSnapshotsNote is the note of the full snapshots' throughput rows,
// which have no target.
const fullSnapshotsNote = "the whole state encoded and uploaded at every checkpoint: the target (≥ 0.9 with 1 GB of state) is the incremental rows', see docs/benchmarks.md"

// stepStateOf is the pseudo-step of the state step's jobs on backend be
// ("heap" or "pebble"), which -state-backends can leave out.
func stepStateOf(be string) string { return stepState + "-" + be }

type table struct {
	r    *Results
	rows []Row
}

func (t *table) add(row Row) *Row {
	t.rows = append(t.rows, row)
	return &t.rows[len(t.rows)-1]
}

// missing is the row of a figure that has no value.
func (t *table) missing(figure, step, target string) *Row {
	why := t.r.Failed[step]
	if why == "" && step == stepStateFull {
		// The full snapshots run in the state step unless left out.
		why = t.r.Failed[stepState]
	}
	if why == "" {
		why = "no result in the output"
	}
	return t.add(Row{Figure: figure, Measured: "—", Reference: "—", Ratio: "—", Target: target, Result: notMeasured, Note: why})
}

// ratio is the row of num ÷ den in unit, meeting its target at min or
// above: the ratio of their means over their runs, with each run's ratio
// in the note when they ran more than once.
func (t *table) ratio(figure, step, num, den, unit string, min float64) *Row {
	target := fmt.Sprintf("≥ %.2g", min)
	n, ok1 := t.r.Mean(num, unit)
	d, ok2 := t.r.Mean(den, unit)
	if !ok1 || !ok2 || d == 0 {
		return t.missing(figure, step, target)
	}
	return t.add(Row{Figure: figure, Measured: num3(n) + " " + unit, Reference: num3(d) + " " + unit,
		Ratio: fmt.Sprintf("%.2f", n/d), Target: target, Result: atLeast(n/d, min),
		Note: joinNotes(t.perRun(num, den, unit), t.load(num, den))})
}

// perRun lists the ratio of num ÷ den in each run, when both ran the same
// number of times, more than once: "runs 0.87, 0.93, 0.95".
func (t *table) perRun(num, den, unit string) string {
	ns, ds := t.r.Bench[num][unit], t.r.Bench[den][unit]
	if len(ns) < 2 || len(ns) != len(ds) {
		return ""
	}
	rs := make([]string, len(ns))
	for i := range ns {
		if ds[i] == 0 {
			return ""
		}
		rs[i] = fmt.Sprintf("%.2f", ns[i]/ds[i])
	}
	return "runs " + strings.Join(rs, ", ")
}

// vsConst is the row of bench's unit against a published reference.
func (t *table) vsConst(figure, step, bench, unit string, ref, min float64) *Row {
	target := fmt.Sprintf("≥ %.2g", min)
	if min == 1 {
		target = "> 1"
	}
	v, ok := t.r.Mean(bench, unit)
	if !ok {
		return t.missing(figure, step, target)
	}
	res := atLeast(v/ref, min)
	if min == 1 && v/ref <= 1 {
		res = miss
	}
	return t.add(Row{Figure: figure, Measured: num3(v) + " " + unit, Reference: num3(ref) + " events/s (published)",
		Ratio: fmt.Sprintf("%.2f", v/ref), Target: target, Result: res, Note: t.load(bench)})
}

// limit is the row of an absolute figure that must not exceed max: its
// largest value over the bench's runs.
func (t *table) limit(figure, step, bench, unit, suffix string, max float64) *Row {
	target := fmt.Sprintf("≤ %g %s", max, suffix)
	v, ok := t.r.Max(bench, unit)
	if !ok {
		return t.missing(figure, step, target)
	}
	res := pass
	if v > max {
		res = miss
	}
	return t.add(Row{Figure: figure, Measured: fmt.Sprintf("%.0f %s", v, suffix), Reference: "—", Ratio: "—",
		Target: target, Result: res, Note: t.load(bench)})
}

// every names the checkpoint interval of bench: "every 1 s".
func (t *table) every(bench string) string {
	if v, ok := t.r.Mean(bench, "interval-s"); ok {
		return fmt.Sprintf("every %g s", v)
	}
	return "every interval"
}

// checkpointNote adds the checkpoint size, what a checkpoint uploaded on
// average and the checkpoint count of bench to row, and for incremental
// checkpoints how many of a job's were full snapshots after its first.
func (t *table) checkpointNote(row *Row, bench string) {
	if row.Result == notMeasured {
		return
	}
	var parts []string
	if v, ok := t.r.Mean(bench, "ckpt-MB"); ok {
		parts = append(parts, fmt.Sprintf("checkpoint %.0f MB", v))
	}
	if v, ok := t.r.Mean(bench, "upload-MB"); ok {
		parts = append(parts, fmt.Sprintf("uploaded %.0f MB per checkpoint", v))
	}
	if v, ok := t.r.Mean(bench, "checkpoints"); ok {
		parts = append(parts, fmt.Sprintf("checkpoints per job: %.0f", v))
	}
	if v, ok := t.r.Mean(bench, "whole-checkpoints"); ok && strings.Contains(bench, "incremental") {
		parts = append(parts, fmt.Sprintf("checkpoints uploading the whole state per job: %.1f", v))
	}
	row.Note = joinNotes(strings.Join(parts, ", "), row.Note)
}

// readAmpNote adds Pebble's mean read amplification with and without
// checkpoints to row: the files a read may look in, which grow when
// compactions lag; and the seconds a job's writes were held back while
// they lagged, if the runs report it.
func (t *table) readAmpNote(row *Row, with, without string) {
	a, okA := t.r.Mean(with, "read-amp")
	n, okN := t.r.Mean(without, "read-amp")
	if row.Result == notMeasured || !okA || !okN {
		return
	}
	row.Note = joinNotes(row.Note, fmt.Sprintf("Pebble's read amplification %.1f, without checkpoints %.1f", a, n))
	a, okA = t.r.Mean(with, "write-stall-s")
	n, okN = t.r.Mean(without, "write-stall-s")
	if okA && okN {
		row.Note = joinNotes(row.Note, fmt.Sprintf("writes held back %.1f s a job, without checkpoints %.1f s", a, n))
	}
}

// schedNote adds the Go scheduler's latency p99 with and without
// checkpoints to row, if the runs report it: the checkpoints' work beside
// the task that is the job's bottleneck shows in it before it shows in
// a ratio of two throughputs (docs/benchmarks.md).
func (t *table) schedNote(row *Row, with, without string) {
	a, okA := t.r.Mean(with, "sched-p99-us")
	n, okN := t.r.Mean(without, "sched-p99-us")
	if row.Result == notMeasured || !okA || !okN {
		return
	}
	row.Note = joinNotes(row.Note, fmt.Sprintf("scheduling latency p99 %.1f ms, without checkpoints %.1f ms", a/1000, n/1000))
}

// recovery rows: BenchmarkRecovery's measured restores, the restore rates
// per GB, and kill → first output for 1 GB as the kill tests' time (small
// state) plus 1 GB of native restore (incremental checkpoints) at
// BenchmarkNativeRestore's rates: from the local copy with local recovery,
// from storage plus the download from MinIO otherwise.
func (t *table) recovery() {
	t.measuredRecovery()
	const restore = "BenchmarkRestore"
	if perGB, ok := t.r.Mean(restore, "s/GB"); !ok {
		t.missing("Pebble restore time per GB, canonical (full) snapshot", stepRestore, "—")
	} else {
		t.add(Row{Figure: "Pebble restore time per GB, canonical (full) snapshot", Measured: fmt.Sprintf("%.1f s/GB", perGB), Reference: "—",
			Ratio: "—", Target: "—", Result: info, Note: joinNotes("BenchmarkRestore: 1 M counters loaded into an empty backend", t.load(restore))})
	}
	const native = "BenchmarkNativeRestore/"
	rates := map[string]float64{}
	for _, c := range []struct{ src, figure, note string }{
		{"storage", "Pebble native restore per GB (incremental checkpoint), fetched files opened in place",
			"BenchmarkNativeRestore/storage: 1 M counters, the checkpoint's files held in memory (the download not included); per GB of canonical snapshot"},
		{"local", "Pebble native restore per GB (incremental checkpoint), from the local copy (hard links)",
			"BenchmarkNativeRestore/local: 1 M counters; per GB of canonical snapshot"},
	} {
		v, ok := t.r.Mean(native+c.src, "s/GB")
		if !ok {
			t.missing(c.figure, stepRestore, "—")
			continue
		}
		rates[c.src] = v
		t.add(Row{Figure: c.figure, Measured: fmt.Sprintf("%.2f s/GB", v), Reference: "—", Ratio: "—", Target: "—", Result: info, Note: c.note})
	}
	const download = "BenchmarkMinIODownload"
	dlPerGB, okDL := t.r.Mean(download, "s/GB")
	if !okDL {
		t.missing("Download from MinIO per GB", stepDownload, fmt.Sprintf("≤ %g s/GB", remotePerGB))
	} else {
		res := pass
		if dlPerGB > remotePerGB {
			res = miss
		}
		t.add(Row{Figure: "Download from MinIO per GB", Measured: fmt.Sprintf("%.1f s/GB", dlPerGB), Reference: "—", Ratio: "—",
			Target: fmt.Sprintf("≤ %g s/GB", remotePerGB), Result: res, Note: "BenchmarkMinIODownload: one state object, MinIO on loopback on the same cores"})
	}
	for _, c := range []struct {
		figure, test, src string
		remote            bool
		max               float64
	}{
		{"Recovery, 1 GB Pebble, local recovery: kill → first output (estimate)", "TestKillTaskManagerPebbleLocalRecovery", "local", false, localRecoveryMax},
		{"Recovery, 1 GB Pebble, from MinIO: kill → first output (estimate)", "TestKillTaskManagerMinIO", "storage", true, remoteRecoveryS + remotePerGB},
	} {
		target := fmt.Sprintf("≤ %g s", c.max)
		fixed, ok := t.r.Log(c.test, "kill-first-checkpoint-s")
		perGB, okGB := rates[c.src]
		switch {
		case !ok:
			row := t.missing(c.figure, stepKill, target)
			if why := t.r.Failed[stepKill]; why == "" {
				row.Note = c.test + " logged no kill figures"
			}
			continue
		case !okGB:
			t.missing(c.figure, stepRestore, target)
			continue
		case c.remote && !okDL:
			t.missing(c.figure, stepDownload, target)
			continue
		}
		v := fixed + perGB
		note := fmt.Sprintf("%s: kill → first checkpoint after restore %.2f s with KBs of state; + 1 GB × %.2f s/GB native restore (%s)", c.test, fixed, perGB, c.src)
		if c.remote {
			v += dlPerGB
			note += fmt.Sprintf(" + 1 GB × %.1f s/GB download", dlPerGB)
		}
		res := pass
		if v > c.max {
			res = miss
		}
		t.add(Row{Figure: c.figure, Measured: fmt.Sprintf("%.1f s", v), Reference: "—", Ratio: "—", Target: target, Result: res, Note: note})
	}
}

// measuredRecovery is BenchmarkRecovery's rows, Pebble with incremental
// checkpoints: a restore from checkpoint storage, against the download
// target scaled to the checkpoint's size, and one from the local copy
// (local recovery), against the local recovery target.
func (t *table) measuredRecovery() {
	for _, c := range []struct {
		run, figure string
		local       bool
	}{
		{"storage", "Recovery from checkpoint storage (file://), Pebble incremental", false},
		{"local", "Recovery with local recovery (the taskmanager back with its data dir), Pebble incremental", true},
	} {
		b := "BenchmarkRecovery/" + c.run
		v, ok1 := t.r.Mean(b, "kill-first-checkpoint-s")
		mb, ok2 := t.r.Mean(b, "ckpt-MB")
		limit, target := localRecoveryMax, fmt.Sprintf("≤ %g s", localRecoveryMax)
		if !c.local {
			limit = remoteRecoveryS + remotePerGB*mb/1024
			target = fmt.Sprintf("≤ %.2f s (5 s + 2 s/GB)", limit)
		}
		if !ok1 || !ok2 {
			if !c.local {
				target = "≤ 5 s + 2 s/GB"
			}
			t.missing(c.figure+": stop → first output", stepRecovery, target)
			continue
		}
		res := pass
		if v > limit {
			res = miss
		}
		running, _ := t.r.Mean(b, "kill-running-s")
		note := fmt.Sprintf("BenchmarkRecovery/%s: stop → running again %.2f s; first output = first checkpoint after the restore (1 s interval)", c.run, running)
		if local, ok := t.r.Mean(b, "local-MB"); ok {
			dl, _ := t.r.Mean(b, "downloaded-MB")
			note += fmt.Sprintf("; restored %.0f MB from the local copy, downloaded %.0f MB", local, dl)
		}
		t.add(Row{Figure: fmt.Sprintf("%s, %.0f MB checkpoint: stop → first output", c.figure, mb),
			Measured: fmt.Sprintf("%.2f s", v), Reference: "—", Ratio: "—", Target: target, Result: res, Note: note})
	}
}

func (t *table) heapBytes() {
	const b, figure = "BenchmarkHeapStateBytesPerKey", "Heap state bytes per key (count over 8–16-byte keys)"
	v, ok1 := t.r.Mean(b, "B/key")
	raw, ok2 := t.r.Mean(b, "raw-B/key")
	if !ok1 || !ok2 || raw == 0 {
		t.missing(figure, stepState, "measured")
		return
	}
	t.add(Row{Figure: figure, Measured: fmt.Sprintf("%.1f B/key", v), Reference: fmt.Sprintf("%.1f B/key raw key+value", raw),
		Ratio: fmt.Sprintf("%.2f", v/raw), Target: "measured", Result: info})
}

func (t *table) pebbleRSS() {
	const test, figure = "TestLargerThanMemoryRSS", "Pebble taskmanager RSS growth vs its memory budget"
	target := fmt.Sprintf("≤ budget + %g MiB", rssOverheadMiB)
	growth, ok1 := t.r.Log(test, "growth-MiB")
	budget, ok2 := t.r.Log(test, "budget-MiB")
	if !ok1 || !ok2 || budget == 0 {
		t.missing(figure, stepLargeState, target)
		return
	}
	res := pass
	if growth > budget+rssOverheadMiB {
		res = miss
	}
	t.add(Row{Figure: figure, Measured: fmt.Sprintf("%.0f MiB", growth), Reference: fmt.Sprintf("%.0f MiB budget", budget),
		Ratio: fmt.Sprintf("%.1f", growth/budget), Target: target, Result: res, Note: "peak RSS − idle RSS, state 11× the budget"})
}

// load says how busy the machine was while benches ran: their largest
// other-cpus.
func (t *table) load(benches ...string) string {
	worst, any := 0.0, false
	for _, b := range benches {
		for _, v := range t.r.Bench[b]["other-cpus"] {
			worst, any = math.Max(worst, v), true
		}
	}
	if !any {
		return ""
	}
	return fmt.Sprintf("other-cpus ≤ %.2f", worst)
}

// joinNotes joins the non-empty notes with semicolons.
func joinNotes(notes ...string) string {
	var out []string
	for _, n := range notes {
		if n != "" {
			out = append(out, n)
		}
	}
	return strings.Join(out, "; ")
}

func atLeast(ratio, min float64) string {
	if ratio >= min {
		return pass
	}
	return miss
}

// num3 formats v with three significant digits and a K or M suffix.
func num3(v float64) string {
	switch a := math.Abs(v); {
	case a >= 1e6:
		return fmt.Sprintf("%.3g M", v/1e6)
	case a >= 1e3:
		return fmt.Sprintf("%.3g K", v/1e3)
	default:
		return fmt.Sprintf("%.3g", v)
	}
}

// Render writes the header and rows as a Markdown table.
func Render(w io.Writer, r *Results, rows []Row) error {
	var b strings.Builder
	for _, h := range r.Header {
		fmt.Fprintf(&b, "%s: %s\n", h[0], h[1])
	}
	if len(r.Header) > 0 {
		b.WriteString("\n")
	}
	b.WriteString("| figure | measured | reference | ratio | target | result | notes |\n")
	b.WriteString("| --- | --- | --- | --- | --- | --- | --- |\n")
	var passed, missed, other int
	for _, row := range rows {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s |\n", row.Figure, row.Measured, row.Reference, row.Ratio, row.Target, row.Result, row.Note)
		switch row.Result {
		case pass:
			passed++
		case miss:
			missed++
		default:
			other++
		}
	}
	fmt.Fprintf(&b, "\n%d pass, %d miss, %d info or not measured\n", passed, missed, other)
	_, err := io.WriteString(w, b.String())
	return err
}
