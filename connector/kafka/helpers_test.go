package kafka

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	kafka "github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/weirstream/weir/internal/clock"
	"github.com/weirstream/weir/stream"
)

// waitTimeout bounds every wait of a test on a condition.
const waitTimeout = 30 * time.Second

// testCluster is an in-process Kafka (kfake) and an independent client
// (franz-go's kgo) to produce test input and check output with.
type testCluster struct {
	c       *kfake.Cluster
	brokers []string
	kgo     *kgo.Client
}

// newTestCluster starts a one-broker cluster with topics of the given
// number of partitions.
func newTestCluster(t testing.TB, partitions int32, topics ...string) *testCluster {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(partitions, topics...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	tc := &testCluster{c: c, brokers: c.ListenAddrs()}
	tc.kgo = tc.client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	return tc
}

// client returns a kgo client of the cluster, closed when t ends.
func (tc *testCluster) client(t testing.TB, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(tc.brokers...)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func testContext(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	t.Cleanup(cancel)
	return ctx
}

// produce writes values to a partition, without a transaction.
func (tc *testCluster) produce(t testing.TB, topic string, partition int32, values ...string) {
	t.Helper()
	recs := make([]*kgo.Record, len(values))
	for i, v := range values {
		recs[i] = &kgo.Record{Topic: topic, Partition: partition, Value: []byte(v)}
	}
	if err := tc.kgo.ProduceSync(testContext(t), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// produceAt writes values to a partition with record timestamp at.
func (tc *testCluster) produceAt(t testing.TB, topic string, partition int32, at time.Time, values ...string) {
	t.Helper()
	recs := make([]*kgo.Record, len(values))
	for i, v := range values {
		recs[i] = &kgo.Record{Topic: topic, Partition: partition, Value: []byte(v), Timestamp: at}
	}
	if err := tc.kgo.ProduceSync(testContext(t), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

var txnIDs atomic.Int64

// produceTxn writes values to a partition in one transaction of kgo's
// transactional producer, committed or aborted.
func (tc *testCluster) produceTxn(t testing.TB, topic string, partition int32, commit bool, values ...string) {
	t.Helper()
	cl := tc.client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.TransactionalID(fmt.Sprintf("kgo-txn-%d", txnIDs.Add(1))))
	ctx := testContext(t)
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	for _, v := range values {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Partition: partition, Value: []byte(v)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	end := kgo.TryAbort
	if commit {
		end = kgo.TryCommit
	}
	if err := cl.EndTransaction(ctx, end); err != nil {
		t.Fatal(err)
	}
}

var sentinels atomic.Int64

const sentinelPrefix = "\x00sentinel-"

// readCommitted returns what a read_committed consumer sees of topic, in
// partition and offset order. It first appends a sentinel record to each
// partition and reads until it has seen every sentinel: the records
// before them are then all there are. A transaction left open blocks the
// sentinel, and the read fails after waitTimeout.
func (tc *testCluster) readCommitted(t testing.TB, topic string, partitions int32) []string {
	t.Helper()
	sentinel := fmt.Sprintf("%s%d", sentinelPrefix, sentinels.Add(1))
	offsets := map[int32]kgo.Offset{}
	for p := range partitions {
		tc.produce(t, topic, p, sentinel)
		offsets[p] = kgo.NewOffset().AtStart()
	}
	cl := tc.client(t, kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.FetchMaxWait(50*time.Millisecond),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: offsets}))
	ctx := testContext(t)
	got := make([][]string, partitions)
	seen := map[int32]bool{}
	for len(seen) < int(partitions) {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("reading %q: saw the sentinel of partitions %v of %d within %v", topic, seen, partitions, waitTimeout)
		}
		if err := fs.Err(); err != nil {
			t.Fatal(err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			switch v := string(r.Value); {
			case v == sentinel:
				seen[r.Partition] = true
			case strings.HasPrefix(v, sentinelPrefix) || seen[r.Partition]:
			default:
				got[r.Partition] = append(got[r.Partition], v)
			}
		})
	}
	return slices.Concat(got...)
}

// offsets returns the latest offsets of topic: the high watermarks with
// read_uncommitted, the last stable offsets with read_committed.
func (tc *testCluster) offsets(t testing.TB, topic string, partitions int32, iso kafka.IsolationLevel) map[int32]int64 {
	t.Helper()
	cl := newCluster(tc.brokers, "test", topic, 0)
	defer cl.close()
	ps := make([]int32, partitions)
	for i := range ps {
		ps[i] = int32(i)
	}
	out, err := cl.listOffsets(testContext(t), topic, ps, latestTimestamp, iso)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func testLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

func taskInfo(i, p int, clk clock.Clock) stream.TaskInfo {
	return stream.TaskInfo{JobID: "job", TaskName: "kafka", SubtaskIndex: i, Parallelism: p, MaxParallelism: 128,
		Clock: clk, Logger: testLogger()}
}

// newReader returns the reader of subtask i of p, closed when t ends.
func newReader(t testing.TB, src Source, i, p int, clk clock.Clock) *reader {
	t.Helper()
	if clk == nil {
		clk = clock.Real{}
	}
	sr, err := src.CreateReader(&stream.SourceContext{TaskInfo: taskInfo(i, p, clk)})
	if err != nil {
		t.Fatal(err)
	}
	r := sr.(*reader)
	t.Cleanup(func() { r.Close() })
	return r
}

type collector struct{ values []string }

func (c *collector) Collect(v string) { c.values = append(c.values, v) }

// poll drives r like a source task until cond holds or r ends, waiting on
// Available when it is idle. It fails the test if cond does not hold
// within waitTimeout.
func poll(t testing.TB, r *reader, out *collector, cond func() bool) stream.PollStatus {
	t.Helper()
	deadline := time.After(waitTimeout)
	for !cond() {
		st, err := r.PollNext(out)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case st == stream.PollEnd:
			return st
		case st == stream.PollIdle && !cond():
			select {
			case <-r.Available():
			case <-deadline:
				t.Fatalf("reader idle for %v with %d records", waitTimeout, len(out.values))
			}
		}
	}
	return stream.PollMore
}

// readN reads until out has n records.
func readN(t testing.TB, r *reader, out *collector, n int) {
	t.Helper()
	if st := poll(t, r, out, func() bool { return len(out.values) >= n }); st == stream.PollEnd && len(out.values) < n {
		t.Fatalf("reader ended after %d records, want %d", len(out.values), n)
	}
}

// readToEnd reads a bounded reader to its end.
func readToEnd(t testing.TB, r *reader) []string {
	t.Helper()
	var out collector
	poll(t, r, &out, func() bool { return false })
	return out.values
}

// values returns prefix-0 .. prefix-(n-1).
func values(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%d", prefix, i)
	}
	return out
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

func equalSets(t testing.TB, what string, got, want []string) {
	t.Helper()
	g, w := sorted(got), sorted(want)
	if !slices.Equal(g, w) {
		t.Fatalf("%s: got %d records, want %d\n got %s\nwant %s", what, len(g), len(w), abbrev(g), abbrev(w))
	}
}

func abbrev(s []string) string {
	if len(s) > 20 {
		return fmt.Sprintf("%q ... (%d more)", s[:20], len(s)-20)
	}
	return fmt.Sprintf("%q", s)
}

// syncedOffTheTask takes checkpoint 1 of cp as a task does while the
// cluster holds its answers to produce requests: SnapshotState must
// return with a produce request held, then during runs (the task going
// on, if not nil), and SyncSnapshot must return only once the answers are
// released. what names the records being produced in failures.
func (tc *testCluster) syncedOffTheTask(t *testing.T, cp stream.SnapshotSyncer, during func(), what string) {
	t.Helper()
	held := make(chan struct{}, 1)
	release := make(chan struct{})
	var released atomic.Bool
	tc.c.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		select {
		case held <- struct{}{}:
		default:
		}
		tc.c.SleepControl(func() { <-release })
		return nil, nil, false
	})
	snapshotted := make(chan error, 1)
	go func() {
		_, err := cp.SnapshotState(1)
		snapshotted <- err
	}()
	returned(t, snapshotted, "SnapshotState waits for the brokers to acknowledge the "+what)
	select {
	case <-held:
	case <-time.After(waitTimeout):
		t.Fatalf("no produce request for the %s after the barrier", what)
	}
	if during != nil {
		during()
	}
	synced := make(chan error, 1)
	go func() {
		err := cp.SyncSnapshot(1)
		if err == nil && !released.Load() {
			err = fmt.Errorf("SyncSnapshot returned before the brokers acknowledged the %s", what)
		}
		synced <- err
	}()
	// A SyncSnapshot that does not wait returns at once; one that waits
	// is still waiting after heldWindow, while the answers are held.
	select {
	case err := <-synced:
		t.Fatalf("SyncSnapshot returned (%v) while the brokers held their acknowledgement of the %s", err, what)
	case <-time.After(heldWindow):
	}
	released.Store(true)
	close(release)
	returned(t, synced, "SyncSnapshot did not return after the brokers acknowledged the "+what)
}

// heldWindow is how long syncedOffTheTask watches SyncSnapshot not return
// while the brokers' answers are held: a bound on the observation, not a
// synchronisation (a slow machine can only make the check weaker).
const heldWindow = 100 * time.Millisecond

// returned waits for a call's result on done, failing with it, or with
// stuck if it does not come within waitTimeout.
func returned(t *testing.T, done <-chan error, stuck string) {
	t.Helper()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(waitTimeout):
		t.Fatal(stuck)
	}
}
