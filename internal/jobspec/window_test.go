package jobspec_test

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	weirv1 "github.com/weirstream/weir/api/proto/weir/v1"
	_ "github.com/weirstream/weir/connector/file"
	_ "github.com/weirstream/weir/examples/windowwordcount"
	"github.com/weirstream/weir/internal/jobspec"
	"github.com/weirstream/weir/internal/minicluster"
	"github.com/weirstream/weir/stream"
)

// lines is a sink keeping every line in memory, per name.
type lines struct {
	Name string `json:"name"`
}

var sunk struct {
	sync.Mutex
	m map[string][]string
}

func (l lines) CreateWriter(*stream.SinkContext) (stream.SinkWriter[string], error) {
	return linesWriter{l.Name}, nil
}

type linesWriter struct{ name string }

func (w linesWriter) Write(s string) error {
	sunk.Lock()
	defer sunk.Unlock()
	if sunk.m == nil {
		sunk.m = map[string][]string{}
	}
	sunk.m[w.name] = append(sunk.m[w.name], s)
	return nil
}
func (linesWriter) Finish() error { return nil }
func (linesWriter) Close() error  { return nil }

func init() { stream.RegisterSink[string]("jobspec-test.lines", lines{}) }

const windowSpec = `
name: windowed
parallelism: 2
operators:
  - id: lines
    source: weir.file.source
    params: {path: INPUT}
    parallelism: 1
  - id: words
    flatMap: window-wordcount.parse
    input: lines
    parallelism: 1
  - id: stamped
    timestamps: window-wordcount.event-time
    watermarks: {outOfOrderness: 5ms}
    input: words
    parallelism: 1
  - id: counts
    aggregate: count
    window: {tumbling: 10ms}
    input: {from: stamped, keyBy: window-wordcount.word}
  - id: sums
    aggregate: sum
    params: {field: TS}
    window: {sliding: 20ms, slide: 10ms}
    input: {from: stamped, keyBy: window-wordcount.word}
  - id: count-lines
    map: weir.window.format
    input: counts
  - id: sum-lines
    map: weir.window.format
    input: sums
  - id: count-out
    sink: jobspec-test.lines
    params: {name: count}
    input: count-lines
  - id: sum-out
    sink: jobspec-test.lines
    params: {name: sum}
    input: sum-lines
`

// Count and sum windows from a job spec, run on a mini cluster: every
// window emits its count and sum once per key, at the end of the input.
func TestWindowsFromSpec(t *testing.T) {
	dir := t.TempDir()
	input := filepath.Join(dir, "in.txt")
	if err := os.WriteFile(input, []byte("3,a b\n12,a\n1,b a\n15,b\n25,a\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	g, err := jobspec.Parse([]byte(strings.Replace(windowSpec, "INPUT", input, 1)))
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	c, err := minicluster.Start(ctx, minicluster.Options{TaskManagers: 1, Slots: 2, BufferTimeout: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	conn, err := grpc.NewClient(c.RPCAddress(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := weirv1.NewJobManagerServiceClient(conn)
	resp, err := client.SubmitJob(ctx, &weirv1.SubmitJobRequest{Job: &weirv1.SubmitJobRequest_Graph{Graph: g}})
	if err != nil {
		t.Fatal(err)
	}
	for {
		j, err := client.GetJob(ctx, &weirv1.GetJobRequest{JobId: resp.GetJobId()})
		if err != nil {
			t.Fatal(err)
		}
		st := j.GetJob().GetStatus()
		if st == weirv1.JobStatus_JOB_STATUS_FINISHED {
			break
		}
		if st == weirv1.JobStatus_JOB_STATUS_FAILED || st == weirv1.JobStatus_JOB_STATUS_CANCELED {
			t.Fatalf("job ended %v: %s", st, j.GetJob().GetStatusMessage())
		}
		select {
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		case <-time.After(20 * time.Millisecond): // polling a remote status, not synchronising
		}
	}
	sunk.Lock()
	defer sunk.Unlock()
	count, sum := slices.Sorted(slices.Values(sunk.m["count"])), slices.Sorted(slices.Values(sunk.m["sum"]))
	if want := []string{"0,a,2", "0,b,2", "10,a,1", "10,b,1", "20,a,1"}; !slices.Equal(count, want) {
		t.Errorf("counts %v, want %v", count, want)
	}
	// Sliding windows of 20 ms every 10 ms: [-10,10), [0,20), [10,30), [20,40).
	want := []string{"-10,a,4", "-10,b,4", "0,a,16", "0,b,19", "10,a,37", "10,b,15", "20,a,25"}
	if !slices.Equal(sum, want) {
		t.Errorf("sums %v, want %v", sum, want)
	}
}

func TestWindowSpecErrors(t *testing.T) {
	for _, c := range []struct{ spec, want string }{
		{"window: {tumbling: 10s}\n    map: weir.window.format", `operators[1] ("x").window: a map has no window`},
		{"aggregate: count", `operators[1] ("x").window: missing`},
		{"aggregate: count\n    window: {tumbling: 10s, session: 1s}", "set exactly one of tumbling, sliding, session"},
		{"aggregate: count\n    window: {tumbling: ten}", `window.tumbling: "ten" is not a duration`},
		{"aggregate: count\n    window: {sliding: 1s, slide: 2s}", "window.slide_millis"},
		{"aggregate: count\n    window: {tumbling: 1s, time: wall}", "window.time: want event or processing"},
		{"aggregate: count\n    window: {tumbling: 1s, size: 2}", "window.size: unknown field"},
		{"timestamps: t\n    watermarks: {outOfOrderness: 1}", "watermarks.outOfOrderness: want a duration"},
		{"map: m\n    watermarks: {outOfOrderness: 1s}", "watermarks: only a timestamps operator"},
	} {
		spec := fmt.Sprintf("name: bad\noperators:\n  - id: src\n    source: s\n  - id: x\n    %s\n    input: {from: src, keyBy: k}\n", c.spec)
		_, err := jobspec.Decode([]byte(spec))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s:\n err = %v, want one containing %q", c.spec, err, c.want)
		}
	}
}
