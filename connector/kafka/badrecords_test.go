package kafka

import (
	"bytes"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	kafka "github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	weirv1 "github.com/weirstream/weir/api/proto/weir/v1"
	"github.com/weirstream/weir/internal/jobspec"
	"github.com/weirstream/weir/internal/minicluster"
	"github.com/weirstream/weir/stream"
)

func TestFormatCheck(t *testing.T) {
	for _, tc := range []struct {
		format format
		value  string
		bad    string // a part of the reason, "" for a good value
	}{
		{formatRaw, "\xff\xfe anything", ""},
		{formatText, "héllo", ""},
		{formatText, "", ""},
		{formatText, "ok\xffSECRET", "invalid byte at offset 2"},
		{formatJSON, `{"a": [1, 2, "x"]}`, ""},
		{formatJSON, ` 42 `, ""},
		{formatJSON, `{"a": SECRET}`, "syntax error at byte offset 7"},
		{formatJSON, `{"a": 1`, "not JSON"},
		{formatJSON, ``, "not JSON"},
	} {
		reason := tc.format.check([]byte(tc.value))
		switch {
		case tc.bad == "" && reason != "":
			t.Errorf("%v %q: %q, want valid", tc.format, tc.value, reason)
		case tc.bad != "" && !strings.Contains(reason, tc.bad):
			t.Errorf("%v %q: reason %q, want one with %q", tc.format, tc.value, reason, tc.bad)
		case strings.Contains(reason, "SECRET"):
			t.Errorf("%v: reason %q holds the payload", tc.format, reason)
		}
	}
}

func TestSourceBadRecordParameters(t *testing.T) {
	base := Source{Brokers: []string{"b:9092"}, Topic: "in"}
	for _, tc := range []struct {
		mod  func(*Source)
		want string
	}{
		{func(s *Source) { s.Format = "avro" }, `format "avro": want "raw", "text" or "json"`},
		{func(s *Source) { s.OnError = "ignore" }, `on_error "ignore": want "fail", "skip" or "dead-letter"`},
		{func(s *Source) { s.OnError = OnErrorDeadLetter }, `on_error "dead-letter" needs a dead_letter_topic`},
		{func(s *Source) { s.DeadLetterTopic = "dlq" }, `dead_letter_topic "dlq" is set but on_error is "fail"`},
		{func(s *Source) { s.OnError, s.DeadLetterTopic = OnErrorDeadLetter, "in" }, `dead_letter_topic "in" is the topic the source reads`},
		{func(s *Source) { s.Format, s.OnError = FormatJSON, OnErrorSkip }, ""},
		{func(s *Source) { s.Format, s.OnError, s.DeadLetterTopic = FormatText, OnErrorDeadLetter, "dlq" }, ""},
	} {
		s := base
		tc.mod(&s)
		err := s.Validate()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%+v: %v", s, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%+v: error %v, want one with %q", s, err, tc.want)
		}
	}
}

// The sink of the job tests: records in memory, per name.
type memorySink struct {
	Name string `json:"name"`
}

var memorySinks struct {
	sync.Mutex
	m map[string][]string
}

func (s memorySink) CreateWriter(*stream.SinkContext) (stream.SinkWriter[string], error) {
	return memoryWriter{name: s.Name}, nil
}

type memoryWriter struct{ name string }

func (w memoryWriter) Write(v string) error {
	memorySinks.Lock()
	defer memorySinks.Unlock()
	if memorySinks.m == nil {
		memorySinks.m = map[string][]string{}
	}
	memorySinks.m[w.name] = append(memorySinks.m[w.name], v)
	return nil
}
func (memoryWriter) Finish() error { return nil }
func (memoryWriter) Close() error  { return nil }

func memoryOutput(name string) []string {
	memorySinks.Lock()
	defer memorySinks.Unlock()
	return append([]string(nil), memorySinks.m[name]...)
}

func init() { stream.RegisterSink[string]("kafka-test.memory", memorySink{}) }

