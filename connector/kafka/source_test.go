package kafka

import (
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/weirstream/weir/internal/clock"
	"github.com/weirstream/weir/stream"
)

func TestSourceValidate(t *testing.T) {
	ok := Source{Brokers: []string{"localhost:9092"}, Topic: "t"}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		change func(*Source)
		want   string
	}{
		{func(s *Source) { s.Brokers = nil }, "brokers is empty"},
		{func(s *Source) { s.Brokers = []string{""} }, "brokers[0]"},
		{func(s *Source) { s.Topic = "" }, "topic is empty"},
		{func(s *Source) { s.StartFrom = "beginning" }, `start_from "beginning"`},
		{func(s *Source) { s.StartFrom = "timestamp:yesterday" }, `start_from "timestamp:yesterday"`},
		{func(s *Source) { s.StartFrom = "timestamp:-5" }, `start_from "timestamp:-5"`},
		{func(s *Source) { s.StartFrom = "committed" }, `start_from "committed" needs a group`},
		{func(s *Source) { s.Isolation = "serializable" }, `isolation "serializable"`},
		{func(s *Source) { s.MaxWait = "fast" }, `max_wait "fast"`},
		{func(s *Source) { s.MaxWait = "0s" }, `max_wait "0s"`},
		{func(s *Source) { s.FetchBytes = -1 }, "fetch_bytes -1"},
	} {
		s := ok
		tc.change(&s)
		err := s.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: got %v, want an error with %q", s, err, tc.want)
		}
	}
	for _, v := range []string{"", "earliest", "latest", "timestamp:0", "timestamp:1767225600000"} {
		s := ok
		s.StartFrom = v
		if err := s.Validate(); err != nil {
			t.Errorf("start_from %q: %v", v, err)
		}
	}
}

// TestAssignment checks that at parallelism 1, 2 and 3 the subtasks
// together read every partition exactly once, subtask p % parallelism
// reading partition p.
func TestAssignment(t *testing.T) {
	const partitions = 7
	tc := newTestCluster(t, partitions, "t")
	for p := range int32(partitions) {
		tc.produce(t, "t", p, values(fmt.Sprintf("p%d", p), 3)...)
	}
	src := Source{Brokers: tc.brokers, Topic: "t", StopAtLatest: true}
	for _, parallelism := range []int{1, 2, 3} {
		var all []string
		for i := range parallelism {
			got := readToEnd(t, newReader(t, src, i, parallelism, nil))
			for _, v := range got {
				p, _ := strconv.Atoi(strings.TrimPrefix(strings.Split(v, "-")[0], "p"))
				if p%parallelism != i {
					t.Errorf("parallelism %d: subtask %d read %q of partition %d", parallelism, i, v, p)
				}
			}
			all = append(all, got...)
		}
		var want []string
		for p := range partitions {
			want = append(want, values(fmt.Sprintf("p%d", p), 3)...)
		}
		equalSets(t, fmt.Sprintf("parallelism %d", parallelism), all, want)
	}
}

// TestSourceRestore snapshots a reader part way, produces more, and checks
// a reader restored from the snapshot reads exactly from the saved
// offsets: the two readers together read every record once.
func TestSourceRestore(t *testing.T) {
	const partitions = 3
	tc := newTestCluster(t, partitions, "t")
	var want []string
	for p := range int32(partitions) {
		vs := values(fmt.Sprintf("a%d", p), 200)
		tc.produce(t, "t", p, vs...)
		want = append(want, vs...)
	}
	src := Source{Brokers: tc.brokers, Topic: "t"}
	first := newReader(t, src, 0, 1, nil)
	var before collector
	readN(t, first, &before, 250)
	covered := len(before.values)
	state, err := first.SnapshotState(1)
	if err != nil {
		t.Fatal(err)
	}
	if len(state) != partitions {
		t.Fatalf("snapshot has %d elements, want one per partition (%d)", len(state), partitions)
	}
	// Records emitted after the snapshot belong to no checkpoint: a
	// restore reads them again.
	if covered < len(want) {
		readN(t, first, &before, covered+1)
	}
	first.Close()

	for p := range int32(partitions) {
		vs := values(fmt.Sprintf("b%d", p), 100)
		tc.produce(t, "t", p, vs...)
		want = append(want, vs...)
	}
	second := newReader(t, Source{Brokers: tc.brokers, Topic: "t", StopAtLatest: true}, 0, 1, nil)
	if err := second.RestoreState(state); err != nil {
		t.Fatal(err)
	}
	after := readToEnd(t, second)
	equalSets(t, "before the snapshot and after the restore", append(before.values[:covered:covered], after...), want)
}

