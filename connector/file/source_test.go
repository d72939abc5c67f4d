package file

import (
	"errors"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/weirstream/weir/internal/clock"
	"github.com/weirstream/weir/stream"
)

type collector []string

func (c *collector) Collect(v string) { *c = append(*c, v) }

func taskInfo(subtask, parallelism int) stream.TaskInfo {
	return stream.TaskInfo{SubtaskIndex: subtask, Parallelism: parallelism, MaxParallelism: 128,
		Clock: clock.Real{}, Logger: slog.Default()}
}

// readAll runs every subtask of src with parallelism p to the end and
// returns their records.
func readAll(t *testing.T, src Source, p int) [][]string {
	t.Helper()
	out := make([][]string, p)
	for i := range p {
		r, err := src.CreateReader(&stream.SourceContext{TaskInfo: taskInfo(i, p)})
		if err != nil {
			t.Fatal(err)
		}
		var c collector
		for {
			before := len(c)
			st, err := r.PollNext(&c)
			if err != nil {
				t.Fatal(err)
			}
			if len(c)-before > maxBatch {
				t.Fatalf("one PollNext emitted %d lines", len(c)-before)
			}
			if st == stream.PollEnd {
				break
			}
			if st != stream.PollMore {
				t.Fatalf("PollNext = %v; a file reader is never idle", st)
			}
		}
		if err := r.Close(); err != nil {
			t.Fatal(err)
		}
		out[i] = c
	}
	return out
}

// lines is the reference line splitter.
func lines(data string) []string {
	var out []string
	for data != "" {
		i := strings.IndexByte(data, '\n')
		if i < 0 {
			return append(out, data)
		}
		out = append(out, strings.TrimSuffix(data[:i], "\r"))
		data = data[i+1:]
	}
	return out
}

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

// checkSplits reads src with parallelism 1 to maxP and checks that the
// subtasks' lines, in subtask order, are want.
func checkSplits(t *testing.T, src Source, maxP int, want []string) {
	t.Helper()
	for p := 1; p <= maxP; p++ {
		got := slices.Concat(readAll(t, src, p)...)
		if !slices.Equal(got, want) {
			t.Fatalf("p=%d: read %d lines, want %d (or they differ)\n got %.60q\nwant %.60q", p, len(got), len(want), got, want)
		}
	}
}

func TestSplitsReadEveryLineOnce(t *testing.T) {
	long := strings.Repeat("L", 3*readBufferSize+17)
	for name, data := range map[string]string{
		"simple":           "one\ntwo\nthree\n",
		"no final newline": "one\ntwo\nthree",
		"empty lines":      "\n\n\na\n\n\nb\n\n",
		"only newlines":    "\n\n\n\n\n\n\n",
		"crlf":             "one\r\ntwo\r\n\r\nthree\r\nlone\rcr\r\nlast\r",
		"long lines":       long + "\nshort\n" + long + "x\r\n\n" + long,
		"one long line":    long,
		"tiny":             "a",
		"empty":            "",
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "in.txt")
			writeFile(t, path, data)
			checkSplits(t, Source{Path: path}, 7, lines(data))
		})
	}
}

func TestSplitsRandomFiles(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for iter := range 20 {
		var b strings.Builder
		for range rng.IntN(200) {
			switch n := rng.IntN(20); {
			case n == 0:
				b.WriteString(strings.Repeat("z", readBufferSize+rng.IntN(2*readBufferSize)))
			default:
				b.WriteString(strings.Repeat(string(rune('a'+n)), rng.IntN(n*5)))
			}
			if rng.IntN(4) == 0 {
				b.WriteString("\r\n")
			} else {
				b.WriteString("\n")
			}
		}
		if rng.IntN(2) == 0 {
			b.WriteString("tail")
		}
		path := filepath.Join(t.TempDir(), "in.txt")
		writeFile(t, path, b.String())
		t.Logf("iteration %d: %d bytes", iter, b.Len())
		checkSplits(t, Source{Path: path}, 5, lines(b.String()))
	}
}

func TestDirectory(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "b.txt"), "b1\nb2\r\n\nb3")
	writeFile(t, filepath.Join(dir, "a.txt"), "a1\na2\n")
	writeFile(t, filepath.Join(dir, "c-empty.txt"), "")
	writeFile(t, filepath.Join(dir, "d.txt"), strings.Repeat("d", 100_000)+"\nd2\n")
	writeFile(t, filepath.Join(dir, ".part-0-0.inprogress"), "hidden\n")
	writeFile(t, filepath.Join(dir, "_SUCCESS"), "marker\n")
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "sub", "nested.txt"), "nested\n")
	if err := os.Symlink(filepath.Join(dir, "a.txt"), filepath.Join(dir, "e-link.txt")); err != nil {
		t.Fatal(err)
	}

	want := []string{"a1", "a2", "b1", "b2", "", "b3", strings.Repeat("d", 100_000), "d2", "a1", "a2"}
	checkSplits(t, Source{Path: dir}, 5, want)
	checkSplits(t, Source{Path: "file://" + dir}, 2, want)
}

