package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/weirstream/weir/internal/jobmanager"
	"github.com/weirstream/weir/internal/metrics"
	"github.com/weirstream/weir/internal/taskmanager"
	"github.com/weirstream/weir/stream"
)

// Checkpointing cost: WordCount over many distinct words, so its keyed
// state is large, run with checkpoints every second and without, on the
// heap and on Pebble.
//
// The input is n distinct 16-byte words, each appearing twice (two passes
// in the same order; WEIRBENCH_CHECKPOINT_PASSES sets how many, for a
// longer job over the same state), eight words to a line. n follows from
// WEIRBENCH_STATE_MB (default 256): the state a checkpoint holds at the end
// of the first pass is about stateBytesPerWord per word.
// WEIRBENCH_CHECKPOINT_INTERVAL (default 1s) is the checkpoint interval.
// WEIRBENCH_PEBBLE_MEMORY, if set, is the job's state.backend.pebble.memory;
// unset, the key keeps its own default. WEIRBENCH_CHECKPOINT_DIR, if set,
// is where the checkpoint storage directories go (checkpointDir).
// WEIRBENCH_CHECKPOINT_SNAPSHOTS=incremental leaves out the full snapshots
// (the targets' 1 GB is the incremental ones' size: a full heap snapshot of
// a GB every second grows the process past the memory of the machines the
// suite runs on, see docs/benchmarks.md). WEIRBENCH_CHECKPOINT_BACKENDS=heap
// or =pebble runs only that backend's jobs (default: both).
const (
	stateBytesPerWord = 40 // key, the WordCount value (word and count), framing
	checkpointPasses  = 2
	wordsPerLine      = 8
)

// keyedCorpora are the inputs written so far, by size and passes.
var keyedCorpora = map[[2]int]*keyedCorpus{}

type keyedCorpus struct {
	path         string
	keys, words  int64
	rawStateSize int64 // key and count bytes of every distinct word
}

// keyedInput writes an input of n distinct words for about stateMB MiB of
// state, repeated passes times, once per size and passes, and returns its
// path and word counts.
func keyedInput(b *testing.B, stateMB, passes int) *keyedCorpus {
	b.Helper()
	if c := keyedCorpora[[2]int{stateMB, passes}]; c != nil {
		return c
	}
	keys := int64(stateMB) << 20 / stateBytesPerWord
	path := filepath.Join(root, fmt.Sprintf("keyed-%dMB-%d.txt", stateMB, passes))
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	var words int64
	for range passes {
		for i := range keys {
			fmt.Fprintf(w, "w%015d", i)
			words++
			if words%wordsPerLine == 0 || i == keys-1 {
				w.WriteByte('\n')
			} else {
				w.WriteByte(' ')
			}
		}
	}
	err = w.Flush()
	if err == nil {
		// On disk before any job reads it, so that no job shares the
		// machine with its writeback.
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		b.Fatalf("writing the keyed input: %v", err)
	}
	c := &keyedCorpus{path: path, keys: keys, words: words, rawStateSize: keys * (16 + 8)}
	keyedCorpora[[2]int{stateMB, passes}] = c
	return c
}

// BenchmarkCheckpointing runs WordCount at parallelism 1 (one taskmanager,
// one slot) over the keyed input, with the sum's state on the heap or in
// Pebble, with checkpointing off ("none") or every interval (default 1s)
// into a local directory: full canonical snapshots ("checkpoints", the
// default on both backends) or incremental ones ("incremental-checkpoints",
// state.backend.incremental: true: Pebble's new files, as Flink's RocksDB
// figures are, or the heap's deltas). Metrics: words/s of wall time
// and words/cpu-s as in the WordCount benchmarks; for "checkpoints" also
// interval-s, checkpoints (completed, per job, of the jobmanager's last
// 100), ckpt-MB (the largest completed checkpoint), upload-MB (what a
// checkpoint wrote to storage, on average: an incremental one writes only
// its new files or delta), whole-checkpoints (those after a job's first
// that wrote all their state: each of "checkpoints", and an incremental
// backend's full snapshots) and sync-p99-ms /
// sync-max-ms, the synchronous part of the snapshot in every stateful
// subtask's acknowledgement (the time the task stops processing for a
// barrier), read from the jobmanager's checkpoint details API. On Pebble,
// read-amp and read-amp-max: Pebble's read amplification, sampled every
// second from the taskmanager's metrics, and write-stall-s: the seconds
// per job the sum's writes were held back while Pebble's flushes and
// compactions caught up (weir_pebble_write_stall_seconds_total). On both,
// sched-wait-s and sched-p99-us: how long goroutines of the process
// waited runnable for a processor, summed per job, and the 99th
// percentile of one wait (schedLatency); the task that does the keyed
// work is the job's bottleneck, and work beside it shows here before it
// shows in its CPU. WEIRBENCH_TRACE, if set, is a file for an execution
// trace of 10 s, 60 s into each job (traceWindow). "warm-up" is the
// process's first job, without checkpoints on the first backend, which no
// figure compares: the jobs after it reuse the memory it mapped.
func BenchmarkCheckpointing(b *testing.B) {
	stateMB := envInt(b, "WEIRBENCH_STATE_MB", 256)
	interval := checkpointInterval(b)
	full := fullSnapshots(b)
	backends := checkpointBackends(b)
	// A process's first job is slower than the ones after it, which reuse
	// the memory it mapped: on the virtual machines the suite runs on,
	// pages new to the process are faulted in from the host, and freed
	// ones go back to it. The first job is this one, so that the rows
	// compared are of jobs that start alike, as a long-running
	// taskmanager's do.
	b.Run("warm-up", func(b *testing.B) { benchmarkCheckpointing(b, stateMB, backends[0], 0, false) })
	for _, backend := range backends {
		b.Run(backend+"/none", func(b *testing.B) { benchmarkCheckpointing(b, stateMB, backend, 0, false) })
		if full {
			b.Run(backend+"/checkpoints", func(b *testing.B) { benchmarkCheckpointing(b, stateMB, backend, interval, false) })
		}
		b.Run(backend+"/incremental-checkpoints", func(b *testing.B) { benchmarkCheckpointing(b, stateMB, backend, interval, true) })
	}
}