// TestSourceRestoreRescaled restores the snapshots of two subtasks into
// three: each keeps the partitions it reads now.
func TestSourceRestoreRescaled(t *testing.T) {
	const partitions = 6
	tc := newTestCluster(t, partitions, "t")
	for p := range int32(partitions) {
		tc.produce(t, "t", p, values(fmt.Sprintf("p%d", p), 10)...)
	}
	src := Source{Brokers: tc.brokers, Topic: "t", StopAtLatest: true}
	var union [][]byte
	for i := range 2 {
		r := newReader(t, src, i, 2, nil)
		readToEnd(t, r)
		state, err := r.SnapshotState(1)
		if err != nil {
			t.Fatal(err)
		}
		union = append(union, state...)
	}
	for p := range int32(partitions) {
		tc.produce(t, "t", p, fmt.Sprintf("new%d", p))
	}
	var all []string
	for i := range 3 {
		r := newReader(t, src, i, 3, nil)
		if err := r.RestoreState(union); err != nil {
			t.Fatal(err)
		}
		if len(r.offsets) != 2 {
			t.Errorf("subtask %d of 3 kept %d partitions of the state, want 2", i, len(r.offsets))
		}
		all = append(all, readToEnd(t, r)...)
	}
	equalSets(t, "after rescaling", all, []string{"new0", "new1", "new2", "new3", "new4", "new5"})
}

func TestStartFrom(t *testing.T) {
	tc := newTestCluster(t, 2, "t")
	old := time.UnixMilli(1_700_000_000_000)
	recent := old.Add(time.Hour)
	for p := range int32(2) {
		tc.produceAt(t, "t", p, old, fmt.Sprintf("old%d", p))
		tc.produceAt(t, "t", p, recent, fmt.Sprintf("recent%d", p))
	}
	bounded := func(startFrom string) []string {
		src := Source{Brokers: tc.brokers, Topic: "t", StartFrom: startFrom, Group: "g", StopAtLatest: true}
		return readToEnd(t, newReader(t, src, 0, 1, nil))
	}
	equalSets(t, "earliest", bounded(""), []string{"old0", "recent0", "old1", "recent1"})
	equalSets(t, "latest", bounded("latest"), nil)
	equalSets(t, "timestamp between", bounded(fmt.Sprintf("timestamp:%d", old.Add(time.Minute).UnixMilli())), []string{"recent0", "recent1"})
	equalSets(t, "timestamp at the first", bounded(fmt.Sprintf("timestamp:%d", old.UnixMilli())), []string{"old0", "recent0", "old1", "recent1"})
	equalSets(t, "timestamp after all", bounded(fmt.Sprintf("timestamp:%d", recent.Add(time.Minute).UnixMilli())), nil)
	// The group has no committed offsets yet: earliest.
	equalSets(t, "committed, none", bounded("committed"), []string{"old0", "recent0", "old1", "recent1"})

	// Commit offsets through a checkpoint: after old0 and after recent1.
	src := Source{Brokers: tc.brokers, Topic: "t", Group: "g"}
	r := newReader(t, src, 0, 1, nil)
	var out collector
	readN(t, r, &out, 4)
	r.offsets[0] = 1 // as if only old0 had been emitted of partition 0
	if _, err := r.SnapshotState(7); err != nil {
		t.Fatal(err)
	}
	if err := r.NotifyCheckpointComplete(7); err != nil {
		t.Fatal(err)
	}
	fetch := kmsg.NewPtrOffsetFetchRequest()
	fetch.Group = "g"
	ctx := testContext(t)
	waitFor(t, "the committed offsets", func() bool {
		resp, err := fetch.RequestWith(ctx, tc.kgo)
		if err != nil {
			t.Fatal(err)
		}
		committed := map[int32]int64{}
		for _, topic := range resp.Topics {
			for _, p := range topic.Partitions {
				committed[p.Partition] = p.Offset
			}
		}
		return committed[0] == 1 && committed[1] == 2
	})
	equalSets(t, "committed", bounded("committed"), []string{"recent0"})

	// Latest, unbounded: only records produced after the start.
	r = newReader(t, Source{Brokers: tc.brokers, Topic: "t", StartFrom: "latest"}, 0, 1, nil)
	out = collector{}
	poll(t, r, &out, func() bool { return r.discovered })
	tc.produce(t, "t", 1, "new1")
	readN(t, r, &out, 1)
	equalSets(t, "latest, unbounded", out.values, []string{"new1"})
}

