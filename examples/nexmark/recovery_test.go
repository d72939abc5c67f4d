package nexmark

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	weirv1 "github.com/weirstream/weir/api/proto/weir/v1"
	"github.com/weirstream/weir/internal/minicluster"
)

// TestRecoveryExactlyOnce runs q3 (a keyed join) and q5 (sliding windows)
// with exactly-once checkpoints on two taskmanagers; once two checkpoints
// have completed, one taskmanager leaves and a fresh one joins. The job
// restarts from its latest checkpoint: the sources resume at their saved
// event numbers and the joins and windows at their saved state, so the
// published output is exactly the reference, with no line lost or
// repeated.
func TestRecoveryExactlyOnce(t *testing.T) {
	for _, q := range []string{"q3", "q5"} {
		for _, backend := range backends {
			t.Run(q+"/"+backend, func(t *testing.T) { testRecovery(t, q, backend) })
		}
	}
}

func testRecovery(t *testing.T, q, backend string) {
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	c, err := minicluster.Start(t.Context(), minicluster.Options{TaskManagers: 2, Slots: 1, DataDir: t.TempDir(),
		BufferTimeout: 10 * time.Millisecond, HeartbeatInterval: 100 * time.Millisecond, HeartbeatTimeout: time.Second, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	conn, err := grpc.NewClient(c.RPCAddress(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	cl := &cluster{c: c, client: weirv1.NewJobManagerServiceClient(conn), slots: 2}
	cl.waitIdle(t)

	// 60,000 events at 20,000 a second take about 3 s; event time runs
	// at the same rate.
	const rate = 20_000
	src := testSource
	src.Rate = rate
	out := filepath.Join(t.TempDir(), "out")
	g := graph(t, "nexmark-"+q, testP, map[string]string{
		"state.backend":                      backend,
		"execution.checkpointing.interval":   "100ms",
		"restart-strategy.fixed-delay.delay": "50ms",
	}, append(fmtArgs(testEvents, testSeed, out), "--rate", fmt.Sprint(rate), "--throttle")...)
	resp, err := cl.client.SubmitJob(t.Context(), &weirv1.SubmitJobRequest{Job: &weirv1.SubmitJobRequest_Graph{Graph: g}})
	if err != nil {
		t.Fatal(err)
	}
	id := resp.GetJobId()
	for {
		cps, err := cl.client.ListCheckpoints(t.Context(), &weirv1.ListCheckpointsRequest{JobId: id})
		if err != nil {
			t.Fatal(err)
		}
		if cps.GetLatestCompletedId() >= 2 {
			break
		}
		cl.poll(t)
	}
	c.StopTaskManager(1)
	if _, err := c.AddTaskManager(); err != nil {
		t.Fatal(err)
	}
	var job *weirv1.GetJobResponse
	for {
		job, err = cl.client.GetJob(t.Context(), &weirv1.GetJobRequest{JobId: id})
		if err != nil {
			t.Fatal(err)
		}
		st := job.GetJob().GetStatus()
		if st == weirv1.JobStatus_JOB_STATUS_FINISHED || st == weirv1.JobStatus_JOB_STATUS_FAILED || st == weirv1.JobStatus_JOB_STATUS_CANCELED {
			break
		}
		cl.poll(t)
	}
	if st := job.GetJob().GetStatus(); st != weirv1.JobStatus_JOB_STATUS_FINISHED {
		t.Fatalf("job ended %v: %s", st, job.GetJob().GetStatusMessage())
	}
	if job.GetJob().GetRestarts() < 1 {
		t.Fatal("the job finished without restarting")
	}
	events := allEvents(src, testP)
	var want []string
	if q == "q3" {
		want = q3Reference(events)
	} else {
		want = q5Reference(events)
	}
	sameLines(t, readParts(t, out), want)
}
