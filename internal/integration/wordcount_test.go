package integration

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"unicode"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	weirv1 "github.com/weirstream/weir/api/proto/weir/v1"
)

// writeText writes a deterministic text of at least minWords words with
// mixed case, punctuation, digits and non-ASCII letters, and returns the
// reference word counts, computed independently of Weir's tokenizer.
func writeText(t *testing.T, path string, minWords int) (map[string]int64, int) {
	t.Helper()
	syll := []string{"ka", "lo", "mi", "ne", "ru", "ta", "vo", "zi", "qu", "é", "ß", "ñ", "ø", "日", "本"}
	vocab := make([]string, 3000)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range vocab {
		var b strings.Builder
		for range 1 + r.IntN(3) {
			b.WriteString(syll[r.IntN(len(syll))])
		}
		if i%7 == 0 {
			b.WriteString(strconv.Itoa(i))
		}
		vocab[i] = b.String()
	}
	seps := []string{" ", ", ", "; ", " -- ", ". ", "! ", "'", "\t", " (", ") "}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(f)
	words := 0
	for words < minWords {
		n := 1 + r.IntN(12)
		for j := range n {
			word := vocab[int(r.ExpFloat64()*300)%len(vocab)]
			switch r.IntN(10) {
			case 0:
				word = strings.ToUpper(word)
			case 1:
				word = strings.ToUpper(word[:1]) + word[1:]
			}
			w.WriteString(word)
			if j < n-1 {
				w.WriteString(seps[r.IntN(len(seps))])
			}
		}
		w.WriteString("\n")
		words += n
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return referenceCounts(t, path)
}

// referenceCounts counts words as Flink's WordCount defines them.
func referenceCounts(t *testing.T, path string) (map[string]int64, int) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]int64{}
	total := 0
	for line := range strings.Lines(string(data)) {
		for _, w := range strings.FieldsFunc(strings.ToLower(line), func(r rune) bool {
			return !unicode.IsLetter(r) && !unicode.IsDigit(r)
		}) {
			counts[w]++
			total++
		}
	}
	return counts, total
}

// readOutput reads the visible part files of dir: one `word,count` line per
// input word. It fails on hidden (unfinished) files.
func readOutput(t *testing.T, dir string) []string {
	t.Helper()
	return readParts(t, dir, false)
}

// readVisible reads the published part files of dir, ignoring hidden ones.
func readVisible(t *testing.T, dir string) []string {
	t.Helper()
	return readParts(t, dir, true)
}

func readParts(t *testing.T, dir string, skipHidden bool) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			if skipHidden {
				continue
			}
			t.Fatalf("output %s still holds an unfinished file %s", dir, e.Name())
		}
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		for l := range strings.Lines(string(data)) {
			lines = append(lines, strings.TrimSuffix(l, "\n"))
		}
	}
	return lines
}

// checkCounts verifies WordCount output against the reference: exactly one
// line per input word, and for every word the running counts 1..n.
func checkCounts(t *testing.T, lines []string, want map[string]int64, total int) {
	t.Helper()
	if len(lines) != total {
		t.Fatalf("got %d output lines, want one per input word: %d", len(lines), total)
	}
	seen := map[string]map[int64]bool{}
	for _, l := range lines {
		i := strings.LastIndexByte(l, ',')
		if i < 0 {
			t.Fatalf("malformed output line %q", l)
		}
		n, err := strconv.ParseInt(l[i+1:], 10, 64)
		if err != nil {
			t.Fatalf("malformed output line %q", l)
		}
		w := l[:i]
		if seen[w] == nil {
			seen[w] = map[int64]bool{}
		}
		if seen[w][n] {
			t.Fatalf("%q counted to %d twice", w, n)
		}
		seen[w][n] = true
	}
	if len(seen) != len(want) {
		t.Fatalf("got %d distinct words, want %d", len(seen), len(want))
	}
	for w, n := range want {
		if int64(len(seen[w])) != n || !seen[w][n] {
			t.Fatalf("word %q: got %d counts (max present: %v), want 1..%d", w, len(seen[w]), seen[w][n], n)
		}
	}
}

