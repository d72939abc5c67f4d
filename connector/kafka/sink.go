package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"sync"
	"time"

	kafka "github.com/segmentio/kafka-go"

	"github.com/weirstream/weir/internal/clock"
	"github.com/weirstream/weir/internal/invariant"
	"github.com/weirstream/weir/stream"
)

const (
	// DefaultBatchBytes is the record batch size of a Sink whose
	// BatchBytes is 0. Brokers refuse batches over message.max.bytes
	// (1 MiB by default).
	DefaultBatchBytes = 512 << 10
	// DefaultTransactionTimeout is the transaction timeout of a Sink whose
	// TransactionTimeout is empty: the default maximum of Kafka brokers
	// (transaction.max.timeout.ms).
	DefaultTransactionTimeout = 15 * time.Minute

	// deliveryTimeout bounds the retries of one produce request, and of
	// the transaction requests.
	deliveryTimeout = 2 * time.Minute
	// maxInFlight bounds the record batches a writer has handed to its
	// senders and not had acknowledged, across partitions.
	maxInFlight = 8
)

func init() { stream.RegisterSink[string]("weir.kafka.sink", Sink{}) }

// The values of Sink.Semantic.
const (
	AtLeastOnce = "at-least-once"
	ExactlyOnce = "exactly-once"
)

// Sink writes records as the values of records of a Kafka topic, without
// keys. Its fields are the job parameters.
type Sink struct {
	// Brokers are the bootstrap brokers, host:port.
	Brokers []string `json:"brokers"`
	// Topic is the topic to write; it must exist.
	Topic string `json:"topic"`
	// Semantic is AtLeastOnce or ExactlyOnce. Empty means ExactlyOnce in a
	// job with EXACTLY_ONCE checkpointing and AtLeastOnce otherwise.
	// ExactlyOnce needs a job that checkpoints: records become visible to
	// read_committed consumers when the checkpoint after them completes.
	Semantic string `json:"semantic,omitempty"`
	// TransactionalIDPrefix starts the transactional IDs of ExactlyOnce,
	// <prefix>-<subtask>-<n>; empty means the job ID. Jobs that run at the
	// same time must not share a prefix: they would fence each other.
	TransactionalIDPrefix string `json:"transactional_id_prefix,omitempty"`
	// TransactionTimeout is the transaction timeout of ExactlyOnce, as a
	// duration; empty means DefaultTransactionTimeout. The broker aborts a
	// transaction that lives longer, so it must exceed the time from a
	// checkpoint barrier to its completion, including a recovery. It may
	// not exceed the broker's transaction.max.timeout.ms.
	TransactionTimeout string `json:"transaction_timeout,omitempty"`
	// BatchBytes is the size of the record batches sent to a partition;
	// 0 means DefaultBatchBytes. A larger record is sent in a batch of its
	// own.
	BatchBytes int `json:"batch_bytes,omitempty"`
}

var (
	_ stream.Sink[string]       = Sink{}
	_ stream.Validator          = Sink{}
	_ stream.SinkWriter[string] = (*writer)(nil)
	_ stream.Flusher            = (*writer)(nil)
	_ stream.Checkpointed       = (*writer)(nil)
	_ stream.SnapshotSyncer     = (*writer)(nil)
	_ stream.CheckpointListener = (*writer)(nil)
)

// Validate checks the parameters. It does not contact the brokers.
func (s Sink) Validate() error {
	_, err := s.parseTimeout()
	if err != nil {
		return err
	}
	if err := validateBrokers("kafka sink", s.Brokers); err != nil {
		return err
	}
	switch {
	case s.Topic == "":
		return errors.New("kafka sink: topic is empty")
	case s.Semantic != "" && s.Semantic != AtLeastOnce && s.Semantic != ExactlyOnce:
		return fmt.Errorf("kafka sink: semantic %q: want %q or %q", s.Semantic, AtLeastOnce, ExactlyOnce)
	case s.BatchBytes < 0:
		return fmt.Errorf("kafka sink: batch_bytes %d must be >= 0", s.BatchBytes)
	case s.BatchBytes > 0 && s.BatchBytes < batchHeaderSize+64:
		return fmt.Errorf("kafka sink: batch_bytes %d must be >= %d", s.BatchBytes, batchHeaderSize+64)
	}
	return nil
}

