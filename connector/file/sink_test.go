package file

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/weirstream/weir/stream"
)

func newWriter(t *testing.T, s Sink, subtask, parallelism int) stream.SinkWriter[string] {
	t.Helper()
	w, err := s.CreateWriter(&stream.SinkContext{TaskInfo: taskInfo(subtask, parallelism)})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func write(t *testing.T, w stream.SinkWriter[string], records ...string) {
	t.Helper()
	for _, r := range records {
		if err := w.Write(r); err != nil {
			t.Fatal(err)
		}
	}
}

// listDir returns the names in dir, split into visible and hidden ones.
func listDir(t *testing.T, dir string) (visible, hidden []string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			hidden = append(hidden, e.Name())
		} else {
			visible = append(visible, e.Name())
		}
	}
	return visible, hidden
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestSinkHiddenUntilFinished(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "out", "nested") // created by the sink
	w := newWriter(t, Sink{Path: dir}, 3, 4)
	write(t, w, "hello", "", "world")

	visible, hidden := listDir(t, dir)
	if len(visible) != 0 || !slices.Equal(hidden, []string{".part-3-0.inprogress"}) {
		t.Fatalf("before Finish: visible %q, hidden %q", visible, hidden)
	}
	if got := readAll(t, Source{Path: dir}, 1); len(got[0]) != 0 {
		t.Fatalf("a file source read %q before the sink finished", got[0])
	}

	if err := w.Finish(); err != nil {
		t.Fatal(err)
	}
	visible, hidden = listDir(t, dir)
	if !slices.Equal(visible, []string{"part-3-0"}) || len(hidden) != 0 {
		t.Fatalf("after Finish: visible %q, hidden %q", visible, hidden)
	}
	if got := readFile(t, filepath.Join(dir, "part-3-0")); got != "hello\n\nworld\n" {
		t.Fatalf("part-3-0 = %q", got)
	}
	if err := w.Write("late"); err == nil {
		t.Error("Write after Finish succeeded")
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if visible, _ := listDir(t, dir); !slices.Equal(visible, []string{"part-3-0"}) {
		t.Fatalf("after Close: visible %q", visible)
	}
}

func TestSinkRolls(t *testing.T) {
	dir := t.TempDir()
	w := newWriter(t, Sink{Path: dir, MaxPartBytes: 10}, 0, 1)
	write(t, w, "aaaa", "bbbb", "cccc", "dd", "e", strings.Repeat("x", 15), "f")

	visible, hidden := listDir(t, dir)
	if want := []string{".part-0-0.inprogress", ".part-0-1.inprogress", ".part-0-2.inprogress", ".part-0-3.inprogress"}; len(visible) != 0 || !slices.Equal(hidden, want) {
		t.Fatalf("before Finish: visible %q, hidden %q", visible, hidden)
	}
	if err := w.Finish(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"part-0-0": "aaaa\nbbbb\n",                 // exactly 10 bytes
		"part-0-1": "cccc\ndd\ne\n",                // "cccc" would have made part 0 15 bytes
		"part-0-2": strings.Repeat("x", 15) + "\n", // a long record gets a part of its own
		"part-0-3": "f\n",
	}
	visible, hidden = listDir(t, dir)
	if len(visible) != len(want) || len(hidden) != 0 {
		t.Fatalf("after Finish: visible %q, hidden %q", visible, hidden)
	}
	for name, data := range want {
		if got := readFile(t, filepath.Join(dir, name)); got != data {
			t.Errorf("%s = %q, want %q", name, got, data)
		}
	}
}

func TestSinkCloseWithoutFinishLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	w := newWriter(t, Sink{Path: dir, MaxPartBytes: 8}, 1, 2)
	write(t, w, "one", "two", "three", "four")
	if _, hidden := listDir(t, dir); len(hidden) != 3 {
		t.Fatalf("hidden files %q, want 3 part files", hidden)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if visible, hidden := listDir(t, dir); len(visible)+len(hidden) != 0 {
		t.Fatalf("after Close without Finish: visible %q, hidden %q", visible, hidden)
	}
}

func TestSinkWithoutRecordsWritesNothing(t *testing.T) {
	dir := t.TempDir()
	w := newWriter(t, Sink{Path: dir}, 0, 1)
	if err := w.Finish(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if visible, hidden := listDir(t, dir); len(visible)+len(hidden) != 0 {
		t.Fatalf("visible %q, hidden %q", visible, hidden)
	}
}

// TestSinkThenSource writes with parallelism 3, one subtask failing, and
// reads the directory back with other parallelisms.
func TestSinkThenSource(t *testing.T) {
	dir := t.TempDir()
	var want []string
	for i := range 3 {
		w := newWriter(t, Sink{Path: "file://" + dir, MaxPartBytes: 1000}, i, 3)
		var records []string
		for n := range 500 {
			records = append(records, strings.Repeat(string(rune('a'+i)), n%40))
		}
		write(t, w, records...)
		if i == 2 { // fails: its output must not be read
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want = append(want, records...)
		if err := w.Finish(); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
	slices.Sort(want)
	for p := 1; p <= 4; p++ {
		got := slices.Concat(readAll(t, Source{Path: dir}, p)...)
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Fatalf("p=%d: read %d records, want %d", p, len(got), len(want))
		}
	}
}

func TestSinkValidate(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	writeFile(t, file, "")
	for _, tc := range []struct {
		sink Sink
		want string
	}{
		{Sink{}, `file sink: path "": must not be empty`},
		{Sink{Path: file}, `file sink: path "` + file + `": not a directory`},
		{Sink{Path: t.TempDir(), MaxPartBytes: -1}, `file sink: max_part_bytes -1 must be >= 0`},
		{Sink{Path: t.TempDir(), Mode: "exactly_once"}, `file sink: mode "exactly_once": want "none" or "exactly-once"`},
		{Sink{Path: "hdfs://nn/x"}, `file sink: path "hdfs://nn/x": unsupported scheme hdfs://; want a local path or file:// URI`},
	} {
		if err := tc.sink.Validate(); err == nil || err.Error() != tc.want {
			t.Errorf("%+v.Validate() = %v, want %q", tc.sink, err, tc.want)
		}
	}
	if err := (Sink{Path: filepath.Join(t.TempDir(), "new")}).Validate(); err != nil {
		t.Errorf("Validate of a missing directory: %v", err)
	}
	for _, mode := range []string{"", ModeNone, ModeExactlyOnce} {
		if err := (Sink{Path: t.TempDir(), Mode: mode}).Validate(); err != nil {
			t.Errorf("Validate of mode %q: %v", mode, err)
		}
	}
}