func TestEmptyDirectory(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, ".hidden"), "x\n")
	src := Source{Path: dir}
	if err := src.Validate(); err != nil {
		t.Fatal(err)
	}
	checkSplits(t, src, 3, nil)
}

func TestFileURI(t *testing.T) {
	path := filepath.Join(t.TempDir(), "with space.txt")
	writeFile(t, path, "x\ny\n")
	for _, uri := range []string{"file://" + path, "file://localhost" + path, "file://" + strings.ReplaceAll(path, " ", "%20")} {
		checkSplits(t, Source{Path: uri}, 2, []string{"x", "y"})
	}
}

func TestSourceValidate(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "missing")
	err := Source{Path: missing}.Validate()
	if want := `file source: path "` + missing + `": no such file or directory`; err == nil || err.Error() != want {
		t.Errorf("Validate = %v, want %q", err, want)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Validate = %v, want an error that is fs.ErrNotExist", err)
	}
	if _, err := (Source{Path: missing}).CreateReader(&stream.SourceContext{TaskInfo: taskInfo(0, 1)}); err == nil {
		t.Error("CreateReader of a missing path succeeded")
	}

	for _, tc := range []struct {
		path string
		rate float64
		want string
	}{
		{"", 0, `file source: path "": must not be empty`},
		{"s3://bucket/key", 0, `file source: path "s3://bucket/key": unsupported scheme s3://; want a local path or file:// URI`},
		{"file://otherhost/x", 0, `file source: path "file://otherhost/x": file:// URI names host otherhost; want file:///path`},
		{"/dev/null", 0, `file source: path "/dev/null": not a regular file or directory`},
		{"/dev/null", -1, `file source: rate -1 must be >= 0`},
	} {
		if err := (Source{Path: tc.path, Rate: tc.rate}).Validate(); err == nil || err.Error() != tc.want {
			t.Errorf("Validate(%q) = %v, want %q", tc.path, err, tc.want)
		}
	}

	if os.Geteuid() != 0 { // root reads everything
		path := filepath.Join(t.TempDir(), "secret")
		writeFile(t, path, "x\n")
		if err := os.Chmod(path, 0); err != nil {
			t.Fatal(err)
		}
		err := Source{Path: path}.Validate()
		if want := `file source: path "` + path + `": permission denied`; err == nil || err.Error() != want {
			t.Errorf("Validate of an unreadable file = %v, want %q", err, want)
		}
	}
}

func TestBoundary(t *testing.T) {
	const total = 1<<62 + 12345
	for p := 1; p <= 9; p++ {
		if b := boundary(total, 0, p); b != 0 {
			t.Fatalf("boundary(total, 0, %d) = %d", p, b)
		}
		if b := boundary(total, p, p); b != total {
			t.Fatalf("boundary(total, %d, %d) = %d, want %d", p, p, b, int64(total))
		}
		for i := range p {
			if boundary(total, i, p) > boundary(total, i+1, p) {
				t.Fatalf("boundaries of p=%d are not monotonic", p)
			}
		}
	}
}

func TestRegistered(t *testing.T) {
	names := stream.RegisteredFunctions()
	for _, n := range []string{"weir.file.source", "weir.file.sink"} {
		if !slices.Contains(names, n) {
			t.Errorf("%q is not registered", n)
		}
	}
}

func TestRate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "in.txt")
	writeFile(t, path, "a\nb\nc\nd\ne\nf\n")
	clk := clock.NewManual(time.Unix(1_000_000, 0))
	// 4 lines a second in total: each of 2 subtasks reads one line every
	// 500ms. Subtask 1 reads d, e, f.
	info := taskInfo(1, 2)
	info.Clock = clk
	r, err := Source{Path: path, Rate: 4}.CreateReader(&stream.SourceContext{TaskInfo: info})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	poll := func(want stream.PollStatus, wantLines ...string) {
		t.Helper()
		var out collector
		st, err := r.PollNext(&out)
		if err != nil {
			t.Fatal(err)
		}
		if st != want || !slices.Equal(out, wantLines) {
			t.Fatalf("PollNext = %v %q, want %v %q", st, out, want, wantLines)
		}
	}
	wait := func() {
		t.Helper()
		select {
		case <-r.Available():
		case <-time.After(10 * time.Second): // only against hangs
			t.Fatal("Available did not fire")
		}
	}
	poll(stream.PollIdle, "d")
	clk.Advance(499 * time.Millisecond)
	select {
	case <-r.Available():
		t.Fatal("Available fired before the next line was due")
	default:
	}
	clk.Advance(time.Millisecond)
	wait()
	poll(stream.PollIdle, "e")
	clk.Advance(time.Second)
	wait()
	poll(stream.PollEnd, "f")
}