// syncBuffer is a log destination for the job's logs.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestBadRecordPolicies runs a JSON topic with 0.1 % undecodable records
// through a job on a mini cluster under each policy, with a restart
// strategy that would allow restarts: "fail" fails the job at once,
// naming the first bad record; "skip" and "dead-letter" finish with
// every good record, count the bad ones, and the dead-letter topic holds
// each bad record once with its origin in headers. No job restarts, and
// no payload of a bad record reaches the logs or the job's status.
func TestBadRecordPolicies(t *testing.T) {
	const partitions, perPartition = 2, 5000
	for _, policy := range []string{OnErrorFail, OnErrorSkip, OnErrorDeadLetter} {
		t.Run(policy, func(t *testing.T) {
			tc := newTestCluster(t, partitions, "in", "dlq")
			var good []string
			type origin struct {
				partition int32
				offset    int64
			}
			bad := map[origin]string{}
			for p := range int32(partitions) {
				vs := make([]string, perPartition)
				for i := range vs {
					if i%1000 == 999 { // 0.1 %
						vs[i] = fmt.Sprintf(`{"n": POISON-%d-%d`, p, i)
						bad[origin{p, int64(i)}] = vs[i]
					} else {
						vs[i] = fmt.Sprintf(`{"n": %d, "p": %d}`, i, p)
						good = append(good, vs[i])
					}
				}
				tc.produce(t, "in", p, vs...)
			}

			var logs syncBuffer
			env := stream.NewEnv()
			env.SetParallelism(2)
			env.SetConfig("execution.checkpointing.interval", "100ms")
			env.SetConfig("restart-strategy.type", "fixed-delay")
			env.SetConfig("restart-strategy.fixed-delay.attempts", "5")
			env.SetConfig("restart-strategy.fixed-delay.delay", "10ms")
			src := Source{Brokers: tc.brokers, Topic: "in", StopAtLatest: true, FetchBytes: 16 << 10, Format: FormatJSON, OnError: policy}
			if policy == OnErrorDeadLetter {
				src.DeadLetterTopic = "dlq"
			}
			sink := "bad-records-" + policy
			stream.FromSource[string](env, src, "read").SinkTo(memorySink{Name: sink}, "collect")
			g, err := env.Graph()
			if err != nil {
				t.Fatal(err)
			}
			job := runJob(t, g, &logs)

			if n := job.GetJob().GetRestarts(); n != 0 {
				t.Errorf("the job restarted %d times, want none", n)
			}
			status := job.GetJob().GetStatusMessage()
			if strings.Contains(status, "POISON") || strings.Contains(logs.String(), "POISON") {
				t.Errorf("a bad record's payload is in the job's status or the logs")
			}
			counters := map[string]int64{}
			for _, task := range job.GetTasks() {
				for k, v := range task.GetMetrics().GetCounters() {
					counters[k] += v
				}
			}

			if policy == OnErrorFail {
				if st := job.GetJob().GetStatus(); st != weirv1.JobStatus_JOB_STATUS_FAILED {
					t.Fatalf("job ended %v, want FAILED", st)
				}
				if !strings.Contains(status, `kafka source: topic "in" partition `) || !strings.Contains(status, " offset 999: the value is not JSON") {
					t.Fatalf("status %q does not name the first bad record (offset 999 of a partition)", status)
				}
				return
			}
			if st := job.GetJob().GetStatus(); st != weirv1.JobStatus_JOB_STATUS_FINISHED {
				t.Fatalf("job ended %v (%s), want FINISHED", st, status)
			}
			equalSets(t, "output", memoryOutput(sink), good)
			counter := map[string]string{OnErrorSkip: CounterSkipped, OnErrorDeadLetter: CounterDeadLettered}[policy]
			if counters[counter] != int64(len(bad)) {
				t.Errorf("counter %s = %d, want %d (counters %v)", counter, counters[counter], len(bad), counters)
			}
			if policy != OnErrorDeadLetter {
				return
			}
			letters := readAll(t, tc, "dlq", partitions)
			if len(letters) != len(bad) {
				t.Fatalf("the dead-letter topic holds %d records, want %d", len(letters), len(bad))
			}
			for _, r := range letters {
				h := map[string]string{}
				for _, kv := range r.Headers {
					h[kv.Key] = string(kv.Value)
				}
				p, _ := strconv.Atoi(h[HeaderSourcePartition])
				off, _ := strconv.ParseInt(h[HeaderSourceOffset], 10, 64)
				want, ok := bad[origin{int32(p), off}]
				switch {
				case h[HeaderSourceTopic] != "in" || !ok:
					t.Fatalf("dead letter with headers %v names no bad record", h)
				case string(r.Value) != want:
					t.Fatalf("dead letter of partition %d offset %d has value %q, want %q", p, off, r.Value, want)
				case !strings.HasPrefix(h[HeaderError], "the value is not JSON"):
					t.Fatalf("dead letter header %s = %q", HeaderError, h[HeaderError])
				}
				delete(bad, origin{int32(p), off})
			}
		})
	}
}

// runJob runs g on a mini cluster of one taskmanager with two slots,
// logging to logs, and returns the ended job.
func runJob(t *testing.T, g *weirv1.JobGraph, logs *syncBuffer) *weirv1.GetJobResponse {
	t.Helper()
	ctx := t.Context()
	c, err := minicluster.Start(ctx, minicluster.Options{TaskManagers: 1, Slots: 2, BufferTimeout: 10 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(logs, nil))})
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
	return waitJob(t, client, resp.GetJobId())
}