func (s Sink) parseTimeout() (time.Duration, error) {
	if s.TransactionTimeout == "" {
		return DefaultTransactionTimeout, nil
	}
	d, err := time.ParseDuration(s.TransactionTimeout)
	if err != nil || d < time.Second || d > 1<<31*time.Millisecond {
		return 0, fmt.Errorf("kafka sink: transaction_timeout %q: want a duration of at least 1s", s.TransactionTimeout)
	}
	return d, nil
}

// CreateWriter returns the writer of subtask ctx.SubtaskIndex. It does not
// contact the brokers; the first Write or RestoreState does.
func (s Sink) CreateWriter(ctx *stream.SinkContext) (stream.SinkWriter[string], error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	n := max(ctx.Parallelism, 1)
	if ctx.SubtaskIndex < 0 || ctx.SubtaskIndex >= n {
		return nil, fmt.Errorf("kafka sink: subtask %d out of range for parallelism %d", ctx.SubtaskIndex, n)
	}
	timeout, _ := s.parseTimeout()
	w := &writer{
		sink:        s,
		subtask:     ctx.SubtaskIndex,
		parallelism: n,
		exactlyOnce: s.Semantic == ExactlyOnce || (s.Semantic == "" && ctx.Checkpointing == "EXACTLY_ONCE"),
		prefix:      s.TransactionalIDPrefix,
		txnTimeout:  timeout,
		batchBytes:  s.BatchBytes,
		clock:       ctx.Clock,
		logger:      ctx.Logger,
	}
	if w.batchBytes == 0 {
		w.batchBytes = DefaultBatchBytes
	}
	if w.clock == nil {
		w.clock = clock.Real{}
	}
	if w.logger == nil {
		w.logger = slog.Default()
	}
	w.logger = w.logger.With("topic", s.Topic, "subtask", w.subtask)
	if w.exactlyOnce {
		if ctx.Checkpointing == "" {
			return nil, fmt.Errorf("kafka sink: semantic %q needs a job that checkpoints: its transactions commit when checkpoints complete", ExactlyOnce)
		}
		if w.prefix == "" {
			w.prefix = ctx.JobID
		}
		if w.prefix == "" {
			return nil, errors.New("kafka sink: transactional_id_prefix is empty and the job has no ID")
		}
	}
	w.cl = newCluster(s.Brokers, clientID(ctx.JobID, "sink", w.subtask), s.Topic, 0)
	return w, nil
}

// newDeadLetterWriter returns the at-least-once writer of a source's dead
// letters.
func newDeadLetterWriter(s Source, info stream.TaskInfo, clk clock.Clock, logger *slog.Logger) *writer {
	return &writer{
		sink:        Sink{Brokers: s.Brokers, Topic: s.DeadLetterTopic, Semantic: AtLeastOnce},
		subtask:     info.SubtaskIndex,
		parallelism: max(info.Parallelism, 1),
		batchBytes:  DefaultBatchBytes,
		clock:       clk,
		logger:      logger.With("dead_letter_topic", s.DeadLetterTopic),
		cl:          newCluster(s.Brokers, clientID(info.JobID, "dead-letter", info.SubtaskIndex), s.DeadLetterTopic, 0),
	}
}

// writer writes one subtask's records. The task goroutine calls its
// methods and builds record batches; one sender goroutine per partition
// produces them, in order, with at most maxInFlight batches outstanding
// in all. Close stops the senders and waits for them.
//
// Records go to one partition until its batch is full, then to the next
// (a sticky round robin), so batches stay large.
type writer struct {
	sink        Sink
	subtask     int
	parallelism int
	exactlyOnce bool
	prefix      string // of transactional IDs; exactly-once only
	txnTimeout  time.Duration
	batchBytes  int
	clock       clock.Clock
	logger      *slog.Logger
	cl          *cluster

	// Used by the task goroutine only.
	parts    []*partitionWriter // nil until the first Write
	cur      int                // the index in parts records go to
	finished bool
	restored bool
	// Exactly-once: the open transaction (nil until a record needs one),
	// the pre-committed ones, oldest first, and the sequence number of
	// the next transactional ID.
	txn     *transaction
	pending []pendingTxn
	nextSeq uint64

	slots  chan struct{}      // maxInFlight tokens; a batch holds one until acknowledged
	cancel context.CancelFunc // stops the senders; nil before they start
	wg     sync.WaitGroup     // the senders
	free   sync.Pool          // of *[]byte, batch buffers

	mu struct {
		sync.Mutex
		err error // the first failed produce; sticky
		// The batches handed to senders and not yet acknowledged or
		// failed, by epoch: the number of barriers before they were
		// dispatched. barriers are the epochs checkpoint barriers ended
		// that may still have batches out, oldest first. acked is
		// signalled when a batch is done or the senders stop (closed).
		epoch    int64
		inflight map[int64]int
		barriers []barrier
		acked    sync.Cond
		closed   bool
	}
}

