package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	weirv1 "github.com/weirstream/weir/api/proto/weir/v1"
	"github.com/weirstream/weir/connector/generator"
	"github.com/weirstream/weir/examples/wordcount"
	"github.com/weirstream/weir/internal/cputime"
	"github.com/weirstream/weir/internal/minicluster"
	"github.com/weirstream/weir/stream"
)

// The benchmark input: generator lines with this seed and vocabulary.
const (
	inputSeed  = 1
	inputWords = 10_000
	testLines  = 20_000 // lines of the test input
)

// benchLines is the number of lines of the benchmark input;
// WEIRBENCH_WORDCOUNT_LINES overrides it (make bench's quick mode).
var benchLines int64 = 1_000_000

// pollInterval is how often a benchmark asks the jobmanager whether its job
// has finished. The job runs behind gRPC, so polling is the only way to
// observe it; 5ms is 0.5% of a 1s job, and the polling costs about 1% of the
// CPU samples of a p=1 run (docs/benchmarks.md).
const pollInterval = 5 * time.Millisecond

// root is the directory every input and output of this run lives under;
// TestMain removes it.
var root string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "weir-bench-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	root = dir
	if s := os.Getenv("WEIRBENCH_WORDCOUNT_LINES"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n <= 0 {
			fmt.Fprintf(os.Stderr, "WEIRBENCH_WORDCOUNT_LINES=%q: want a positive integer\n", s)
			return 2
		}
		benchLines = n
	}
	return m.Run()
}

// corpus is a generated input file and what WordCount must make of it.
type corpus struct {
	path   string
	lines  int64
	words  int64
	counts map[string]int64 // final count per word
}

var (
	benchInputOnce sync.Once
	benchInput     *corpus
	benchInputErr  error
)

// benchCorpus returns the benchmark input, writing it on first use.
func benchCorpus(b *testing.B) *corpus {
	b.Helper()
	benchInputOnce.Do(func() {
		benchInput, benchInputErr = writeCorpus(filepath.Join(root, "input.txt"), benchLines)
	})
	if benchInputErr != nil {
		b.Fatal(benchInputErr)
	}
	return benchInput
}

// writeCorpus writes lines generator lines to path and counts their words
// with wordcount.Tokenize, the reference every output is checked against.
func writeCorpus(path string, lines int64) (*corpus, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	c := &corpus{path: path, lines: lines, counts: map[string]int64{}}
	w := bufio.NewWriterSize(f, 64<<10)
	for i := range lines {
		line := generator.Line(inputSeed, inputWords, i)
		w.WriteString(line)
		w.WriteByte('\n')
		wordcount.Tokenize(line, func(word string) {
			c.counts[word]++
			c.words++
		})
	}
	err = w.Flush()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("writing the input: %w", err)
	}
	return c, nil
}

// countWords is the ceiling: WordCount as one goroutine with no runtime.
// It reads input line by line, tokenises each line with the job's
// tokenizer, keeps the running count of every word in a map and writes the
// job's `word,count` line for every word to output, which it syncs and
// closes like the file sink does.
func countWords(input, output string) (lines, words int64, err error) {
	in, err := os.Open(input)
	if err != nil {
		return 0, 0, err
	}
	defer in.Close()
	out, err := os.Create(output)
	if err != nil {
		return 0, 0, err
	}
	defer out.Close()

	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	bw := bufio.NewWriterSize(out, 64<<10)
	counts := map[string]int64{}
	emit := func(w string) {
		n := counts[w] + 1
		counts[w] = n
		s, _ := wordcount.Format{}.Map(wordcount.WordCount{Word: w, Count: n})
		bw.WriteString(s)
		bw.WriteByte('\n')
		words++
	}
	for sc.Scan() {
		lines++
		wordcount.Tokenize(sc.Text(), emit)
	}
	if err := sc.Err(); err != nil {
		return 0, 0, err
	}
	if err := bw.Flush(); err != nil {
		return 0, 0, err
	}
	if err := out.Sync(); err != nil {
		return 0, 0, err
	}
	return lines, words, out.Close()
}

