package file_test

import (
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/weirstream/weir/connector/file"
	"github.com/weirstream/weir/connector/generator"
	"github.com/weirstream/weir/internal/clock"
	"github.com/weirstream/weir/internal/plan"
	"github.com/weirstream/weir/stream"
)

// runJob runs every subtask of g's single vertex to the end, the way a task
// drives its chain.
func runJob(t *testing.T, env *stream.Env) {
	t.Helper()
	g, err := env.Graph()
	if err != nil {
		t.Fatal(err)
	}
	p, err := plan.Build(g)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Vertices) != 1 {
		t.Fatalf("plan has %d vertices, want one chain", len(p.Vertices))
	}
	v := p.Vertices[0]
	for i := range v.Parallelism {
		c, err := stream.BuildChain(g, v, stream.ChainOptions{Info: stream.TaskInfo{
			JobID: "job", TaskName: v.Name, SubtaskIndex: i, Parallelism: v.Parallelism,
			MaxParallelism: int(g.GetMaxParallelism()), Clock: clock.Real{}, Logger: slog.Default(),
		}})
		if err != nil {
			t.Fatal(err)
		}
		for {
			st, err := c.Poll()
			if err != nil {
				t.Fatal(err)
			}
			if st == stream.PollEnd {
				break
			}
			if st == stream.PollIdle {
				<-c.Available()
			}
		}
		if err := c.Finish(); err != nil {
			t.Fatal(err)
		}
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestGeneratorToFiles runs a generator-to-file-sink job through the
// registry and the chain builder, then a file-to-file copy job, and checks
// the files hold the generator's records.
func TestGeneratorToFiles(t *testing.T) {
	const count = 5000
	gen := generator.Source{Count: count, Seed: 9, Words: 100}
	first, second := t.TempDir(), t.TempDir()

	env := stream.NewEnv()
	env.SetParallelism(3)
	stream.FromSource[string](env, gen, "generate").SinkTo(file.Sink{Path: first, MaxPartBytes: 4096}, "write")
	runJob(t, env)

	env = stream.NewEnv()
	env.SetParallelism(2)
	stream.FromSource[string](env, file.Source{Path: "file://" + first}, "read").SinkTo(file.Sink{Path: second}, "copy")
	runJob(t, env)

	want := make([]string, count)
	for k := range want {
		want[k] = generator.Line(gen.Seed, gen.Words, int64(k))
	}
	slices.Sort(want)
	r, err := file.Source{Path: second}.CreateReader(&stream.SourceContext{TaskInfo: stream.TaskInfo{Parallelism: 1}})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var got collector
	for {
		st, err := r.PollNext(&got)
		if err != nil {
			t.Fatal(err)
		}
		if st == stream.PollEnd {
			break
		}
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Fatalf("the copy holds %d records, want the generator's %d", len(got), count)
	}
}

type collector []string

func (c *collector) Collect(v string) { *c = append(*c, v) }

// TestBadParametersRejectedAtSubmission checks that Validate runs when the
// job graph is validated, and that its message names the parameter.
func TestBadParametersRejectedAtSubmission(t *testing.T) {
	env := stream.NewEnv()
	stream.FromSource[string](env, file.Source{Path: "/no/such/input"}, "read").
		SinkTo(file.Sink{Path: t.TempDir(), MaxPartBytes: -1}, "write")
	_, err := env.Graph()
	if err == nil || !strings.Contains(err.Error(), `file source: path "/no/such/input": no such file or directory`) {
		t.Fatalf("Graph() = %v, want the missing path named", err)
	}
}

// TestGeneratorToFilesExactlyOnce runs a generator-to-file-sink job in
// exactly-once mode through the registry and the chain builder, the way a
// task does with checkpoints: barriers 1 and 2, checkpoint 1 completes, the
// attempt fails, and the next resumes from checkpoint 2 (whose
// notification was lost) and finishes after a final checkpoint. The
// directory holds every generated record once.
func TestGeneratorToFilesExactlyOnce(t *testing.T) {
	const count = 10000
	gen := generator.Source{Count: count, Seed: 4, Words: 50}
	dir := t.TempDir()
	env := stream.NewEnv()
	stream.FromSource[string](env, gen, "generate").
		SinkTo(file.Sink{Path: dir, MaxPartBytes: 8192, Mode: file.ModeExactlyOnce}, "write")
	g, err := env.Graph()
	if err != nil {
		t.Fatal(err)
	}
	p, err := plan.Build(g)
	if err != nil {
		t.Fatal(err)
	}
	v := p.Vertices[0]
	build := func(restore map[string]stream.OperatorSnapshot) *stream.Chain {
		c, err := stream.BuildChain(g, v, stream.ChainOptions{Restore: restore, Info: stream.TaskInfo{
			JobID: "job", TaskName: v.Name, Parallelism: 1, MaxParallelism: int(g.GetMaxParallelism()),
			Clock: clock.Real{}, Logger: slog.Default(),
		}})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	poll := func(c *stream.Chain) stream.PollStatus {
		st, err := c.Poll()
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	snapshot := func(c *stream.Chain, id int64) map[string]stream.OperatorSnapshot {
		snap, err := c.Snapshot(id)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]stream.OperatorSnapshot{}
		for _, s := range snap {
			out[s.UID] = s
		}
		return out
	}
	readBack := func() []string {
		r, err := file.Source{Path: dir}.CreateReader(&stream.SourceContext{TaskInfo: stream.TaskInfo{Parallelism: 1}})
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		var got collector
		for {
			if st, err := r.PollNext(&got); err != nil {
				t.Fatal(err)
			} else if st == stream.PollEnd {
				break
			}
		}
		slices.Sort(got)
		return got
	}
	want := func(n int) []string {
		out := make([]string, n)
		for k := range out {
			out[k] = generator.Line(gen.Seed, gen.Words, int64(k))
		}
		slices.Sort(out)
		return out
	}

	c := build(nil)
	poll(c)
	snapshot(c, 1)
	poll(c)
	snap2 := snapshot(c, 2)
	if err := c.NotifyCheckpointComplete(1); err != nil {
		t.Fatal(err)
	}
	poll(c)
	if got := readBack(); !slices.Equal(got, want(len(got))) || len(got) == 0 || len(got) >= count {
		t.Fatalf("after checkpoint 1: %d records visible, want the first batch", len(got))
	}
	if err := c.Close(); err != nil { // the attempt fails
		t.Fatal(err)
	}

	c = build(snap2)
	for poll(c) != stream.PollEnd {
	}
	snapshot(c, 3)
	if err := c.NotifyCheckpointComplete(3); err != nil {
		t.Fatal(err)
	}
	if err := c.Finish(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if got := readBack(); !slices.Equal(got, want(count)) {
		t.Fatalf("the output holds %d records, want the generator's %d once each", len(got), count)
	}
}
