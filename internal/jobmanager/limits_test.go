package jobmanager

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	weirv1 "github.com/weirstream/weir/api/proto/weir/v1"
	"github.com/weirstream/weir/internal/clock"
	"github.com/weirstream/weir/internal/config"
	"github.com/weirstream/weir/stream"
)

func TestLimitsFrom(t *testing.T) {
	l := DefaultLimits()
	want := Limits{MaxGraphSize: 4 << 20, MaxOperators: 1000, MaxParallelism: 1024, MaxKeyGroups: 32768,
		MinCheckpointInterval: 100 * time.Millisecond, SubmissionRate: 10, SubmissionBurst: 20}
	if l.MaxGraphSize != want.MaxGraphSize || l.MaxOperators != want.MaxOperators || l.MaxParallelism != want.MaxParallelism ||
		l.MaxKeyGroups != want.MaxKeyGroups || l.MinCheckpointInterval != want.MinCheckpointInterval ||
		l.SubmissionRate != want.SubmissionRate || l.SubmissionBurst != want.SubmissionBurst || len(l.AllowedStorage) != 0 {
		t.Errorf("DefaultLimits() = %+v, want %+v", l, want)
	}
	c, err := config.Default().With(map[string]string{config.StorageAllowedPrefixes: " file:///a, s3://b/p ,"})
	if err != nil {
		t.Fatal(err)
	}
	if l, err := LimitsFrom(c); err != nil || len(l.AllowedStorage) != 2 || l.AllowedStorage[1] != "s3://b/p" {
		t.Errorf("LimitsFrom(prefixes) = %+v, %v", l.AllowedStorage, err)
	}
	for _, bad := range []struct {
		m    map[string]string
		want string
	}{
		{map[string]string{config.StorageAllowedPrefixes: "file:///a/../b"}, `security.storage.allowed-prefixes: objstore: storage location "file:///a/../b" has a ".." segment`},
		{map[string]string{config.StorageAllowedPrefixes: "ftp://x"}, `unknown scheme "ftp"`},
		{map[string]string{config.SubmissionRate: "-1"}, "jobmanager.submission.rate: -1 must be a finite number, at least 0"},
		{map[string]string{config.JobMaxGraphSize: "0"}, "jobmanager.job.max-graph-size: 0 must be positive"},
		{map[string]string{config.CheckpointingMinInterval: "-1s"}, `jobmanager.checkpointing.min-interval: invalid value "-1s"`},
	} {
		c, err := config.Default().With(bad.m)
		if err == nil {
			_, err = LimitsFrom(c)
		}
		if err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("LimitsFrom(%v) = %v, want %q", bad.m, err, bad.want)
		}
	}
	// A submission cannot be larger than a gRPC message.
	c, err = config.Default().With(map[string]string{config.RPCMaxMessageSize: "1mb"})
	if err != nil {
		t.Fatal(err)
	}
	if l, err := LimitsFrom(c); err != nil || l.MaxGraphSize != 1<<20 {
		t.Errorf("with rpc.max-message-size 1mb: max graph size %d, %v", l.MaxGraphSize, err)
	}
	// The key-group ceiling is the configuration's bound.
	if _, err := config.Default().With(map[string]string{config.JobMaxKeyGroups: "32769"}); err == nil {
		t.Error("jobmanager.job.max-key-groups above 32768 accepted")
	}
}

func TestCheckGraph(t *testing.T) {
	l := Limits{MaxOperators: 2, MaxParallelism: 4, MaxKeyGroups: 64}
	g := func(maxP int32, ps ...int32) *weirv1.JobGraph {
		g := &weirv1.JobGraph{MaxParallelism: maxP}
		for i, p := range ps {
			g.Operators = append(g.Operators, &weirv1.Operator{Id: int32(i), Name: "op", Parallelism: p})
		}
		return g
	}
	if err := l.checkGraph(g(64, 4, 1)); err != nil {
		t.Errorf("a graph at the limits: %v", err)
	}
	for _, c := range []struct {
		g    *weirv1.JobGraph
		want string
	}{
		{g(64, 1, 1, 1), "rejected: operators: 3 operators exceeds the limit 2 (jobmanager.job.max-operators)"},
		{g(64, 1, 5), `rejected: operators[1] ("op").parallelism: 5 exceeds the limit 4 (jobmanager.job.max-parallelism)`},
		{g(65, 1), "rejected: max_parallelism: 65 exceeds the limit 64 (jobmanager.job.max-key-groups)"},
	} {
		err := l.checkGraph(c.g)
		if status.Code(err) != codes.InvalidArgument || status.Convert(err).Message() != c.want {
			t.Errorf("checkGraph = %v, want InvalidArgument %q", err, c.want)
		}
	}
}

