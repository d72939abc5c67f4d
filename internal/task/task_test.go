package task_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	weirv1 "github.com/weirstream/weir/api/proto/weir/v1"
	"github.com/weirstream/weir/internal/clock"
	"github.com/weirstream/weir/internal/keygroup"
	"github.com/weirstream/weir/internal/network"
	"github.com/weirstream/weir/internal/plan"
	"github.com/weirstream/weir/internal/task"
	"github.com/weirstream/weir/stream"
)

// The test's functions, registered under test-only names. Subtasks decode
// their own copies of the parameters, so they meet the test through a
// shared run looked up by name.

const (
	sourceName = "task_test.ints"
	keyName    = "task_test.identity"
	sinkName   = "task_test.collect"
)

func init() {
	stream.RegisterSource[int64](sourceName, intSource{})
	stream.RegisterKeySelector[int64, int64](keyName, identity{})
	stream.RegisterSink[int64](sinkName, collectSink{})
}

// run is what one test's subtasks share with it.
type run struct {
	sources int
	started chan struct{} // closed once every source subtask has its reader

	mu struct {
		sync.Mutex
		readers  int
		seen     map[int][]int64 // sink subtask -> records written
		finished map[int]bool    // sink subtask -> Finish called
		closed   map[int]bool    // sink subtask -> Close called
	}
}

var runs sync.Map // test name -> *run

func newRun(t *testing.T, sources int) *run {
	r := &run{sources: sources, started: make(chan struct{})}
	r.mu.seen, r.mu.finished, r.mu.closed = map[int][]int64{}, map[int]bool{}, map[int]bool{}
	if _, dup := runs.LoadOrStore(t.Name(), r); dup {
		t.Fatalf("run %s exists", t.Name())
	}
	t.Cleanup(func() { runs.Delete(t.Name()) })
	return r
}

func lookupRun(name string) (*run, error) {
	r, ok := runs.Load(name)
	if !ok {
		return nil, fmt.Errorf("no run %q", name)
	}
	return r.(*run), nil
}

// Source modes.
const (
	bounded = "bounded" // Count records per subtask, then the end
	endless = "endless" // records until the task stops
	idle    = "idle"    // nothing, ever: the task waits on Available
)

// intSource emits int64 records, unique across subtasks: subtask s emits
// s*1e9, s*1e9+1, .... It emits nothing until every source subtask has
// created its reader, which happens only after each has opened its outputs:
// no record is sent while a producer is still connecting.
type intSource struct {
	Run   string
	Mode  string
	Count int
}

func (s intSource) CreateReader(ctx *stream.SourceContext) (stream.SourceReader[int64], error) {
	r, err := lookupRun(s.Run)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	if r.mu.readers++; r.mu.readers == r.sources {
		close(r.started)
	}
	r.mu.Unlock()
	return &intReader{src: s, run: r, base: int64(ctx.SubtaskIndex) * 1e9, never: make(chan struct{})}, nil
}

type intReader struct {
	src   intSource
	run   *run
	base  int64
	next  int
	never chan struct{}
	wait  <-chan struct{} // what the last PollIdle waits for
}

func (r *intReader) PollNext(out stream.Collector[int64]) (stream.PollStatus, error) {
	select {
	case <-r.run.started:
	default:
		r.wait = r.run.started
		return stream.PollIdle, nil
	}
	switch r.src.Mode {
	case idle:
		r.wait = r.never // only cancellation ends the task
		return stream.PollIdle, nil
	case endless:
		for range 100 {
			out.Collect(r.base + int64(r.next))
			r.next++
		}
		return stream.PollMore, nil
	}
	for range 100 {
		if r.next == r.src.Count {
			return stream.PollEnd, nil
		}
		out.Collect(r.base + int64(r.next))
		r.next++
	}
	return stream.PollMore, nil
}

func (r *intReader) Available() <-chan struct{} { return r.wait }