// waitFor polls cond every few milliseconds until it holds, failing after
// waitTimeout.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(waitTimeout)
	for !cond() {
		select {
		case <-deadline:
			t.Fatalf("waiting for %s: timed out after %v", what, waitTimeout)
		case <-time.After(5 * time.Millisecond): // the polling cadence
		}
	}
}

// TestReadCommitted checks read_committed skips the records of aborted
// transactions and transaction markers, and read_uncommitted does not.
func TestReadCommitted(t *testing.T) {
	tc := newTestCluster(t, 1, "t")
	tc.produceTxn(t, "t", 0, true, "c1", "c2")
	tc.produceTxn(t, "t", 0, false, "a1", "a2")
	tc.produce(t, "t", 0, "n1")
	tc.produceTxn(t, "t", 0, false, "a3")
	tc.produceTxn(t, "t", 0, true, "c3")

	src := Source{Brokers: tc.brokers, Topic: "t", StopAtLatest: true}
	if got, want := readToEnd(t, newReader(t, src, 0, 1, nil)), []string{"c1", "c2", "n1", "c3"}; !slices.Equal(got, want) {
		t.Errorf("read_committed: got %q, want %q", got, want)
	}
	src.Isolation = ReadUncommitted
	if got, want := readToEnd(t, newReader(t, src, 0, 1, nil)), []string{"c1", "c2", "a1", "a2", "n1", "a3", "c3"}; !slices.Equal(got, want) {
		t.Errorf("read_uncommitted: got %q, want %q", got, want)
	}

	// Restarting in the middle of an aborted transaction skips the rest
	// of it.
	src.Isolation = ""
	r := newReader(t, src, 0, 1, nil)
	if err := r.RestoreState([][]byte{offsetElement{kind: sourceOffset, topic: "t", partition: 0, offset: 4}.encode()}); err != nil {
		t.Fatal(err)
	}
	if got, want := readToEnd(t, r), []string{"n1", "c3"}; !slices.Equal(got, want) {
		t.Errorf("read_committed from offset 4: got %q, want %q", got, want)
	}
}