func BenchmarkWordCountCeiling(b *testing.B) {
	in := benchCorpus(b)
	dir := b.TempDir()
	var m meter
	b.ResetTimer()
	for i := range b.N {
		out := filepath.Join(dir, fmt.Sprintf("out-%d", i))
		m.Start()
		lines, words, err := countWords(in.path, out)
		m.Stop()
		b.StopTimer()
		if err != nil {
			b.Fatal(err)
		}
		if lines != in.lines || words != in.words {
			b.Fatalf("counted %d lines and %d words, want %d and %d", lines, words, in.lines, in.words)
		}
		if err := checkOutput([]string{out}, in); err != nil {
			b.Fatal(err)
		}
		if err := os.Remove(out); err != nil {
			b.Fatal(err)
		}
		runtime.GC() // the check's garbage is not the next iteration's
		b.StartTimer()
	}
	m.report(b, in)
}

// meter adds up the CPU time of the timed regions: this process's and the
// machine's.
type meter struct{ cputime.Meter }

// report adds the throughput metrics: words/s, words/cpu-s and other-cpus
// (cputime.Meter.Report), and lines per second of wall time.
func (m *meter) report(b *testing.B, in *corpus) {
	b.Helper()
	m.Report(b, float64(in.words)*float64(b.N), "words")
	b.ReportMetric(float64(in.lines)*float64(b.N)/b.Elapsed().Seconds(), "lines/s")
}

// clusterShape is a minicluster layout and the job's parallelism on it.
type clusterShape struct {
	name         string
	taskManagers int
	slots        int // per taskmanager
	parallelism  int
	// remote says whether records must cross taskmanagers over gRPC.
	remote bool
	// config is the cluster configuration jobs inherit.
	config map[string]string
	// restores, if set, counts the bytes the taskmanagers restore.
	restores *restoreLog
	// metrics serves each taskmanager's /metrics (MetricsAddress).
	metrics bool
}

var (
	oneSlot = clusterShape{name: "p=1", taskManagers: 1, slots: 1, parallelism: 1}
	twoTMs  = clusterShape{name: "p=2", taskManagers: 2, slots: 1, parallelism: 2, remote: true}
	oneTM   = clusterShape{name: "p=2-one-tm", taskManagers: 1, slots: 2, parallelism: 2}
	shapes  = []clusterShape{oneSlot, twoTMs, oneTM}
)

// BenchmarkWordCountLocalCluster runs the wordcount program on a
// minicluster: p=1 on one taskmanager with one slot; p=2 on two
// taskmanagers with one slot each, so the keyBy exchange crosses loopback
// gRPC; p=2-one-tm on one taskmanager with two slots, so it stays in
// process.
func BenchmarkWordCountLocalCluster(b *testing.B) {
	for _, s := range shapes {
		b.Run(s.name, func(b *testing.B) { benchmarkCluster(b, s) })
	}
}

func benchmarkCluster(b *testing.B, s clusterShape) {
	b.StopTimer() // the timer runs only around jobs
	in := benchCorpus(b)
	cl := startCluster(b, s)
	var m meter
	for i := range b.N {
		out := filepath.Join(root, fmt.Sprintf("out-%s-%d", s.name, i))
		g := wordCountGraph(b, in.path, out, s.parallelism)
		job := cl.timedRun(b, &m, g)

		if err := cl.checkJob(job, s); err != nil {
			b.Fatal(err)
		}
		parts, err := partFiles(out)
		if err == nil {
			err = checkOutput(parts, in)
		}
		if err != nil {
			b.Fatal(err)
		}
		if err := os.RemoveAll(out); err != nil {
			b.Fatal(err)
		}
	}
	m.report(b, in)
}

// wordCountGraph builds the registered wordcount program reading input and
// writing part files into output.
func wordCountGraph(tb testing.TB, input, output string, p int) *weirv1.JobGraph {
	tb.Helper()
	env, err := stream.BuildProgram("wordcount", []string{"--input", input, "--output", output}, p)
	if err != nil {
		tb.Fatal(err)
	}
	g, err := env.Graph()
	if err != nil {
		tb.Fatal(err)
	}
	return g
}