// barrier is the epoch a checkpoint's barrier ended: the batches of that
// epoch and earlier ones hold the records before the barrier.
type barrier struct {
	checkpoint int64
	epoch      int64
}

// partitionWriter is one partition's open batch and its sender's queue.
type partitionWriter struct {
	id    int32
	batch batchBuilder
	queue chan *produceBatch // to the sender; sized maxInFlight, bounded by slots
	seq   int32              // next sequence number in the transaction
	inTxn bool               // added to the open transaction
}

// produceBatch is an encoded record batch on its way to a partition.
type produceBatch struct {
	data          []byte
	buf           *[]byte // data's buffer, back to the pool when done
	records       int
	valueBytes    int    // of the records' values
	transactional string // the transactional ID, or ""
	epoch         int64  // barriers before it was dispatched
}

func (w *writer) failure() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.mu.err
}

func (w *writer) setFailure(err error) {
	w.mu.Lock()
	if w.mu.err == nil {
		w.mu.err = err
	}
	w.mu.Unlock()
}

// start looks up the partitions and starts their senders.
func (w *writer) start() error {
	var parts []int32
	err := retry(context.Background(), w.clock, deliveryTimeout, func() (err error) {
		parts, err = w.cl.partitions(context.Background(), w.sink.Topic)
		return err
	})
	if err != nil {
		return fmt.Errorf("kafka sink: looking up the partitions of topic %q: %w", w.sink.Topic, err)
	}
	if len(parts) == 0 {
		return fmt.Errorf("kafka sink: topic %q has no partitions", w.sink.Topic)
	}
	ctx, cancel := context.WithCancel(context.Background())
	w.cancel = cancel
	w.slots = make(chan struct{}, maxInFlight)
	w.mu.Lock()
	w.mu.inflight = map[int64]int{}
	w.mu.acked.L = &w.mu.Mutex
	w.mu.Unlock()
	for _, id := range parts {
		pw := &partitionWriter{id: id, queue: make(chan *produceBatch, maxInFlight)}
		w.parts = append(w.parts, pw)
		w.wg.Go(func() { w.send(ctx, pw) })
	}
	// Subtasks start at different partitions, so that each partition gets
	// records early.
	w.cur = w.subtask % len(w.parts)
	return nil
}

// Write appends v to the open batch of the current partition. It blocks
// while maxInFlight batches are unacknowledged.
func (w *writer) Write(v string) error {
	if err := w.failure(); err != nil {
		return err
	}
	if w.finished {
		return errors.New("kafka sink: write after finish")
	}
	if w.parts == nil {
		if err := w.start(); err != nil {
			return err
		}
	}
	if w.exactlyOnce && w.txn == nil {
		if err := w.beginTxn(); err != nil {
			return err
		}
	}
	pw, err := w.target(len(v))
	if err != nil {
		return err
	}
	pw.batch.add(v, w.clock.Now())
	return nil
}

// target returns the partition whose open batch takes the next record, of
// n payload bytes: the current one, or the next one when the current
// batch is full (which is then dispatched).
func (w *writer) target(n int) (*partitionWriter, error) {
	pw := w.parts[w.cur]
	if pw.batch.buf == nil {
		w.newBatch(pw)
	}
	if !pw.batch.fits(n) {
		if err := w.dispatch([]*partitionWriter{pw}); err != nil {
			return nil, err
		}
		w.cur = (w.cur + 1) % len(w.parts)
		pw = w.parts[w.cur]
		if pw.batch.buf == nil {
			w.newBatch(pw)
		}
	}
	return pw, nil
}

// writeRecord writes a record with a key, value and headers, at least
// once (the writer must not be exactly-once): the dead letters of a
// source.
func (w *writer) writeRecord(key, value []byte, headers []header, ts int64) error {
	if err := w.failure(); err != nil {
		return err
	}
	if w.parts == nil {
		if err := w.start(); err != nil {
			return err
		}
	}
	pw, err := w.target(recordBytes(key, value, headers))
	if err != nil {
		return err
	}
	pw.batch.addRecord(key, value, headers, ts)
	return nil
}