func (r *intReader) Close() error { return nil }

type identity struct{}

func (identity) Key(v int64) int64 { return v }

// collectSink records what each subtask writes. A subtask equal to
// FailSubtask fails its first Write with errWrite.
type collectSink struct {
	Run         string
	FailSubtask int
}

var errWrite = errors.New("task_test: the sink cannot write")

func (s collectSink) CreateWriter(ctx *stream.SinkContext) (stream.SinkWriter[int64], error) {
	r, err := lookupRun(s.Run)
	if err != nil {
		return nil, err
	}
	return &collectWriter{run: r, subtask: ctx.SubtaskIndex, fail: s.FailSubtask == ctx.SubtaskIndex}, nil
}

type collectWriter struct {
	run     *run
	subtask int
	fail    bool
}

func (w *collectWriter) Write(v int64) error {
	if w.fail {
		return errWrite
	}
	w.run.mu.Lock()
	w.run.mu.seen[w.subtask] = append(w.run.mu.seen[w.subtask], v)
	w.run.mu.Unlock()
	return nil
}

func (w *collectWriter) Finish() error {
	w.run.mu.Lock()
	w.run.mu.finished[w.subtask] = true
	w.run.mu.Unlock()
	return nil
}

func (w *collectWriter) Close() error {
	w.run.mu.Lock()
	w.run.mu.closed[w.subtask] = true
	w.run.mu.Unlock()
	return nil
}

func params(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// twoVertexGraph is source (p=2) -> key group -> sink (p=2).
func twoVertexGraph(t *testing.T, src intSource, sink collectSink) *weirv1.JobGraph {
	g := &weirv1.JobGraph{Name: "task-test", MaxParallelism: keygroup.DefaultMaxParallelism, Operators: []*weirv1.Operator{
		{Id: 0, Uid: "ints", Name: "ints", Kind: weirv1.OperatorKind_OPERATOR_KIND_SOURCE, Parallelism: 2,
			Function: &weirv1.Function{Name: sourceName, Params: params(t, src)}},
		{Id: 1, Uid: "collect", Name: "collect", Kind: weirv1.OperatorKind_OPERATOR_KIND_SINK, Parallelism: 2,
			Inputs: []*weirv1.Input{{OperatorId: 0, Partitioning: weirv1.Partitioning_PARTITIONING_KEY_GROUP,
				Key: &weirv1.Function{Name: keyName}}},
			Function: &weirv1.Function{Name: sinkName, Params: params(t, sink)}},
	}}
	if err := stream.ValidateGraph(g); err != nil {
		t.Fatalf("the test graph is invalid: %v", err)
	}
	return g
}

type subtask struct {
	vertex  *plan.Vertex
	index   int
	task    *task.Task
	err     error
	stopped bool
}

func (s *subtask) String() string { return fmt.Sprintf("%s[%d]", s.vertex.Name, s.index) }

// job runs subtasks of a plan in this process, on one taskmanager.
type job struct {
	graph     *weirv1.JobGraph
	plan      *plan.Plan
	endpoints *network.Endpoints
	done      chan *subtask
	running   []*subtask
}

func newJob(t *testing.T, g *weirv1.JobGraph) *job {
	p, err := plan.Build(g)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Vertices) != 2 {
		t.Fatalf("plan has %d vertices, want source and sink", len(p.Vertices))
	}
	return &job{graph: g, plan: p, endpoints: network.NewEndpoints(), done: make(chan *subtask)}
}