// cluster is a running minicluster and a gRPC client of its jobmanager.
type cluster struct {
	c      *minicluster.Cluster
	client weirv1.JobManagerServiceClient
	slots  int32
	ctx    context.Context
}

// startCluster starts a minicluster of shape s, stopped when tb ends, and
// waits until all its slots have registered.
func startCluster(tb testing.TB, s clusterShape) *cluster {
	tb.Helper()
	ctx := tb.Context()
	var h slog.Handler = infoAlso{slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo})}
	if s.restores != nil {
		h = restoreHandler{Handler: h, log: s.restores}
	}
	logger := slog.New(h)
	c, err := minicluster.Start(ctx, minicluster.Options{TaskManagers: s.taskManagers, Slots: s.slots, Logger: logger, Config: s.config,
		TaskManagerMetrics: s.metrics})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := c.Close(); err != nil && !errors.Is(err, context.Canceled) {
			tb.Error(err)
		}
	})
	conn, err := grpc.NewClient(c.RPCAddress(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { conn.Close() })
	cl := &cluster{c: c, client: weirv1.NewJobManagerServiceClient(conn), slots: int32(s.taskManagers * s.slots), ctx: ctx}
	cl.waitIdle(tb)
	return cl
}

// waitIdle waits until every slot of the cluster is registered and free, so
// a job's time does not include registration or the previous job's
// release.
func (cl *cluster) waitIdle(tb testing.TB) {
	tb.Helper()
	for {
		ov, err := cl.client.GetClusterOverview(cl.ctx, &weirv1.GetClusterOverviewRequest{})
		if err != nil {
			tb.Fatal(err)
		}
		if ov.GetSlotsTotal() == cl.slots && ov.GetSlotsFree() == cl.slots {
			return
		}
		cl.sleep(tb)
	}
}

func (cl *cluster) sleep(tb testing.TB) {
	tb.Helper()
	select {
	case <-cl.ctx.Done():
		tb.Fatal(cl.ctx.Err())
	case <-time.After(pollInterval): // polling remote state, not synchronising
	}
}

// timedRun waits until the cluster is idle, collects the garbage of what
// came before, and runs g with b's timer and m running only around the
// job.
func (cl *cluster) timedRun(b *testing.B, m *meter, g *weirv1.JobGraph) *weirv1.GetJobResponse {
	b.Helper()
	cl.waitIdle(b)
	runtime.GC() // the previous check's garbage is not this job's
	m.Start()
	b.StartTimer()
	job := cl.run(b, g)
	b.StopTimer()
	m.Stop()
	return job
}

// run submits g and returns the job once it has ended.
func (cl *cluster) run(tb testing.TB, g *weirv1.JobGraph) *weirv1.GetJobResponse {
	tb.Helper()
	resp, err := cl.client.SubmitJob(cl.ctx, &weirv1.SubmitJobRequest{Job: &weirv1.SubmitJobRequest_Graph{Graph: g}})
	if err != nil {
		tb.Fatal(err)
	}
	for {
		job, err := cl.client.GetJob(cl.ctx, &weirv1.GetJobRequest{JobId: resp.GetJobId()})
		if err != nil {
			tb.Fatal(err)
		}
		switch job.GetJob().GetStatus() {
		case weirv1.JobStatus_JOB_STATUS_FINISHED, weirv1.JobStatus_JOB_STATUS_FAILED, weirv1.JobStatus_JOB_STATUS_CANCELED:
			return job
		}
		cl.sleep(tb)
	}
}

