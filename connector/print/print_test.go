package print

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"github.com/weirstream/weir/stream"
)

func TestLinePrefix(t *testing.T) {
	for _, tc := range []struct {
		prefix            string
		subtask, parallel int
		want              string
	}{
		{"", 0, 1, ""},
		{"", 0, 3, "1> "},
		{"", 2, 3, "3> "},
		{"counts", 0, 1, "counts> "},
		{"counts", 1, 4, "counts:2> "},
	} {
		if got := linePrefix(tc.prefix, tc.subtask, tc.parallel); got != tc.want {
			t.Errorf("linePrefix(%q, %d, %d) = %q, want %q", tc.prefix, tc.subtask, tc.parallel, got, tc.want)
		}
	}
}

func TestWriterBuffersUntilFinish(t *testing.T) {
	var out bytes.Buffer
	w := newWriter(&out, "2> ")
	for _, r := range []string{"hello", "", "world"} {
		if err := w.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	if out.Len() != 0 {
		t.Fatalf("wrote %q before the buffer filled or Finish", out.String())
	}
	if err := w.Finish(); err != nil {
		t.Fatal(err)
	}
	if got, want := out.String(), "2> hello\n2> \n2> world\n"; got != want {
		t.Fatalf("output %q, want %q", got, want)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if out.Len() != len("2> hello\n2> \n2> world\n") {
		t.Fatalf("Close after Finish wrote more: %q", out.String())
	}
}

// countingWriter records the size of every Write.
type countingWriter struct {
	bytes.Buffer
	writes []string
}

func (c *countingWriter) Write(p []byte) (int, error) {
	c.writes = append(c.writes, string(p))
	return c.Buffer.Write(p)
}

func TestWriterWritesWholeLinesWhenFull(t *testing.T) {
	var out countingWriter
	w := newWriter(&out, "p> ")
	var want strings.Builder
	for i := range 20_000 {
		r := strings.Repeat("r", i%97)
		if i == 10_000 {
			r = strings.Repeat("L", 3*bufferSize) // longer than the buffer
		}
		if err := w.Write(r); err != nil {
			t.Fatal(err)
		}
		want.WriteString("p> " + r + "\n")
	}
	if len(out.writes) == 0 {
		t.Fatal("nothing written before Finish although the buffer filled")
	}
	if err := w.Close(); err != nil { // Close without Finish flushes too
		t.Fatal(err)
	}
	if out.String() != want.String() {
		t.Fatal("output differs from the records")
	}
	for i, wr := range out.writes {
		if !strings.HasSuffix(wr, "\n") {
			t.Fatalf("write %d does not end a line", i)
		}
		if len(wr) > bufferSize && strings.Count(wr, "\n") > 1 {
			t.Fatalf("write %d has %d bytes, more than the buffer", i, len(wr))
		}
	}
}

func TestCreateWriter(t *testing.T) {
	w, err := Sink{Target: "stderr"}.CreateWriter(&stream.SinkContext{TaskInfo: stream.TaskInfo{SubtaskIndex: 1, Parallelism: 2}})
	if err != nil {
		t.Fatal(err)
	}
	if pw := w.(*writer); pw.prefix != "2> " {
		t.Errorf("prefix %q, want %q", pw.prefix, "2> ")
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestValidate(t *testing.T) {
	err := Sink{Target: "file"}.Validate()
	if want := `print sink: target "file" must be "stdout" or "stderr"`; err == nil || err.Error() != want {
		t.Errorf("Validate = %v, want %q", err, want)
	}
	for _, target := range []string{"", "stdout", "stderr"} {
		if err := (Sink{Target: target}).Validate(); err != nil {
			t.Errorf("Validate(%q) = %v", target, err)
		}
	}
}

func TestRegistered(t *testing.T) {
	if !slices.Contains(stream.RegisteredFunctions(), "weir.print") {
		t.Fatal(`"weir.print" is not registered`)
	}
}