func (w *writer) newBatch(pw *partitionWriter) {
	bp, _ := w.free.Get().(*[]byte)
	if bp == nil {
		bp = new([]byte)
	}
	pw.batch.buf = *bp
	pw.batch.reset(w.batchBytes)
}

// dispatch hands the open batches of parts that have records to their
// senders, adding the partitions to the open transaction first.
func (w *writer) dispatch(parts []*partitionWriter) error {
	var full []*partitionWriter
	for _, pw := range parts {
		if pw.batch.buf != nil && pw.batch.n > 0 {
			full = append(full, pw)
		}
	}
	if len(full) == 0 {
		return nil
	}
	if w.exactlyOnce {
		if err := w.addPartitions(full); err != nil {
			return err
		}
	}
	for _, pw := range full {
		fields := producerFields{producerID: -1, epoch: -1, sequence: -1}
		b := &produceBatch{records: int(pw.batch.n), valueBytes: pw.batch.values}
		if w.exactlyOnce {
			fields = producerFields{producerID: w.txn.producerID, epoch: w.txn.epoch, sequence: pw.seq, transactional: true}
			pw.seq += pw.batch.n
			b.transactional = w.txn.id
		}
		b.data = pw.batch.finish(fields)
		buf := pw.batch.buf
		b.buf = &buf
		pw.batch.buf = nil
		w.slots <- struct{}{} // blocks while maxInFlight batches are out
		w.mu.Lock()
		b.epoch = w.mu.epoch
		w.mu.inflight[b.epoch]++
		w.mu.Unlock()
		pw.queue <- b // never blocks: the queue holds maxInFlight
	}
	return nil
}

// send produces the batches of one partition in order until ctx ends.
func (w *writer) send(ctx context.Context, pw *partitionWriter) {
	for {
		select {
		case <-ctx.Done():
			return
		case b := <-pw.queue:
			if w.failure() == nil {
				if err := w.produce(ctx, pw, b); err != nil && ctx.Err() == nil {
					w.setFailure(err)
				}
			}
			*b.buf = b.data[:0]
			w.free.Put(b.buf)
			<-w.slots
			w.done(b)
		}
	}
}

// produce sends one batch and waits for all in-sync replicas to have it,
// retrying retryable errors for up to deliveryTimeout. Retrying a
// transactional batch is safe: the broker drops a batch whose sequence
// numbers it has, so it is written once.
func (w *writer) produce(ctx context.Context, pw *partitionWriter, b *produceBatch) error {
	err := retry(ctx, w.clock, deliveryTimeout, func() error {
		resp, err := w.cl.client.RawProduce(ctx, &kafka.RawProduceRequest{
			Topic:           w.sink.Topic,
			Partition:       int(pw.id),
			RequiredAcks:    kafka.RequireAll,
			TransactionalID: b.transactional,
			RawRecords:      rawRecords(b.data),
		})
		if err != nil {
			return err
		}
		return resp.Error
	})
	switch {
	case err == nil:
		return nil
	case errors.Is(err, kafka.MessageSizeTooLarge) || errors.Is(err, kafka.RecordListTooLarge):
		if b.records == 1 {
			return fmt.Errorf("kafka sink: topic %q: a record of %d bytes is too large for the broker: %w",
				w.sink.Topic, b.valueBytes, err)
		}
		return fmt.Errorf("kafka sink: topic %q: a batch of %d records, %d bytes, is too large for the broker (lower batch_bytes): %w",
			w.sink.Topic, b.records, len(b.data), err)
	default:
		return fmt.Errorf("kafka sink: producing to topic %q partition %d: %w", w.sink.Topic, pw.id, err)
	}
}

// done records that batch b was acknowledged or failed.
func (w *writer) done(b *produceBatch) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.mu.inflight[b.epoch]--; w.mu.inflight[b.epoch] == 0 {
		delete(w.mu.inflight, b.epoch)
	}
	w.mu.acked.Broadcast()
}

// waitAcked waits until no batch of an epoch up to last is out, a batch
// has failed, or the senders have stopped, and returns the failure.
// w.mu is held.
func (w *writer) waitAcked(last int64) error {
	for {
		switch {
		case w.mu.err != nil:
			return w.mu.err
		case !w.outUpTo(last):
			return nil
		case w.mu.closed:
			return errors.New("kafka sink: the writer was closed before its records were acknowledged")
		}
		w.mu.acked.Wait()
	}
}