// start runs every subtask of vertex v in its own goroutine.
func (j *job) start(ctx context.Context, v *plan.Vertex) {
	for i := range v.Parallelism {
		s := &subtask{vertex: v, index: i}
		s.task = task.New(task.Config{
			JobID: "00000000000000000000000000000001", Attempt: 1, Graph: j.graph, Plan: j.plan, Vertex: v, Subtask: i,
			Locate: func(int32, int) (task.Location, error) {
				return task.Location{TaskManagerID: "tm-0", Address: "127.0.0.1:1"}, nil
			},
			TaskManagerID: "tm-0",
			Endpoints:     j.endpoints,
			Dialer:        network.NewDialer(), // unused: every channel is local
			Clock:         clock.Real{},
			Logger:        slog.New(slog.DiscardHandler),
			BufferTimeout: time.Millisecond,
		})
		j.running = append(j.running, s)
		go func() {
			s.err = s.task.Run(ctx)
			j.done <- s
		}()
	}
}

func (j *job) startAll(ctx context.Context) {
	for _, v := range j.plan.Vertices {
		j.start(ctx, v)
	}
}

// wait waits for every started subtask to return.
func (j *job) wait(t *testing.T) {
	t.Helper()
	watchdog := time.After(60 * time.Second)
	for range len(j.running) {
		select {
		case s := <-j.done:
			s.stopped = true
		case <-watchdog:
			var hung []string
			for _, s := range j.running {
				if !s.stopped {
					hung = append(hung, s.String())
				}
			}
			t.Fatalf("subtasks %v did not return", hung)
		}
	}
}

func (j *job) subtasks(vertex int32) []*subtask {
	var out []*subtask
	for _, s := range j.running {
		if s.vertex.ID == vertex {
			out = append(out, s)
		}
	}
	return out
}

// owner is the sink subtask that must receive v: DESIGN invariant 1.
func owner(v int64, parallelism, maxP int) int {
	key := stream.CodecFor[int64]().Append(nil, v)
	return keygroup.Subtask(keygroup.Of(keygroup.Hash(key), maxP), parallelism, maxP)
}

