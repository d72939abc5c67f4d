package nexmark

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	weirv1 "github.com/weirstream/weir/api/proto/weir/v1"
	"github.com/weirstream/weir/internal/minicluster"
	"github.com/weirstream/weir/stream"
)

// cluster is a minicluster and a gRPC client of its jobmanager.
type cluster struct {
	c      *minicluster.Cluster
	client weirv1.JobManagerServiceClient
	slots  int32
}

// startCluster starts a minicluster of taskManagers × slots that stops
// when tb ends, and waits until its slots have registered.
func startCluster(tb testing.TB, taskManagers, slots int) *cluster {
	tb.Helper()
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	c, err := minicluster.Start(tb.Context(), minicluster.Options{TaskManagers: taskManagers, Slots: slots,
		DataDir: tb.TempDir(), Logger: logger})
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
	cl := &cluster{c: c, client: weirv1.NewJobManagerServiceClient(conn), slots: int32(taskManagers * slots)}
	cl.waitIdle(tb)
	return cl
}

// pollInterval is how often the tests ask the jobmanager about a job: the
// job runs behind gRPC, so polling is the way to observe it.
const pollInterval = 5 * time.Millisecond

func (cl *cluster) poll(tb testing.TB) {
	tb.Helper()
	select {
	case <-tb.Context().Done():
		tb.Fatal(tb.Context().Err())
	case <-time.After(pollInterval): // polling remote state, not synchronising
	}
}

// waitIdle waits until every slot is registered and free.
func (cl *cluster) waitIdle(tb testing.TB) {
	tb.Helper()
	for {
		ov, err := cl.client.GetClusterOverview(tb.Context(), &weirv1.GetClusterOverviewRequest{})
		if err != nil {
			tb.Fatal(err)
		}
		if ov.GetSlotsTotal() == cl.slots && ov.GetSlotsFree() == cl.slots {
			return
		}
		cl.poll(tb)
	}
}

// graph builds program name with args at parallelism p and sets the job
// configuration config.
func graph(tb testing.TB, name string, p int, config map[string]string, args ...string) *weirv1.JobGraph {
	tb.Helper()
	env, err := stream.BuildProgram(name, args, p)
	if err != nil {
		tb.Fatal(err)
	}
	for k, v := range config {
		env.SetConfig(k, v)
	}
	g, err := env.Graph()
	if err != nil {
		tb.Fatal(err)
	}
	return g
}

// run submits g and waits until it has ended; it fails tb unless the job
// finished.
func (cl *cluster) run(tb testing.TB, g *weirv1.JobGraph) *weirv1.GetJobResponse {
	tb.Helper()
	resp, err := cl.client.SubmitJob(tb.Context(), &weirv1.SubmitJobRequest{Job: &weirv1.SubmitJobRequest_Graph{Graph: g}})
	if err != nil {
		tb.Fatal(err)
	}
	for {
		job, err := cl.client.GetJob(tb.Context(), &weirv1.GetJobRequest{JobId: resp.GetJobId()})
		if err != nil {
			tb.Fatal(err)
		}
		switch st := job.GetJob().GetStatus(); st {
		case weirv1.JobStatus_JOB_STATUS_FINISHED:
			return job
		case weirv1.JobStatus_JOB_STATUS_FAILED, weirv1.JobStatus_JOB_STATUS_CANCELED:
			tb.Fatalf("job %s ended %v: %s", g.GetName(), st, job.GetJob().GetStatusMessage())
		}
		cl.poll(tb)
	}
}

// readParts returns the lines of the part files in dir, in the order each
// subtask wrote them (subtask by subtask).
func readParts(tb testing.TB, dir string) []string {
	tb.Helper()
	parts, err := filepath.Glob(filepath.Join(dir, "part-*"))
	if err != nil {
		tb.Fatal(err)
	}
	num := func(p string) (s, n int) {
		f := strings.Split(filepath.Base(p), "-")
		s, _ = strconv.Atoi(f[1])
		n, _ = strconv.Atoi(f[2])
		return s, n
	}
	slices.SortFunc(parts, func(a, b string) int {
		sa, na := num(a)
		sb, nb := num(b)
		if sa != sb {
			return sa - sb
		}
		return na - nb
	})
	var lines []string
	for _, p := range parts {
		f, err := os.Open(p)
		if err != nil {
			tb.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			lines = append(lines, sc.Text())
		}
		f.Close()
		if err := sc.Err(); err != nil {
			tb.Fatal(err)
		}
	}
	return lines
}

// sameLines fails t unless got and want hold the same lines, in any order.
func sameLines(t *testing.T, got, want []string) {
	t.Helper()
	got, want = slices.Clone(got), slices.Clone(want)
	slices.Sort(got)
	slices.Sort(want)
	if slices.Equal(got, want) {
		return
	}
	for i := range min(len(got), len(want)) {
		if got[i] != want[i] {
			t.Fatalf("%d lines, want %d; first difference at sorted line %d:\n got  %q\n want %q", len(got), len(want), i, got[i], want[i])
		}
	}
	t.Fatalf("%d lines, want %d", len(got), len(want))
}

func fmtArgs(events int64, seed int64, out string) []string {
	return []string{"--events", fmt.Sprint(events), "--seed", fmt.Sprint(seed), "--base-time", fmt.Sprint(testBaseTime), "--output", out}
}