// outUpTo reports whether a batch of an epoch up to last is out. w.mu is
// held.
func (w *writer) outUpTo(last int64) bool {
	for e := range w.mu.inflight {
		if e <= last {
			return true
		}
	}
	return false
}

// flush hands every open batch to the senders and waits until all
// batches are acknowledged or one has failed.
func (w *writer) flush() error {
	if err := w.dispatch(w.parts); err != nil {
		return err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.waitAcked(math.MaxInt64)
}

// Flush hands the open batches to the senders without waiting: the task
// calls it when its input is idle, so records do not wait for more.
func (w *writer) Flush() error {
	if err := w.failure(); err != nil {
		return err
	}
	return w.dispatch(w.parts)
}

// Finish flushes and waits for the acknowledgements. In exactly-once
// mode the runtime has taken a final checkpoint and committed it before,
// so there is nothing left to commit; records no checkpoint covers, or
// transactions whose checkpoint has not completed, are an error.
func (w *writer) Finish() error {
	if err := w.failure(); err != nil {
		return err
	}
	if w.finished {
		return nil
	}
	if w.exactlyOnce {
		if w.txn != nil {
			return fmt.Errorf("kafka sink: finishing with records in transaction %q that no checkpoint covers; "+
				"semantic %q needs a job that takes a final checkpoint at the end of input", w.txn.id, ExactlyOnce)
		}
		if len(w.pending) > 0 {
			return fmt.Errorf("kafka sink: finishing with %d transactions whose checkpoints have not completed (the oldest %q of checkpoint %d)",
				len(w.pending), w.pending[0].transactional, w.pending[0].checkpoint)
		}
	}
	if err := w.flush(); err != nil {
		return err
	}
	w.finished = true
	return nil
}

// SnapshotState hands every open batch to the senders, without waiting
// for them: SyncSnapshot, off the task goroutine, waits until the records
// before the barrier are acknowledged, so that the checkpoint completes
// only with them in Kafka. At least once, the writer keeps no state.
// Exactly once, the open transaction is pre-committed: it becomes pending
// for checkpoint id, and the next record opens a new transaction under
// the next transactional ID. The state is the pending transactions and
// the next sequence number.
func (w *writer) SnapshotState(id int64) ([][]byte, error) {
	if err := w.failure(); err != nil {
		return nil, err
	}
	if err := w.dispatch(w.parts); err != nil {
		return nil, err
	}
	w.barrier(id)
	if !w.exactlyOnce {
		return nil, nil
	}
	if w.txn != nil {
		if n := len(w.pending); n > 0 && w.pending[n-1].checkpoint >= id {
			return nil, invariant.Failf("kafka sink: checkpoint %d after checkpoint %d", id, w.pending[n-1].checkpoint)
		}
		w.pending = append(w.pending, pendingTxn{checkpoint: id, transactional: w.txn.id, producerID: w.txn.producerID, epoch: w.txn.epoch})
		w.txn = nil
	}
	elems := make([][]byte, 0, len(w.pending)+1)
	for _, p := range w.pending {
		elems = append(elems, p.encode())
	}
	seq := sequenceElement{prefix: w.prefix, subtask: w.subtask, parallelism: w.parallelism, next: w.nextSeq}
	return append(elems, seq.encode()), nil
}

// barrier ends the epoch of checkpoint id's records, and forgets the
// barriers whose records are all acknowledged.
func (w *writer) barrier(id int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	oldest := w.mu.epoch
	for e := range w.mu.inflight {
		oldest = min(oldest, e)
	}
	w.mu.barriers = slices.DeleteFunc(w.mu.barriers, func(b barrier) bool { return b.epoch < oldest })
	w.mu.barriers = append(w.mu.barriers, barrier{checkpoint: id, epoch: w.mu.epoch})
	w.mu.epoch++
}

// SyncSnapshot waits until the records written before the barrier of
// checkpoint id, and of every checkpoint before it, are acknowledged by
// the brokers, and returns the sticky failure if one was not: the
// checkpoint is then declined, and the task fails at its next call.
func (w *writer) SyncSnapshot(id int64) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	last := int64(-1)
	for _, b := range w.mu.barriers {
		if b.checkpoint <= id {
			last = b.epoch
		}
	}
	return w.waitAcked(last)
}