// TestReadCommittedWaitsForOpenTransaction checks a read_committed reader
// does not show the records of an open transaction, and shows them once
// it commits.
func TestReadCommittedWaitsForOpenTransaction(t *testing.T) {
	tc := newTestCluster(t, 1, "t")
	tc.produce(t, "t", 0, "before")
	txn := tc.client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.TransactionalID("open"))
	if err := txn.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := txn.ProduceSync(testContext(t), &kgo.Record{Topic: "t", Value: []byte("open")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	tc.produce(t, "t", 0, "after")

	// Bounded: up to the last stable offset, before the open transaction.
	got := readToEnd(t, newReader(t, Source{Brokers: tc.brokers, Topic: "t", StopAtLatest: true}, 0, 1, nil))
	if want := []string{"before"}; !slices.Equal(got, want) {
		t.Errorf("bounded: got %q, want %q", got, want)
	}
	r := newReader(t, Source{Brokers: tc.brokers, Topic: "t"}, 0, 1, nil)
	var out collector
	readN(t, r, &out, 1)
	if err := txn.EndTransaction(testContext(t), kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	readN(t, r, &out, 3)
	if want := []string{"before", "open", "after"}; !slices.Equal(out.values, want) {
		t.Errorf("unbounded: got %q, want %q", out.values, want)
	}
}

// TestDiscovery checks an unbounded reader picks up partitions created
// while it runs, from their earliest offset, at its discovery interval.
func TestDiscovery(t *testing.T) {
	tc := newTestCluster(t, 2, "t")
	clk := clock.NewManual(time.Unix(1_800_000_000, 0))
	// The transport refreshes its cached metadata every metadataTTL, and
	// gives up on a refresh after as long.
	src := Source{Brokers: tc.brokers, Topic: "t", StartFrom: "latest", metadataTTL: 100 * time.Millisecond}
	r := newReader(t, src, 1, 2, clk) // reads partitions 1, 3, ...
	var out collector
	poll(t, r, &out, func() bool { return r.discovered })

	req := kmsg.NewPtrCreatePartitionsRequest()
	topic := kmsg.NewCreatePartitionsRequestTopic()
	topic.Topic, topic.Count = "t", 4
	req.Topics = append(req.Topics, topic)
	req.TimeoutMillis = 5000
	ctx := testContext(t)
	resp, err := req.RequestWith(ctx, tc.kgo)
	if err != nil {
		t.Fatal(err)
	}
	if code := resp.Topics[0].ErrorCode; code != 0 {
		t.Fatalf("creating partitions: error code %d", code)
	}
	waitFor(t, "the new partitions in the reader's metadata", func() bool {
		ps, err := r.cl.partitions(ctx, "t")
		return err == nil && len(ps) == 4
	})
	tc.produce(t, "t", 2, "p2") // subtask 0's
	tc.produce(t, "t", 3, "p3")

	// Advancing the clock fires the discovery ticker, unless the manager
	// has not created it yet: advance until the partition is assigned.
	deadline := time.Now().Add(waitTimeout)
	for len(r.offsets) < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("partition 3 not assigned after %v", waitTimeout)
		}
		clk.Advance(DiscoveryInterval)
		select {
		case <-r.Available():
		case <-time.After(10 * time.Millisecond): // the cadence of advances
		}
		if _, err := r.PollNext(&out); err != nil {
			t.Fatal(err)
		}
	}
	readN(t, r, &out, 1)
	if want := []string{"p3"}; !slices.Equal(out.values, want) {
		t.Errorf("got %q, want %q", out.values, want)
	}
}

// TestSourceMissingTopic checks a reader of a topic that does not exist
// fails with an error naming the topic.
func TestSourceMissingTopic(t *testing.T) {
	tc := newTestCluster(t, 1, "t")
	r := newReader(t, Source{Brokers: tc.brokers, Topic: "missing"}, 0, 1, nil)
	var out collector
	deadline := time.After(waitTimeout)
	for {
		st, err := r.PollNext(&out)
		if err != nil {
			if !strings.Contains(err.Error(), `"missing"`) {
				t.Errorf("error %q does not name the topic", err)
			}
			return
		}
		if st != stream.PollIdle {
			t.Fatalf("PollNext: %v", st)
		}
		select {
		case <-r.Available():
		case <-deadline:
			t.Fatal("no error")
		}
	}
}

// TestSourceClose checks Close stops every goroutine of the reader.
func TestSourceClose(t *testing.T) {
	tc := newTestCluster(t, 3, "t")
	for p := range int32(3) {
		tc.produce(t, "t", p, values("x", 5000)...)
	}
	r := newReader(t, Source{Brokers: tc.brokers, Topic: "t", Group: "g", FetchBytes: 4096}, 0, 1, nil)
	var out collector
	readN(t, r, &out, 10) // the fetchers are now blocked on the full queue
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1<<20)
	stacks := string(buf[:runtime.Stack(buf, true)])
	if strings.Contains(stacks, "connector/kafka.(*reader)") {
		t.Errorf("goroutines of the reader left after Close:\n%s", stacks)
	}
}

func TestOffsetElements(t *testing.T) {
	for _, e := range []offsetElement{
		{kind: sourceOffset, topic: "t", partition: 0, offset: 0},
		{kind: sourceOffset, topic: "a.b", partition: 1<<31 - 1, offset: 1 << 60},
		{kind: sourceUnassigned, topic: "t"},
	} {
		got, err := decodeOffsetElement(e.encode())
		if err != nil || got != e {
			t.Errorf("%+v: decoded %+v, %v", e, got, err)
		}
	}
	good := offsetElement{kind: sourceOffset, topic: "t", partition: 2, offset: 9}.encode()
	for _, b := range [][]byte{nil, {9}, good[:len(good)-1], append(slices.Clone(good), 0)} {
		if _, err := decodeOffsetElement(b); err == nil {
			t.Errorf("%x: decoded", b)
		}
	}
}
