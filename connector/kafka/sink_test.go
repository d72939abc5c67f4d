package kafka

import (
	"fmt"
	"runtime"
	"slices"
	"strings"
	"testing"

	kafka "github.com/segmentio/kafka-go"

	"github.com/weirstream/weir/internal/clock"
	"github.com/weirstream/weir/stream"
)

func TestSinkValidate(t *testing.T) {
	ok := Sink{Brokers: []string{"localhost:9092"}, Topic: "t"}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		change func(*Sink)
		want   string
	}{
		{func(s *Sink) { s.Brokers = nil }, "brokers is empty"},
		{func(s *Sink) { s.Brokers = []string{"a:1,b:2"} }, "brokers[0]"},
		{func(s *Sink) { s.Topic = "" }, "topic is empty"},
		{func(s *Sink) { s.Semantic = "twice" }, `semantic "twice"`},
		{func(s *Sink) { s.TransactionTimeout = "forever" }, `transaction_timeout "forever"`},
		{func(s *Sink) { s.TransactionTimeout = "10ms" }, `transaction_timeout "10ms"`},
		{func(s *Sink) { s.BatchBytes = -1 }, "batch_bytes -1"},
		{func(s *Sink) { s.BatchBytes = 10 }, "batch_bytes 10"},
	} {
		s := ok
		tc.change(&s)
		err := s.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: got %v, want an error with %q", s, err, tc.want)
		}
	}
}

// newWriter returns the writer of subtask i of p in a job checkpointing in
// mode checkpointing, closed when t ends.
func newWriter(t testing.TB, s Sink, i, p int, checkpointing string) *writer {
	t.Helper()
	info := taskInfo(i, p, clock.Real{})
	info.Checkpointing = checkpointing
	sw, err := s.CreateWriter(&stream.SinkContext{TaskInfo: info})
	if err != nil {
		t.Fatal(err)
	}
	w := sw.(*writer)
	t.Cleanup(func() { w.Close() })
	return w
}

func write(t testing.TB, w *writer, vs ...string) {
	t.Helper()
	for _, v := range vs {
		if err := w.Write(v); err != nil {
			t.Fatal(err)
		}
	}
}

// snapshot takes w's part of checkpoint id as a task does: SnapshotState
// at the barrier, then SyncSnapshot before the checkpoint is acknowledged.
func snapshot(t testing.TB, w *writer, id int64) [][]byte {
	t.Helper()
	state, err := checkpoint(w, id)
	if err != nil {
		t.Fatal(err)
	}
	return state
}

func checkpoint(w *writer, id int64) ([][]byte, error) {
	state, err := w.SnapshotState(id)
	if err != nil {
		return nil, err
	}
	return state, w.SyncSnapshot(id)
}

func notify(t testing.TB, w *writer, id int64) {
	t.Helper()
	if err := w.NotifyCheckpointComplete(id); err != nil {
		t.Fatal(err)
	}
}

// crash drops w the way a killed process does: its senders stop and its
// connections close, but nothing is flushed, committed or aborted.
func crash(w *writer) {
	if w.cancel != nil {
		w.cancel()
	}
	w.wg.Wait()
	w.txn = nil
	w.cl.close()
}

func TestSinkSemanticDefault(t *testing.T) {
	s := Sink{Brokers: []string{"localhost:9092"}, Topic: "t"}
	for mode, want := range map[string]bool{"": false, "AT_LEAST_ONCE": false, "EXACTLY_ONCE": true} {
		if got := newWriter(t, s, 0, 1, mode).exactlyOnce; got != want {
			t.Errorf("checkpointing %q: exactly once %v, want %v", mode, got, want)
		}
	}
	s.Semantic = ExactlyOnce
	info := taskInfo(0, 1, nil)
	if _, err := s.CreateWriter(&stream.SinkContext{TaskInfo: info}); err == nil || !strings.Contains(err.Error(), "needs a job that checkpoints") {
		t.Errorf("exactly once without checkpoints: %v", err)
	}
	if w := newWriter(t, s, 3, 4, "AT_LEAST_ONCE"); w.txnID(5) != "job-3-5" {
		t.Errorf("transactional ID %q, want job-3-5", w.txnID(5))
	}
}

// TestSinkAtLeastOnce writes records from two subtasks, small batches
// spreading them over the partitions, and checks every record is in the
// topic after Finish.
func TestSinkAtLeastOnce(t *testing.T) {
	const partitions = 3
	tc := newTestCluster(t, partitions, "t")
	var want []string
	for i := range 2 {
		w := newWriter(t, Sink{Brokers: tc.brokers, Topic: "t", BatchBytes: 1024}, i, 2, "")
		vs := values(fmt.Sprintf("s%d", i), 5000)
		write(t, w, vs[:2000]...)
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		write(t, w, vs[2000:]...)
		if state := snapshot(t, w, 1); state != nil {
			t.Errorf("at-least-once state: %d elements, want none", len(state))
		}
		if err := w.Finish(); err != nil {
			t.Fatal(err)
		}
		want = append(want, vs...)
	}
	got := tc.readCommitted(t, "t", partitions)
	equalSets(t, "records in the topic", got, want)
	for p, off := range tc.offsets(t, "t", partitions, kafka.ReadUncommitted) {
		if off < 1000 {
			t.Errorf("partition %d has %d records: the sink does not spread records", p, off)
		}
	}
}