func TestRunSourceToKeyedSink(t *testing.T) {
	const count = 25_000 // several full buffers per channel
	r := newRun(t, 2)
	g := twoVertexGraph(t, intSource{Run: t.Name(), Mode: bounded, Count: count}, collectSink{Run: t.Name(), FailSubtask: -1})
	j := newJob(t, g)
	j.startAll(t.Context())
	j.wait(t)
	for _, s := range j.running {
		if s.err != nil {
			t.Errorf("%s: %v", s, s.err)
		}
	}

	want := map[int][]int64{}
	for src := range 2 {
		for i := range count {
			v := int64(src)*1e9 + int64(i)
			o := owner(v, 2, int(g.GetMaxParallelism()))
			want[o] = append(want[o], v)
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for sub := range 2 {
		got := slices.Clone(r.mu.seen[sub])
		slices.Sort(got)
		slices.Sort(want[sub])
		if !slices.Equal(got, want[sub]) {
			t.Errorf("sink %d wrote %d records, want %d: each record exactly once, at the owner of its key group",
				sub, len(got), len(want[sub]))
		}
		if !r.mu.finished[sub] || !r.mu.closed[sub] {
			t.Errorf("sink %d: finished %v, closed %v; want both", sub, r.mu.finished[sub], r.mu.closed[sub])
		}
	}
	if len(want[0]) == 0 || len(want[1]) == 0 {
		t.Error("the keys do not spread over both sinks; the test proves nothing")
	}

	var in, out int64
	for _, s := range j.subtasks(0) {
		if m := s.task.Metrics(); m.GetRecordsOut() != count {
			t.Errorf("%s: records out %d, want %d", s, m.GetRecordsOut(), count)
		}
	}
	for _, s := range j.subtasks(1) {
		m := s.task.Metrics()
		in += m.GetRecordsIn()
		out += m.GetRecordsOut()
		if m.GetRemoteBytesIn() != 0 {
			t.Errorf("%s: %d remote bytes in; every channel is local", s, m.GetRemoteBytesIn())
		}
	}
	if in != 2*count || out != 2*count {
		t.Errorf("sinks: records in %d, out %d; want %d each", in, out, 2*count)
	}
}

func TestRunCancel(t *testing.T) {
	for _, tc := range []struct {
		name   string
		cancel func(context.CancelCauseFunc)
	}{
		{"plain", func(c context.CancelCauseFunc) { c(nil) }},
		// The taskmanager cancels with a cause.
		{"with cause", func(c context.CancelCauseFunc) { c(errors.New("canceled by the jobmanager")) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRun(t, 2)
			g := twoVertexGraph(t, intSource{Run: t.Name(), Mode: idle}, collectSink{Run: t.Name(), FailSubtask: -1})
			j := newJob(t, g)
			ctx, cancel := context.WithCancelCause(t.Context())
			defer cancel(nil)
			j.startAll(ctx)
			select {
			case <-r.started: // every task is connected and idle
			case s := <-j.done:
				t.Fatalf("%s returned before the job was cancelled: %v", s, s.err)
			}
			tc.cancel(cancel)
			j.wait(t)
			for _, s := range j.running {
				if !errors.Is(s.err, task.ErrCanceled) {
					t.Errorf("%s: Run = %v, want ErrCanceled", s, s.err)
				}
			}
			r.mu.Lock()
			defer r.mu.Unlock()
			for sub := range 2 {
				if r.mu.finished[sub] {
					t.Errorf("sink %d finished its output after a cancellation", sub)
				}
				if !r.mu.closed[sub] {
					t.Errorf("sink %d was not closed", sub)
				}
			}
		})
	}
}

// A producer waits for its consumers to be deployed; cancelling it then is
// a cancellation too, not a failure to find the consumer.
func TestRunCancelWhileWaitingForConsumers(t *testing.T) {
	for _, tc := range []struct {
		name   string
		before bool
	}{{"before Run", true}, {"during Run", false}} {
		t.Run(tc.name, func(t *testing.T) {
			newRun(t, 2)
			g := twoVertexGraph(t, intSource{Run: t.Name(), Mode: bounded, Count: 10}, collectSink{Run: t.Name(), FailSubtask: -1})
			j := newJob(t, g)
			ctx, cancel := context.WithCancelCause(t.Context())
			defer cancel(nil)
			if tc.before {
				cancel(errors.New("canceled by the jobmanager"))
			}
			j.start(ctx, j.plan.Vertices[0]) // no sink subtasks: the sources wait for them
			cancel(errors.New("canceled by the jobmanager"))
			j.wait(t)
			for _, s := range j.running {
				if !errors.Is(s.err, task.ErrCanceled) {
					t.Errorf("%s: Run = %v, want ErrCanceled", s, s.err)
				}
			}
		})
	}
}

func TestRunSinkFailureFailsProducers(t *testing.T) {
	r := newRun(t, 2)
	g := twoVertexGraph(t, intSource{Run: t.Name(), Mode: endless}, collectSink{Run: t.Name(), FailSubtask: 0})
	j := newJob(t, g)
	j.startAll(t.Context())
	j.wait(t)

	sinks := j.subtasks(1)
	if !errors.Is(sinks[0].err, errWrite) {
		t.Errorf("%s: Run = %v, want the sink's %v", sinks[0], sinks[0].err, errWrite)
	}
	for _, s := range j.subtasks(0) {
		// The failed sink closed its gate; pushing into it fails.
		if !errors.Is(s.err, network.ErrGateClosed) {
			t.Errorf("%s: Run = %v, want it failed by the closed gate (%v)", s, s.err, network.ErrGateClosed)
		}
	}
	// The other sink's producers aborted their channels, which fails it.
	if sinks[1].err == nil || errors.Is(sinks[1].err, task.ErrCanceled) {
		t.Errorf("%s: Run = %v, want a failure from its aborted inputs", sinks[1], sinks[1].err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.mu.finished[0] || r.mu.finished[1] {
		t.Error("a sink finished its output although the job failed")
	}
	if !r.mu.closed[0] || !r.mu.closed[1] {
		t.Error("a failed sink was not closed")
	}
}