// checkpointDir returns a new directory for a benchmark's checkpoint
// storage: under WEIRBENCH_CHECKPOINT_DIR if set (another file system than
// the working state's, as checkpoint storage is in production), else under
// the benchmark's temporary directory, on the same file system as the
// taskmanager's Pebble databases.
func checkpointDir(b *testing.B) string {
	parent := os.Getenv("WEIRBENCH_CHECKPOINT_DIR")
	if parent == "" {
		return filepath.Join(b.TempDir(), "checkpoints")
	}
	dir, err := os.MkdirTemp(parent, "checkpoints-")
	if err != nil {
		b.Fatalf("WEIRBENCH_CHECKPOINT_DIR: %v", err)
	}
	b.Cleanup(func() {
		if err := os.RemoveAll(dir); err != nil {
			b.Errorf("removing the checkpoint storage: %v", err)
		}
	})
	return dir
}

// fullSnapshots reports whether BenchmarkCheckpointing runs the full
// snapshots: WEIRBENCH_CHECKPOINT_SNAPSHOTS is "all" (or unset) or
// "incremental".
func fullSnapshots(b *testing.B) bool {
	switch s := os.Getenv("WEIRBENCH_CHECKPOINT_SNAPSHOTS"); s {
	case "", "all":
		return true
	case "incremental":
		return false
	default:
		b.Fatalf("WEIRBENCH_CHECKPOINT_SNAPSHOTS=%q: want all or incremental", s)
		return false
	}
}

// checkpointBackends returns the backends BenchmarkCheckpointing runs:
// WEIRBENCH_CHECKPOINT_BACKENDS, heap or pebble, or both if it is unset
// or "all".
func checkpointBackends(b *testing.B) []string {
	switch s := os.Getenv("WEIRBENCH_CHECKPOINT_BACKENDS"); s {
	case "", "all":
		return []string{"heap", "pebble"}
	case "heap", "pebble":
		return []string{s}
	default:
		b.Fatalf("WEIRBENCH_CHECKPOINT_BACKENDS=%q: want all, heap or pebble", s)
		return nil
	}
}

// checkpointInterval returns WEIRBENCH_CHECKPOINT_INTERVAL, 1 s if unset:
// the checkpoint interval of the checkpointing and recovery benchmarks.
func checkpointInterval(b *testing.B) time.Duration {
	s := os.Getenv("WEIRBENCH_CHECKPOINT_INTERVAL")
	if s == "" {
		return time.Second
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		b.Fatalf("WEIRBENCH_CHECKPOINT_INTERVAL=%q: want a positive duration", s)
	}
	return d
}