// TestSinkExactlyOnceVisibility checks records stay invisible to
// read_committed consumers until their checkpoint completes.
func TestSinkExactlyOnceVisibility(t *testing.T) {
	const partitions = 2
	tc := newTestCluster(t, partitions, "t")
	w := newWriter(t, Sink{Brokers: tc.brokers, Topic: "t", BatchBytes: 512}, 0, 1, "EXACTLY_ONCE")
	first := values("first", 100)
	write(t, w, first...)
	snapshot(t, w, 1)
	// The next checkpoint's records go to a new transaction.
	second := values("second", 50)
	write(t, w, second...)
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}

	hw := tc.offsets(t, "t", partitions, kafka.ReadUncommitted)
	lso := tc.offsets(t, "t", partitions, kafka.ReadCommitted)
	for p := range int32(partitions) {
		if hw[p] == 0 || lso[p] != 0 {
			t.Errorf("partition %d before the checkpoint completes: high watermark %d, last stable offset %d; want records, none stable",
				p, hw[p], lso[p])
		}
	}
	r := newReader(t, Source{Brokers: tc.brokers, Topic: "t", StopAtLatest: true}, 0, 1, nil)
	if got := readToEnd(t, r); len(got) != 0 {
		t.Errorf("read_committed before the checkpoint completes: %d records", len(got))
	}

	notify(t, w, 1)
	notify(t, w, 1) // repeated: nothing left to commit
	lso = tc.offsets(t, "t", partitions, kafka.ReadCommitted)
	var stable int64
	for _, off := range lso {
		stable += off
	}
	// The second transaction still holds back the partitions it wrote
	// to, so read the first checkpoint's records up to the stable offsets.
	r = newReader(t, Source{Brokers: tc.brokers, Topic: "t", StopAtLatest: true}, 0, 1, nil)
	equalSets(t, "after checkpoint 1 completed", readToEnd(t, r), first)

	snapshot(t, w, 2)
	notify(t, w, 2)
	if err := w.Finish(); err != nil {
		t.Fatal(err)
	}
	equalSets(t, "after checkpoint 2 completed", tc.readCommitted(t, "t", partitions), append(first, second...))
	if stable == 0 {
		t.Error("no stable offsets after checkpoint 1")
	}
}

// TestSinkExactlyOnceRecovery runs a writer through completed, pending and
// open transactions, crashes it, and restores a new writer from the last
// completed checkpoint: a read_committed consumer then sees the records of
// completed checkpoints once and none of the others.
func TestSinkExactlyOnceRecovery(t *testing.T) {
	const partitions = 3
	tc := newTestCluster(t, partitions, "t")
	s := Sink{Brokers: tc.brokers, Topic: "t", BatchBytes: 1024}

	a := newWriter(t, s, 0, 1, "EXACTLY_ONCE")
	write(t, a, values("cp1", 300)...)
	snapshot(t, a, 1)
	notify(t, a, 1) // committed by the running writer
	write(t, a, values("cp2", 300)...)
	state2 := snapshot(t, a, 2) // checkpoint 2 completes, but a crashes before the notification
	write(t, a, values("cp3", 300)...)
	snapshot(t, a, 3) // pre-committed; checkpoint 3 never completes
	write(t, a, values("open", 300)...)
	if err := a.Flush(); err != nil {
		t.Fatal(err)
	}
	crash(a)

	b := newWriter(t, s, 0, 1, "EXACTLY_ONCE")
	if err := b.RestoreState(state2); err != nil {
		t.Fatal(err)
	}
	write(t, b, values("cp4", 300)...)
	snapshot(t, b, 4)
	notify(t, b, 4)
	want := slices.Concat(values("cp1", 300), values("cp2", 300), values("cp4", 300))
	equalSets(t, "after the recovery", tc.readCommitted(t, "t", partitions), want)

	// A second restore from the same checkpoint commits checkpoint 2's
	// transaction again, which is harmless, and aborts b's open one.
	write(t, b, values("open2", 10)...)
	if err := b.Flush(); err != nil {
		t.Fatal(err)
	}
	crash(b)
	c := newWriter(t, s, 0, 1, "EXACTLY_ONCE")
	if err := c.RestoreState(state2); err != nil {
		t.Fatal(err)
	}
	if err := c.Finish(); err != nil {
		t.Fatal(err)
	}
	equalSets(t, "after the second recovery", tc.readCommitted(t, "t", partitions), want)
}

