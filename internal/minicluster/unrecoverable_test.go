package minicluster_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	weirv1 "github.com/weirstream/weir/api/proto/weir/v1"
	"github.com/weirstream/weir/connector/generator"
	"github.com/weirstream/weir/internal/minicluster"
	"github.com/weirstream/weir/stream"
)

// failAt fails on its Nth line, with an error marked unrecoverable or
// not, and counts the lines before it in the counter "lines_seen".
type failAt struct {
	N             int64 `json:"n"`
	Unrecoverable bool  `json:"unrecoverable"`

	seen *stream.Counter
	n    int64
}

func (f *failAt) Open(ctx *stream.OpenContext) error {
	f.seen = ctx.Metrics.Counter("lines_seen")
	return nil
}

func (f *failAt) Map(line string) (string, error) {
	f.n++
	if f.n == f.N {
		err := fmt.Errorf("line %d is bad", f.n)
		if f.Unrecoverable {
			err = stream.Unrecoverable(err)
		}
		return "", err
	}
	if f.n < f.N {
		f.seen.Inc()
	}
	return line, nil
}

type discard struct{}

func (discard) CreateWriter(*stream.SinkContext) (stream.SinkWriter[string], error) {
	return discardWriter{}, nil
}

type discardWriter struct{}

func (discardWriter) Write(string) error { return nil }
func (discardWriter) Finish() error      { return nil }
func (discardWriter) Close() error       { return nil }

func init() {
	stream.RegisterMap[string, string]("minicluster-test.fail-at", &failAt{})
	stream.RegisterSink[string]("minicluster-test.discard", discard{})
}

// A task failing with stream.ErrUnrecoverable fails the job at once,
// although its restart strategy would allow many restarts; the same
// failure without the mark restarts the job.
func TestUnrecoverableFailureIsNotRestarted(t *testing.T) {
	ctx := t.Context()
	c, err := minicluster.Start(ctx, minicluster.Options{TaskManagers: 1, Slots: 1, BufferTimeout: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	client := jobManager(t, c)

	run := func(unrecoverable bool) *weirv1.GetJobResponse {
		env := stream.NewEnv()
		env.SetConfig("restart-strategy.type", "fixed-delay")
		env.SetConfig("restart-strategy.fixed-delay.attempts", "3")
		env.SetConfig("restart-strategy.fixed-delay.delay", "10ms")
		lines := stream.FromSource[string](env, generator.Source{Count: 100, Seed: 1, Words: 10}, "gen")
		stream.Map[string](lines, &failAt{N: 50, Unrecoverable: unrecoverable}).SinkTo(discard{}, "discard")
		g, err := env.Graph()
		if err != nil {
			t.Fatal(err)
		}
		resp, err := client.SubmitJob(ctx, &weirv1.SubmitJobRequest{Job: &weirv1.SubmitJobRequest_Graph{Graph: g}})
		if err != nil {
			t.Fatal(err)
		}
		return waitTerminal(ctx, t, client, resp.GetJobId())
	}

	job := run(true)
	if st := job.GetJob().GetStatus(); st != weirv1.JobStatus_JOB_STATUS_FAILED {
		t.Fatalf("unrecoverable: job ended %v, want FAILED", st)
	}
	if n := job.GetJob().GetRestarts(); n != 0 {
		t.Fatalf("unrecoverable: job restarted %d times, want 0", n)
	}
	if msg := job.GetJob().GetStatusMessage(); !strings.Contains(msg, "line 50 is bad") || !strings.Contains(msg, "not restarted") {
		t.Fatalf("unrecoverable: status message %q does not name the failure and why it was not restarted", msg)
	}
	var seen int64
	for _, task := range job.GetTasks() {
		seen += task.GetMetrics().GetCounters()["lines_seen"]
	}
	if seen != 49 {
		t.Fatalf("counter lines_seen = %d in the task metrics, want 49", seen)
	}

	job = run(false)
	if st := job.GetJob().GetStatus(); st != weirv1.JobStatus_JOB_STATUS_FAILED {
		t.Fatalf("recoverable: job ended %v, want FAILED after its restarts", st)
	}
	if n := job.GetJob().GetRestarts(); n != 3 {
		t.Fatalf("recoverable: job restarted %d times, want the strategy's 3", n)
	}
}

func TestUnrecoverableWrapping(t *testing.T) {
	base := errors.New("bad record")
	err := fmt.Errorf("source: %w", stream.Unrecoverable(base))
	if !errors.Is(err, stream.ErrUnrecoverable) || !errors.Is(err, base) {
		t.Fatalf("errors.Is through the wrapping: unrecoverable %v, base %v", errors.Is(err, stream.ErrUnrecoverable), errors.Is(err, base))
	}
	if err.Error() != "source: bad record" {
		t.Fatalf("message %q", err.Error())
	}
	if stream.Unrecoverable(nil) != nil {
		t.Fatal("Unrecoverable(nil) != nil")
	}
}