// WordCount at parallelism 2 on two taskmanager processes with one slot
// each: every word's count is exact, and the key-by exchange crosses
// processes.
func TestWordCountAcrossProcesses(t *testing.T) {
	c := startCluster(t, 2, 1)
	dir := t.TempDir()
	input := filepath.Join(dir, "text.txt")
	want, total := writeText(t, input, 120_000)
	if total < 100_000 {
		t.Fatalf("reference text has %d words", total)
	}
	out := filepath.Join(dir, "out")
	stdout, stderr, err := c.weir("run", "-p", "2", "wordcount", "--input", "file://"+input, "--output", out)
	if err != nil {
		t.Fatalf("weir run: %v\nstdout: %s\nstderr: %s", err, stdout, stderr)
	}
	checkCounts(t, readOutput(t, out), want, total)

	jobs, err := c.client().ListJobs(context.Background(), &weirv1.ListJobsRequest{})
	if err != nil || len(jobs.GetJobs()) != 1 {
		t.Fatalf("ListJobs: %v, %v", jobs, err)
	}
	job := c.job(jobs.GetJobs()[0].GetJobId())
	tms := map[string]bool{}
	var remoteIn, remoteOut int64
	for _, task := range job.GetTasks() {
		tms[task.GetTaskManagerId()] = true
		remoteIn += task.GetMetrics().GetRemoteBytesIn()
		remoteOut += task.GetMetrics().GetRemoteBytesOut()
		if task.GetState() != weirv1.ExecutionState_EXECUTION_STATE_FINISHED {
			t.Errorf("task %s subtask %d is %v", task.GetName(), task.GetExecution().GetSubtaskIndex(), task.GetState())
		}
	}
	if len(tms) != 2 {
		t.Fatalf("subtasks ran on %d taskmanagers, want 2", len(tms))
	}
	if remoteIn == 0 || remoteIn != remoteOut {
		t.Fatalf("bytes across processes: sent %d, received %d; want equal and non-zero", remoteOut, remoteIn)
	}
	t.Logf("%d words, %d distinct; %d bytes crossed between taskmanagers", total, len(want), remoteIn)
}

func hamlet(t *testing.T) string {
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(root, "examples", "wordcount", "data", "hamlet.txt")
}

// Invalid submissions are rejected with an error naming the problem, and
// the cluster keeps serving.
func TestInvalidSubmissions(t *testing.T) {
	c := startCluster(t, 1, 2)
	text := hamlet(t)
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"unknown job", []string{"run", "nosuchjob"}, `unknown job "nosuchjob"`},
		{"missing input flag", []string{"run", "wordcount"}, "--input is required"},
		{"missing input file", []string{"run", "wordcount", "--input", "/no/such/file.txt"}, `path "/no/such/file.txt": no such file or directory`},
		{"parallelism zero", []string{"run", "-p", "0", "wordcount", "--input", text}, "-p 0: want a parallelism of at least 1"},
		{"parallelism above max", []string{"run", "-p", "129", "wordcount", "--input", text}, "parallelism: 129 is outside 1..128"},
		{"unknown job flag", []string{"run", "wordcount", "--input", text, "--colour", "red"}, "-colour"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr, err := c.weir(tc.args...)
			if err == nil {
				t.Fatalf("accepted; stdout: %s", stdout)
			}
			if !strings.Contains(stderr, tc.want) {
				t.Fatalf("error does not name the problem (want %q):\n%s", tc.want, stderr)
			}
		})
	}
	// Clients other than the CLI get the same checks from the jobmanager.
	zero := int32(0)
	_, err := c.client().SubmitJob(context.Background(), &weirv1.SubmitJobRequest{
		Job:         &weirv1.SubmitJobRequest_Program{Program: &weirv1.Program{Name: "wordcount", Args: []string{"--input", text}}},
		Parallelism: &zero,
	})
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "parallelism: 0 must be at least 1") {
		t.Fatalf("SubmitJob with parallelism 0: %v", err)
	}
	_, err = c.client().SubmitJob(context.Background(), &weirv1.SubmitJobRequest{
		Job:    &weirv1.SubmitJobRequest_Program{Program: &weirv1.Program{Name: "wordcount", Args: []string{"--input", text}}},
		Config: map[string]string{"execution.checkpointing.intervall": "1s"},
	})
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "execution.checkpointing.intervall") {
		t.Fatalf("SubmitJob with an unknown configuration key: %v", err)
	}

	out := filepath.Join(t.TempDir(), "out")
	if stdout, stderr, err := c.weir("run", "-p", "2", "wordcount", "--input", text, "--output", out); err != nil {
		t.Fatalf("a valid job after the rejected ones: %v\n%s\n%s", err, stdout, stderr)
	}
	want, total := referenceCounts(t, text)
	checkCounts(t, readOutput(t, out), want, total)
}

// jobID returns the job ID that `weir run -d` prints as the last word.
func jobID(t *testing.T, stdout string) string {
	t.Helper()
	f := strings.Fields(stdout)
	if len(f) == 0 {
		t.Fatalf("no job ID in %q", stdout)
	}
	return f[len(f)-1]
}

func jobStatus(c *cluster, id string) (weirv1.JobStatus, string) {
	j := c.job(id).GetJob()
	return j.GetStatus(), j.GetStatusMessage()
}

func statusIs(c *cluster, id string, want weirv1.JobStatus) func() (bool, string) {
	return func() (bool, string) {
		st, msg := jobStatus(c, id)
		return st == want, fmt.Sprintf("job is %v: %s", st, msg)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