// TestSinkExactlyOnceRescaled restores the state of three subtasks into
// two: pending transactions of every old subtask are committed, and
// subtask 0 aborts the lingering transactions of the subtask that is gone.
func TestSinkExactlyOnceRescaled(t *testing.T) {
	const partitions = 2
	tc := newTestCluster(t, partitions, "t")
	s := Sink{Brokers: tc.brokers, Topic: "t", BatchBytes: 1024}
	var union [][]byte
	var want []string
	for i := range 3 {
		w := newWriter(t, s, i, 3, "EXACTLY_ONCE")
		vs := values(fmt.Sprintf("s%d", i), 100)
		write(t, w, vs...)
		union = append(union, snapshot(t, w, 1)...)
		want = append(want, vs...)
		write(t, w, values(fmt.Sprintf("open%d", i), 100)...)
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		crash(w)
	}
	for i := range 2 {
		w := newWriter(t, s, i, 2, "EXACTLY_ONCE")
		if err := w.RestoreState(union); err != nil {
			t.Fatal(err)
		}
	}
	equalSets(t, "after rescaling", tc.readCommitted(t, "t", partitions), want)
}

// TestSinkRecordTooLarge checks a record the broker refuses fails the
// writer with an error that names the topic and the size, and not the
// payload.
func TestSinkRecordTooLarge(t *testing.T) {
	tc := newTestCluster(t, 1, "t")
	for _, semantic := range []string{AtLeastOnce, ExactlyOnce} {
		w := newWriter(t, Sink{Brokers: tc.brokers, Topic: "t", Semantic: semantic}, 0, 1, "EXACTLY_ONCE")
		huge := strings.Repeat("secret!", 300_000)
		write(t, w, "small", huge)
		_, err := checkpoint(w, 1)
		if err == nil {
			t.Fatalf("%s: no error", semantic)
		}
		msg := err.Error()
		if !strings.Contains(msg, `"t"`) || !strings.Contains(msg, fmt.Sprint(len(huge))) || strings.Contains(msg, "secret!") {
			t.Errorf("%s: error %q should name the topic and the size %d, and not the payload", semantic, msg, len(huge))
		}
		if err := w.Write("more"); err == nil {
			t.Errorf("%s: Write after a failure succeeded", semantic)
		}
	}
}

// TestSinkClose checks Close stops the senders.
func TestSinkClose(t *testing.T) {
	tc := newTestCluster(t, 4, "t")
	w := newWriter(t, Sink{Brokers: tc.brokers, Topic: "t"}, 0, 1, "EXACTLY_ONCE")
	write(t, w, values("x", 100)...)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1<<20)
	if stacks := string(buf[:runtime.Stack(buf, true)]); strings.Contains(stacks, "connector/kafka.(*writer)") {
		t.Errorf("goroutines of the writer left after Close:\n%s", stacks)
	}
	// Close aborted the open transaction: nothing holds the partitions.
	equalSets(t, "after Close", tc.readCommitted(t, "t", 4), nil)
}

func TestSinkElements(t *testing.T) {
	for _, e := range []any{
		pendingTxn{checkpoint: 1, transactional: "job-0-0", producerID: 0, epoch: 0},
		pendingTxn{checkpoint: 1 << 40, transactional: "p-3-9", producerID: 1<<62 + 5, epoch: 1<<15 - 1},
		sequenceElement{prefix: "job", subtask: 2, parallelism: 3, next: 17},
	} {
		var b []byte
		switch e := e.(type) {
		case pendingTxn:
			b = e.encode()
		case sequenceElement:
			b = e.encode()
		}
		got, err := decodeSinkElement(b)
		if err != nil || got != e {
			t.Errorf("%+v: decoded %+v, %v", e, got, err)
		}
	}
	good := sequenceElement{prefix: "job", subtask: 2, parallelism: 3, next: 17}.encode()
	bad := sequenceElement{prefix: "job", subtask: 3, parallelism: 3}.encode()
	for _, b := range [][]byte{nil, {9}, good[:len(good)-1], append(slices.Clone(good), 0), bad} {
		if _, err := decodeSinkElement(b); err == nil {
			t.Errorf("%x: decoded", b)
		}
	}
}

// TestSinkSnapshotDoesNotWaitForBrokers holds the brokers' answers to
// produce requests: SnapshotState returns at once and the task goes on
// writing, while SyncSnapshot, which the checkpoint waits for, returns
// only once the records before the barrier are acknowledged.
func TestSinkSnapshotDoesNotWaitForBrokers(t *testing.T) {
	for _, semantic := range []string{AtLeastOnce, ExactlyOnce} {
		t.Run(semantic, func(t *testing.T) {
			const partitions = 2
			tc := newTestCluster(t, partitions, "t")
			w := newWriter(t, Sink{Brokers: tc.brokers, Topic: "t", Semantic: semantic}, 0, 1, "EXACTLY_ONCE")
			write(t, w, values("before", 100)...)

			tc.syncedOffTheTask(t, w, func() { write(t, w, values("after", 10)...) }, "records")
			var sent int64
			for _, off := range tc.offsets(t, "t", partitions, kafka.ReadUncommitted) {
				sent += off
			}
			if sent < 100 {
				t.Errorf("%d records in the topic after SyncSnapshot, want the 100 before the barrier", sent)
			}
			notify(t, w, 1)
			snapshot(t, w, 2)
			notify(t, w, 2)
			if err := w.Finish(); err != nil {
				t.Fatal(err)
			}
			equalSets(t, "records in the topic", tc.readCommitted(t, "t", partitions), append(values("before", 100), values("after", 10)...))
		})
	}
}