func TestCheckInterval(t *testing.T) {
	l := Limits{MinCheckpointInterval: 100 * time.Millisecond}
	for v, want := range map[string]string{
		"0": "", "100ms": "", "1s": "",
		"99ms": "rejected: config: execution.checkpointing.interval: 99ms is below the cluster's floor of 100ms (jobmanager.checkpointing.min-interval)",
		"1ms":  "rejected: config: execution.checkpointing.interval: 1ms is below the cluster's floor of 100ms (jobmanager.checkpointing.min-interval)",
	} {
		c, err := config.Default().WithJob(map[string]string{config.CheckpointingInterval: v})
		if err != nil {
			t.Fatal(err)
		}
		err = l.checkInterval(c)
		if want == "" {
			if err != nil {
				t.Errorf("interval %s: %v", v, err)
			}
			continue
		}
		if status.Code(err) != codes.InvalidArgument || status.Convert(err).Message() != want {
			t.Errorf("interval %s: %v, want InvalidArgument %q", v, err, want)
		}
	}
}

// The token bucket on a manual clock: burst at once, then rate per second,
// per identity.
func TestRateLimiter(t *testing.T) {
	clk := clock.NewManual(time.Unix(1000, 0))
	r := newRateLimiter(2, 3, clk)
	for i := range 3 {
		if ok, _ := r.take("a"); !ok {
			t.Fatalf("submission %d of the burst refused", i)
		}
	}
	ok, wait := r.take("a")
	if ok || wait != 500*time.Millisecond {
		t.Fatalf("after the burst: %v, retry in %v; want refused, 500ms", ok, wait)
	}
	if ok, _ := r.take("b"); !ok {
		t.Fatal("another client is limited by a's submissions")
	}
	clk.Advance(499 * time.Millisecond)
	if ok, wait := r.take("a"); ok || wait != time.Millisecond {
		t.Fatalf("1ms early: %v, retry in %v", ok, wait)
	}
	clk.Advance(time.Millisecond)
	if ok, _ := r.take("a"); !ok {
		t.Fatal("refused after the wait it gave")
	}
	clk.Advance(time.Hour) // refills to the burst, no more
	for i := range 3 {
		if ok, _ := r.take("a"); !ok {
			t.Fatalf("submission %d after an hour refused", i)
		}
	}
	if ok, _ := r.take("a"); ok {
		t.Fatal("an idle hour allowed more than the burst")
	}
	if r := newRateLimiter(0, 20, clk); r != nil {
		t.Fatal("rate 0 limits")
	}
	var off *rateLimiter
	if ok, _ := off.take("a"); !ok {
		t.Fatal("no limiter refused")
	}
}

// The bucket map stays bounded however many identities call.
func TestRateLimiterBounded(t *testing.T) {
	clk := clock.NewManual(time.Unix(1000, 0))
	r := newRateLimiter(1, 1, clk)
	for i := range 3 * maxBuckets {
		r.take(strings.Repeat("x", i%7) + string(rune('a'+i%26)) + time.Duration(i).String())
	}
	if n := len(r.mu.buckets); n > maxBuckets {
		t.Fatalf("%d buckets, more than %d", n, maxBuckets)
	}
}

// SubmitJob takes a token before anything else, so invalid submissions
// count too; the refusal is ResourceExhausted with the limit and a retry
// hint.
func TestSubmitRateLimited(t *testing.T) {
	clk := clock.NewManual(time.Unix(1000, 0))
	l := DefaultLimits()
	l.SubmissionRate, l.SubmissionBurst = 1, 2
	jm := New(Options{Clock: clk, Limits: &l})
	ctx := context.Background()
	empty := &weirv1.SubmitJobRequest{}
	for i := range 2 {
		if _, err := jm.SubmitJob(ctx, empty); status.Code(err) != codes.InvalidArgument {
			t.Fatalf("submission %d: %v, want InvalidArgument", i, err)
		}
	}
	_, err := jm.SubmitJob(ctx, empty)
	want := "rejected: too many submissions from all clients together: the limit is 1 per second with bursts of 2 (jobmanager.submission.rate, jobmanager.submission.burst); retry in 1s"
	if status.Code(err) != codes.ResourceExhausted || status.Convert(err).Message() != want {
		t.Fatalf("third submission: %v, want ResourceExhausted %q", err, want)
	}
	clk.Advance(time.Second)
	if _, err := jm.SubmitJob(ctx, empty); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("after a second: %v, want InvalidArgument", err)
	}
}

// A program's parallelism is checked before the program is built.
func TestSubmitProgramParallelismLimited(t *testing.T) {
	built := false
	stream.RegisterProgram(stream.Program{Name: "limits-test-program", Build: func(*stream.Env, []string) error {
		built = true
		return nil
	}})
	l := DefaultLimits()
	l.MaxParallelism, l.SubmissionRate = 8, 0
	jm := New(Options{Limits: &l})
	p := int32(9)
	_, err := jm.SubmitJob(context.Background(), &weirv1.SubmitJobRequest{Parallelism: &p,
		Job: &weirv1.SubmitJobRequest_Program{Program: &weirv1.Program{Name: "limits-test-program"}}})
	want := "rejected: parallelism: 9 exceeds the limit 8 (jobmanager.job.max-parallelism)"
	if status.Code(err) != codes.InvalidArgument || status.Convert(err).Message() != want {
		t.Fatalf("SubmitJob at parallelism 9: %v, want InvalidArgument %q", err, want)
	}
	if built {
		t.Fatal("the program was built before its parallelism was checked")
	}
}