// NotifyCheckpointComplete commits the pending transactions of checkpoint
// id and earlier ones.
func (w *writer) NotifyCheckpointComplete(id int64) error {
	if !w.exactlyOnce {
		return nil
	}
	if err := w.failure(); err != nil {
		return err
	}
	for len(w.pending) > 0 && w.pending[0].checkpoint <= id {
		p := w.pending[0]
		if err := w.endTxn(p.transactional, p.producerID, p.epoch, true); err != nil {
			err = fmt.Errorf("kafka sink: committing transaction %q of checkpoint %d: %w", p.transactional, p.checkpoint, err)
			w.setFailure(err)
			return err
		}
		w.pending = w.pending[1:]
	}
	return nil
}

// UnionRedistribution marks the sink's state as union-redistributed when
// the job resumes at another parallelism: every subtask sees every pending transaction and every old subtask's sequence, so none is lost or reused.
func (w *writer) UnionRedistribution() {}

var _ stream.UnionRedistributed = (*writer)(nil)

// RestoreState resumes from a checkpoint or savepoint. It commits the
// pending transactions in the state (their checkpoint completed, since
// the job resumes from it), then aborts the transactions this subtask
// opened after the checkpoint, by initializing their transactional IDs,
// which fences whoever used them. Subtask 0 does the same for the
// subtasks that no longer exist after a scale-down, if the state has
// their elements.
func (w *writer) RestoreState(elems [][]byte) error {
	if w.parts != nil || w.txn != nil || w.restored {
		return invariant.Failf("kafka sink: state restored after the first record")
	}
	w.restored = true
	var pending []pendingTxn
	seqs := map[int]sequenceElement{}
	oldParallelism := 0
	for i, b := range elems {
		e, err := decodeSinkElement(b)
		if err != nil {
			return fmt.Errorf("kafka sink: state element %d: %w", i, err)
		}
		switch e := e.(type) {
		case pendingTxn:
			pending = append(pending, e)
		case sequenceElement:
			if old, ok := seqs[e.subtask]; !ok || e.next > old.next {
				seqs[e.subtask] = e
			}
			oldParallelism = max(oldParallelism, e.parallelism)
		}
	}
	if len(pending) > 0 && !w.exactlyOnce {
		w.logger.Warn("kafka sink: the state has pre-committed transactions of semantic " + ExactlyOnce + "; committing them")
	}
	slices.SortFunc(pending, func(a, b pendingTxn) int {
		switch {
		case a.checkpoint != b.checkpoint:
			return int(min(max(a.checkpoint-b.checkpoint, -1), 1))
		case a.transactional < b.transactional:
			return -1
		case a.transactional > b.transactional:
			return 1
		}
		return 0
	})
	for _, p := range pending {
		if err := w.commitRecovered(p); err != nil {
			return err
		}
	}

	own, ok := seqs[w.subtask]
	if !ok {
		own = sequenceElement{prefix: w.prefix, subtask: w.subtask, parallelism: w.parallelism}
	}
	aborted := 0
	if own.prefix != "" {
		n, err := w.abortLingering(own.prefix, w.subtask, own.next)
		if err != nil {
			return err
		}
		aborted += n
	}
	if w.subtask == 0 {
		for i := w.parallelism; i < oldParallelism; i++ {
			s, ok := seqs[i]
			if !ok {
				continue
			}
			n, err := w.abortLingering(s.prefix, i, s.next)
			if err != nil {
				return err
			}
			aborted += n
		}
	}
	if own.prefix == w.prefix {
		w.nextSeq = own.next
	}
	w.logger.Info("kafka sink: restored", "committed", len(pending), "aborted", aborted, "next_transactional_id", w.txnID(w.nextSeq))
	return nil
}

// Close stops the senders and closes the connections. Exactly once, the
// open transaction, which no checkpoint covers, is aborted; pre-committed
// ones stay for a restore to commit.
func (w *writer) Close() error {
	if w.cancel != nil {
		w.cancel()
	}
	w.wg.Wait()
	w.mu.Lock()
	w.mu.closed = true
	w.mu.acked.Broadcast()
	w.mu.Unlock()
	if t := w.txn; t != nil {
		w.txn = nil
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := w.endTxnOnce(ctx, t.id, t.producerID, t.epoch, false); err != nil {
			// A restore aborts it, or the broker when it times out.
			w.logger.Warn("kafka sink: aborting the open transaction failed", "transactional_id", t.id, "error", err)
		}
	}
	w.cl.close()
	return nil
}