// benchmarkCheckpointing runs the job with checkpoints every interval, or
// none if interval is 0; incremental sets state.backend.incremental (native
// snapshots uploading only new Pebble files or the heap's delta) instead of
// full canonical snapshots.
func benchmarkCheckpointing(b *testing.B, stateMB int, backend string, interval time.Duration, incremental bool) {
	b.StopTimer()
	in := keyedInput(b, stateMB, envInt(b, "WEIRBENCH_CHECKPOINT_PASSES", checkpointPasses))
	s := oneSlot
	s.config = map[string]string{"state.checkpoints.dir": "file://" + checkpointDir(b)}
	s.metrics = backend == "pebble"
	cl := startCluster(b, s)
	var amp pebbleSamples
	var m meter
	var sched schedLatency
	var syncs []int64
	var checkpoints, ckptBytes, uploaded, whole int64
	for i := range b.N {
		out := filepath.Join(root, fmt.Sprintf("out-ckpt-%s-%v-%d", backend, interval, i))
		env, err := stream.BuildProgram("wordcount", []string{"--input", in.path, "--output", out}, 1)
		if err != nil {
			b.Fatal(err)
		}
		env.SetConfig("state.backend", backend)
		if mem := os.Getenv("WEIRBENCH_PEBBLE_MEMORY"); mem != "" {
			env.SetConfig("state.backend.pebble.memory", mem)
		}
		if interval > 0 {
			env.SetConfig("execution.checkpointing.interval", interval.String())
		}
		if incremental {
			env.SetConfig("state.backend.incremental", "true")
		}
		g, err := env.Graph()
		if err != nil {
			b.Fatal(err)
		}
		stopSampling := func() {}
		if s.metrics {
			stopSampling = amp.sample(cl.c.MetricsAddress(0))
		}
		sched.Start()
		stopTrace := traceWindow(b)
		job := cl.timedRun(b, &m, g)
		stopTrace()
		sched.Stop()
		stopSampling()
		if err := cl.checkJob(job, s); err != nil {
			b.Fatal(err)
		}
		if err := checkLineCount(out, in.words); err != nil {
			b.Fatal(err)
		}
		if err := os.RemoveAll(out); err != nil {
			b.Fatal(err)
		}
		if interval == 0 {
			continue
		}
		st, err := checkpointStats(cl.c.HTTPAddress(), job.GetJob().GetJobId())
		if err != nil {
			b.Fatal(err)
		}
		syncs = append(syncs, st.syncMillis...)
		checkpoints += st.completed
		uploaded += st.uploaded
		whole += st.whole
		ckptBytes = max(ckptBytes, st.maxBytes)
	}
	m.Report(b, float64(in.words)*float64(b.N), "words")
	b.ReportMetric(float64(in.rawStateSize)/(1<<20), "raw-state-MB")
	sched.Report(b)
	if amp.n > 0 {
		b.ReportMetric(amp.sum/float64(amp.n), "read-amp")
		b.ReportMetric(amp.max, "read-amp-max")
		b.ReportMetric(amp.stall/float64(b.N), "write-stall-s")
	}
	if interval > 0 {
		b.ReportMetric(interval.Seconds(), "interval-s")
		b.ReportMetric(float64(checkpoints)/float64(b.N), "checkpoints")
		b.ReportMetric(float64(whole)/float64(b.N), "whole-checkpoints")
		b.ReportMetric(float64(ckptBytes)/(1<<20), "ckpt-MB")
		if checkpoints > 0 {
			b.ReportMetric(float64(uploaded)/float64(checkpoints)/(1<<20), "upload-MB")
		}
		if len(syncs) > 0 {
			slices.Sort(syncs)
			b.ReportMetric(float64(syncs[(len(syncs)*99+99)/100-1]), "sync-p99-ms")
			b.ReportMetric(float64(syncs[len(syncs)-1]), "sync-max-ms")
		}
	}
	b.ReportMetric(0, "ns/op")
}

// pebbleSamples are Pebble's read amplification (sublevels of L0 and the
// non-empty levels below) as the taskmanager's metrics report it, sampled
// every second while a job runs: how many places a point read of an
// absent or cold key may look; and the write stall of the jobs sampled,
// each job's last sample of its counter.
type pebbleSamples struct {
	sum, max float64
	n        int
	stall    float64
}

// sample reads the read amplification and write stall of every Pebble
// database at the taskmanager serving /metrics at addr, every second
// until the returned stop is called. A failed scrape is skipped: the
// job's own checks catch a taskmanager gone.
func (a *pebbleSamples) sample(addr string) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	var stall float64 // the job's, at the last scrape
	go func() {
		defer close(finished)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		c := http.Client{Timeout: 5 * time.Second}
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			resp, err := c.Get("http://" + addr + "/metrics")
			if err != nil {
				continue
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				continue
			}
			amps, scraped := parsePebbleMetrics(string(body))
			for _, v := range amps {
				a.sum += v
				a.max = max(a.max, v)
				a.n++
			}
			stall = max(stall, scraped)
		}
	}()
	return func() {
		close(done)
		<-finished
		a.stall += stall
	}
}