// A YAML job spec reads a JSON topic, skipping bad records, and writes to
// another topic exactly once.
func TestJobSpecKafka(t *testing.T) {
	tc := newTestCluster(t, 2, "in", "out")
	var good []string
	for p := range int32(2) {
		vs := values(fmt.Sprintf(`{"p": %d, "i": "x`, p), 1000)
		for i := range vs {
			if i%100 != 50 {
				vs[i] += `"}`
				good = append(good, vs[i])
			}
		}
		tc.produce(t, "in", p, vs...)
	}
	spec := fmt.Sprintf(`
name: kafka-copy
parallelism: 2
config: {execution.checkpointing.interval: 100ms}
operators:
  - id: read
    source: weir.kafka.source
    params: {brokers: [%[1]q], topic: in, stop_at_latest: true, format: json, on_error: skip}
  - id: write
    sink: weir.kafka.sink
    input: read
    params: {brokers: [%[1]q], topic: out, semantic: exactly-once}
`, tc.brokers[0])
	g, err := jobspec.Parse([]byte(spec))
	if err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	job := runJob(t, g, &logs)
	if st := job.GetJob().GetStatus(); st != weirv1.JobStatus_JOB_STATUS_FINISHED {
		t.Fatalf("job ended %v: %s", st, job.GetJob().GetStatusMessage())
	}
	equalSets(t, "out", tc.readCommitted(t, "out", 2), good)

	_, err = jobspec.Parse([]byte(strings.Replace(spec, "on_error: skip", "on_error: ignore", 1)))
	if err == nil || !strings.Contains(err.Error(), `on_error "ignore"`) {
		t.Fatalf("a spec with on_error ignore: %v", err)
	}
}

// waitJob polls the job's status until it ends.
func waitJob(t *testing.T, client weirv1.JobManagerServiceClient, id string) *weirv1.GetJobResponse {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		resp, err := client.GetJob(t.Context(), &weirv1.GetJobRequest{JobId: id})
		if err != nil {
			t.Fatal(err)
		}
		switch resp.GetJob().GetStatus() {
		case weirv1.JobStatus_JOB_STATUS_FINISHED, weirv1.JobStatus_JOB_STATUS_FAILED, weirv1.JobStatus_JOB_STATUS_CANCELED:
			return resp
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s did not end within %v: %v %s", id, waitTimeout, resp.GetJob().GetStatus(), resp.GetJob().GetStatusMessage())
		}
		time.Sleep(20 * time.Millisecond) // polling a remote status, not synchronising
	}
}

// readAll returns every record of topic (read_uncommitted), reading each
// partition to its end offset.
func readAll(t *testing.T, tc *testCluster, topic string, partitions int32) []*kgo.Record {
	t.Helper()
	offsets := map[int32]kgo.Offset{}
	for p := range partitions {
		offsets[p] = kgo.NewOffset().AtStart()
	}
	ends := tc.offsets(t, topic, partitions, kafka.ReadUncommitted)
	cl := tc.client(t, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: offsets}))
	var out []*kgo.Record
	next := map[int32]int64{}
	ctx := testContext(t)
	done := func() bool {
		for p := range partitions {
			if next[p] < ends[p] {
				return false
			}
		}
		return true
	}
	for !done() {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("reading %s: %v (have %d records)", topic, err, len(out))
		}
		fs.EachRecord(func(r *kgo.Record) {
			out = append(out, r)
			next[r.Partition] = r.Offset + 1
		})
	}
	return out
}

// TestDeadLettersSyncedOffTheTask holds the brokers' answers to produce
// requests: the source's SnapshotState returns with a dead letter still
// unacknowledged, and SyncSnapshot, which the checkpoint waits for,
// returns only once the dead letter is in its topic.
func TestDeadLettersSyncedOffTheTask(t *testing.T) {
	tc := newTestCluster(t, 1, "in", "dlq")
	tc.produce(t, "in", 0, `{"n": 1}`, `{"n": POISON`, `{"n": 2}`)
	r := newReader(t, Source{Brokers: tc.brokers, Topic: "in", Format: FormatJSON, OnError: OnErrorDeadLetter, DeadLetterTopic: "dlq"}, 0, 1, nil)
	var out collector
	readN(t, r, &out, 2)

	tc.syncedOffTheTask(t, r, nil, "dead letter")
	if n := tc.offsets(t, "dlq", 1, kafka.ReadUncommitted)[0]; n != 1 {
		t.Errorf("the dead-letter topic holds %d records after SyncSnapshot, want 1", n)
	}
}