// checkJob checks that job finished and that its keyBy exchange crossed
// taskmanagers exactly when the shape says it must.
func (cl *cluster) checkJob(job *weirv1.GetJobResponse, s clusterShape) error {
	if st := job.GetJob().GetStatus(); st != weirv1.JobStatus_JOB_STATUS_FINISHED {
		return fmt.Errorf("job ended %v: %s", st, job.GetJob().GetStatusMessage())
	}
	var remote int64
	for _, t := range job.GetTasks() {
		remote += t.GetMetrics().GetRemoteBytesIn()
	}
	if s.remote != (remote > 0) {
		return fmt.Errorf("%d bytes crossed between taskmanagers; want remote traffic: %v", remote, s.remote)
	}
	return nil
}

// partFiles returns the visible part files of a file sink's directory.
func partFiles(dir string) ([]string, error) {
	parts, err := filepath.Glob(filepath.Join(dir, "part-*"))
	if err == nil && len(parts) == 0 {
		err = fmt.Errorf("no part files in %s", dir)
	}
	return parts, err
}

// checkOutput checks that files hold exactly the WordCount output of in: for
// every word w with final count n, the lines w,1 ... w,n once each, in any
// order across files. It checks per word the number of lines, the largest
// count and the sum of counts, which together pin down that multiset for
// any output a running count can produce.
func checkOutput(files []string, in *corpus) error {
	type seen struct{ lines, max, sum int64 }
	got := make(map[string]*seen, len(in.counts))
	var lines int64
	for _, name := range files {
		f, err := os.Open(name)
		if err != nil {
			return err
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			line := sc.Text()
			i := strings.LastIndexByte(line, ',')
			n, err := strconv.ParseInt(line[i+1:], 10, 64)
			if i < 0 || err != nil {
				f.Close()
				return fmt.Errorf("%s: malformed line %q", name, line)
			}
			w := line[:i]
			s := got[w]
			if s == nil {
				s = &seen{}
				got[w] = s
			}
			s.lines++
			s.max = max(s.max, n)
			s.sum += n
			lines++
		}
		err = sc.Err()
		f.Close()
		if err != nil {
			return err
		}
	}
	if lines != in.words {
		return fmt.Errorf("output has %d lines, want one per input word: %d", lines, in.words)
	}
	if len(got) != len(in.counts) {
		return fmt.Errorf("output has %d distinct words, want %d", len(got), len(in.counts))
	}
	for w, n := range in.counts {
		s := got[w]
		if s == nil || s.lines != n || s.max != n || s.sum != n*(n+1)/2 {
			return fmt.Errorf("word %q: output %+v, want %d lines counting 1..%d", w, s, n, n)
		}
	}
	return nil
}

// TestCeilingMatchesJob runs the ceiling and the wordcount job (p=2 across
// two taskmanagers) on a small input and checks they write the same lines,
// as multisets: the ceiling computes what the job computes.
func TestCeilingMatchesJob(t *testing.T) {
	dir := t.TempDir()
	in, err := writeCorpus(filepath.Join(dir, "input.txt"), testLines)
	if err != nil {
		t.Fatal(err)
	}
	ceilingOut := filepath.Join(dir, "ceiling.txt")
	if _, _, err := countWords(in.path, ceilingOut); err != nil {
		t.Fatal(err)
	}
	if err := checkOutput([]string{ceilingOut}, in); err != nil {
		t.Fatalf("ceiling: %v", err)
	}

	s := twoTMs
	cl := startCluster(t, s)
	jobOut := filepath.Join(dir, "job")
	job := cl.run(t, wordCountGraph(t, in.path, jobOut, s.parallelism))
	if err := cl.checkJob(job, s); err != nil {
		t.Fatal(err)
	}
	parts, err := partFiles(jobOut)
	if err != nil {
		t.Fatal(err)
	}

	want, err := sortedLines(ceilingOut)
	if err != nil {
		t.Fatal(err)
	}
	got, err := sortedLines(parts...)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("job wrote %d lines, the ceiling %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("sorted line %d: job %q, ceiling %q", i, got[i], want[i])
		}
	}
}

// sortedLines returns the lines of files, sorted.
func sortedLines(files ...string) ([]string, error) {
	var lines []string
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			return nil, err
		}
		lines = append(lines, strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")...)
	}
	slices.Sort(lines)
	return lines, nil
}