// parsePebbleMetrics reads the read amplification of every Pebble
// database, and their write stall summed, from a taskmanager's /metrics.
func parsePebbleMetrics(body string) (amps []float64, stall float64) {
	for line := range strings.Lines(body) {
		name, rest, ok := strings.Cut(line, "{")
		_, value, _ := strings.Cut(rest, "} ")
		v, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
		if !ok || err != nil {
			continue
		}
		switch name {
		case metrics.Namespace + "_pebble_read_amplification":
			amps = append(amps, v)
		case metrics.Namespace + "_pebble_write_stall_seconds_total":
			stall += v
		}
	}
	return amps, stall
}

// checkLineCount checks that the part files in dir hold want lines.
func checkLineCount(dir string, want int64) error {
	parts, err := partFiles(dir)
	if err != nil {
		return err
	}
	var lines int64
	for _, p := range parts {
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		lines += int64(bytes.Count(data, []byte{'\n'}))
	}
	if lines != want {
		return fmt.Errorf("output has %d lines, want one per input word: %d", lines, want)
	}
	return nil
}

// ckptStats is what a job's checkpoints cost.
type ckptStats struct {
	completed  int64
	maxBytes   int64
	uploaded   int64   // bytes written to storage, summed over the completed checkpoints
	whole      int64   // completed checkpoints after the first that wrote all their state to storage
	syncMillis []int64 // one per acknowledgement of a stateful subtask
}

// checkpointStats reads the completed checkpoints of a job from the
// jobmanager's JSON API (its history holds the last 100): the
// synchronous duration of every acknowledgement of a subtask with state,
// and the largest checkpoint's size.
func checkpointStats(httpAddr, jobID string) (ckptStats, error) {
	var st ckptStats
	var list jobmanager.CheckpointsJSON
	if err := getJSON(fmt.Sprintf("http://%s/api/v1/jobs/%s/checkpoints", httpAddr, jobID), &list); err != nil {
		return st, err
	}
	first := int64(-1)
	for _, c := range list.History {
		if c.Status != "COMPLETED" || c.IsSavepoint {
			continue
		}
		if first < 0 || c.ID < first {
			first = c.ID
		}
	}
	for _, c := range list.History {
		if c.Status != "COMPLETED" || c.IsSavepoint {
			continue
		}
		st.completed++
		if c.ID != first && c.StateSize > 0 && c.UploadedSize >= c.StateSize {
			st.whole++
		}
		st.maxBytes = max(st.maxBytes, c.StateSize)
		st.uploaded += c.UploadedSize
		var d jobmanager.CheckpointDetailJSON
		if err := getJSON(fmt.Sprintf("http://%s/api/v1/jobs/%s/checkpoints/details/%d", httpAddr, jobID, c.ID), &d); err != nil {
			return st, err
		}
		for _, sa := range d.Subtasks {
			if sa.Status == "ACKNOWLEDGED" && sa.StateSize > 0 {
				st.syncMillis = append(st.syncMillis, sa.SyncDuration)
			}
		}
	}
	return st, nil
}

func getJSON(url string, v any) error {
	c := http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// The benchmark reads Pebble's read amplification and write stall from the
// taskmanager's metrics as Prometheus writes them, and nothing else.
func TestParsePebbleMetrics(t *testing.T) {
	body := `# HELP weir_pebble_read_amplification Read amplification of the subtask's Pebble database.
# TYPE weir_pebble_read_amplification gauge
weir_pebble_read_amplification{job="j",operator="sum",subtask="0"} 4
weir_pebble_read_amplification{job="j",operator="sum",subtask="1"} 6
weir_pebble_flushes_total{job="j",operator="sum",subtask="0"} 9
weir_pebble_write_stall_seconds_total{job="j",operator="sum",subtask="0"} 1.5
weir_pebble_write_stall_seconds_total{job="j",operator="sum",subtask="1"} 0.25
weir_taskmanager_slots 1
`
	amps, stall := parsePebbleMetrics(body)
	if !slices.Equal(amps, []float64{4, 6}) || stall != 1.75 {
		t.Fatalf("read amplification %v, write stall %v; want [4 6] and 1.75", amps, stall)
	}
}

// infoAlso passes warnings and errors to Handler, and of the records at
// info level those that explain a benchmark's figure: a checkpoint that
// uploaded the whole state rather than a delta, and why.
type infoAlso struct{ slog.Handler }

func (h infoAlso) Handle(ctx context.Context, r slog.Record) error {
	if r.Level < slog.LevelWarn && r.Message != taskmanager.MsgWholeUpload {
		return nil
	}
	return h.Handler.Handle(ctx, r)
}

func (h infoAlso) WithAttrs(as []slog.Attr) slog.Handler { return infoAlso{h.Handler.WithAttrs(as)} }

func (h infoAlso) WithGroup(name string) slog.Handler { return infoAlso{h.Handler.WithGroup(name)} }
