package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	kafka "github.com/segmentio/kafka-go"

	"github.com/weirstream/weir/internal/clock"
	"github.com/weirstream/weir/stream"
)

const (
	// DiscoveryInterval is how often an unbounded source looks for new
	// partitions of its topic.
	DiscoveryInterval = 10 * time.Second
	// DefaultMaxWait is the fetch wait of a Source whose MaxWait is empty.
	DefaultMaxWait = 50 * time.Millisecond
	// DefaultFetchBytes is the fetch size of a Source whose FetchBytes is 0.
	DefaultFetchBytes = 1 << 20

	// maxBatch bounds the records one PollNext emits.
	maxBatch = 2048
	// queuedFetches bounds the fetched batches a reader holds that the
	// task has not taken yet, across its partitions: with one more batch
	// per partition waiting to be queued, memory is bounded by
	// (queuedFetches + partitions) * FetchBytes.
	queuedFetches = 4
	// maxToCommit bounds the snapshots a reader with a Group keeps until
	// their checkpoints complete.
	maxToCommit = 16
)

// The values of Source.StartFrom.
const (
	StartEarliest  = "earliest"
	StartLatest    = "latest"
	StartCommitted = "committed"
	// StartTimestamp is the prefix of "timestamp:<unix millis>".
	StartTimestamp = "timestamp:"
)

// The values of Source.Isolation.
const (
	ReadCommitted   = "read_committed"
	ReadUncommitted = "read_uncommitted"
)

func init() { stream.RegisterSource[string]("weir.kafka.source", Source{}) }

// Source reads the values of a Kafka topic's records as strings. It is
// unbounded unless StopAtLatest is set. Its fields are the job parameters.
type Source struct {
	// Brokers are the bootstrap brokers, host:port.
	Brokers []string `json:"brokers"`
	// Topic is the topic to read.
	Topic string `json:"topic"`
	// Group, if set, is the consumer group the source commits its offsets
	// to when a checkpoint completes, for monitoring (lag). The source
	// never joins the group and restores from its checkpoints, not from
	// the group's offsets (except with StartFrom "committed").
	Group string `json:"group,omitempty"`
	// StartFrom is where a fresh start reads each partition: "earliest"
	// (the default), "latest", "committed" (the Group's committed offset,
	// earliest where it has none) or "timestamp:<unix millis>" (the first
	// record at or after that time, latest where there is none). A job
	// resuming from a checkpoint reads from the checkpoint's offsets.
	StartFrom string `json:"start_from,omitempty"`
	// Isolation is "read_committed" (the default: records of aborted
	// transactions are skipped and open transactions are waited for) or
	// "read_uncommitted".
	Isolation string `json:"isolation,omitempty"`
	// MaxWait is how long a broker holds a fetch that has no records yet,
	// as a duration ("50ms", the default). Longer waits cost latency;
	// kafka-go's own default (500ms) costs throughput.
	MaxWait string `json:"max_wait,omitempty"`
	// FetchBytes is the most a fetch of one partition returns;
	// 0 means DefaultFetchBytes.
	FetchBytes int `json:"fetch_bytes,omitempty"`
	// StopAtLatest makes the source bounded: each subtask reads its
	// partitions up to the latest offsets they had when it started (the
	// last stable offsets with read_committed), then ends. Partitions
	// created later are not read.
	StopAtLatest bool `json:"stop_at_latest,omitempty"`
	// Format is what record values must be: "raw" (the default: any
	// bytes, read as they are), "text" (UTF-8) or "json" (one JSON value).
	// A value that is not is a bad record, handled as OnError says.
	Format string `json:"format,omitempty"`
	// OnError is what happens to a bad record: "fail" (the default: the
	// job fails without restarting, with an error naming the record's
	// topic, partition and offset), "skip" (the record is dropped and
	// counted in kafka_records_skipped) or "dead-letter" (the record is
	// written to DeadLetterTopic, at least once, and counted in
	// kafka_records_dead_lettered). Payloads never go to logs or errors.
	OnError string `json:"on_error,omitempty"`
	// DeadLetterTopic is the topic bad records go to with OnError
	// "dead-letter"; it must exist. A dead letter keeps the record's key,
	// value and timestamp and carries headers weir.source.topic,
	// weir.source.partition, weir.source.offset and weir.error.
	DeadLetterTopic string `json:"dead_letter_topic,omitempty"`

	// metadataTTL is how long the transport caches metadata; 0 is
	// kafka-go's 6 s. Tests shorten it.
	metadataTTL time.Duration
}

var (
	_ stream.Source[string]       = Source{}
	_ stream.Validator            = Source{}
	_ stream.SourceReader[string] = (*reader)(nil)
	_ stream.Checkpointed         = (*reader)(nil)
	_ stream.SnapshotSyncer       = (*reader)(nil)
	_ stream.CheckpointListener   = (*reader)(nil)
)

// startKind is how a partition with no saved offset starts.
type startKind int

const (
	startEarliest startKind = iota + 1
	startLatest
	startCommitted
	startTimestamp
)

// sourceConfig is a Source's parameters, parsed.
type sourceConfig struct {
	start      startKind
	timestamp  int64 // unix millis, for startTimestamp
	isolation  kafka.IsolationLevel
	maxWait    time.Duration
	fetchBytes int
	format     format
	onError    string // OnErrorFail, OnErrorSkip or OnErrorDeadLetter
}

// Validate checks the parameters. It does not contact the brokers.
func (s Source) Validate() error {
	_, err := s.parse()
	return err
}

func (s Source) parse() (sourceConfig, error) {
	cfg := sourceConfig{start: startEarliest, isolation: kafka.ReadCommitted, maxWait: DefaultMaxWait, fetchBytes: DefaultFetchBytes, onError: OnErrorFail}
	if err := validateBrokers("kafka source", s.Brokers); err != nil {
		return cfg, err
	}
	if s.Topic == "" {
		return cfg, errors.New("kafka source: topic is empty")
	}
	switch v := s.StartFrom; {
	case v == "" || v == StartEarliest:
	case v == StartLatest:
		cfg.start = startLatest
	case v == StartCommitted:
		if s.Group == "" {
			return cfg, fmt.Errorf("kafka source: start_from %q needs a group", v)
		}
		cfg.start = startCommitted
	case strings.HasPrefix(v, StartTimestamp):
		ms, err := strconv.ParseInt(strings.TrimPrefix(v, StartTimestamp), 10, 64)
		if err != nil || ms < 0 {
			return cfg, fmt.Errorf("kafka source: start_from %q: want %s<unix millis>", v, StartTimestamp)
		}
		cfg.start, cfg.timestamp = startTimestamp, ms
	default:
		return cfg, fmt.Errorf("kafka source: start_from %q: want %q, %q, %q or %q<unix millis>",
			v, StartEarliest, StartLatest, StartCommitted, StartTimestamp)
	}
	switch s.Isolation {
	case "", ReadCommitted:
	case ReadUncommitted:
		cfg.isolation = kafka.ReadUncommitted
	default:
		return cfg, fmt.Errorf("kafka source: isolation %q: want %q or %q", s.Isolation, ReadCommitted, ReadUncommitted)
	}
	if s.MaxWait != "" {
		d, err := time.ParseDuration(s.MaxWait)
		if err != nil || d <= 0 || d > time.Minute {
			return cfg, fmt.Errorf("kafka source: max_wait %q: want a duration in (0, 1m]", s.MaxWait)
		}
		cfg.maxWait = d
	}
	switch {
	case s.FetchBytes < 0:
		return cfg, fmt.Errorf("kafka source: fetch_bytes %d must be >= 0", s.FetchBytes)
	case s.FetchBytes > 0:
		cfg.fetchBytes = s.FetchBytes
	}
	var err error
	if cfg.format, err = parseFormat(s.Format); err != nil {
		return cfg, err
	}
	switch s.OnError {
	case "", OnErrorFail:
	case OnErrorSkip, OnErrorDeadLetter:
		cfg.onError = s.OnError
	default:
		return cfg, fmt.Errorf("kafka source: on_error %q: want %q, %q or %q", s.OnError, OnErrorFail, OnErrorSkip, OnErrorDeadLetter)
	}
	switch {
	case cfg.onError == OnErrorDeadLetter && s.DeadLetterTopic == "":
		return cfg, fmt.Errorf("kafka source: on_error %q needs a dead_letter_topic", OnErrorDeadLetter)
	case cfg.onError != OnErrorDeadLetter && s.DeadLetterTopic != "":
		return cfg, fmt.Errorf("kafka source: dead_letter_topic %q is set but on_error is %q, not %q", s.DeadLetterTopic, cfg.onError, OnErrorDeadLetter)
	case s.DeadLetterTopic != "" && s.DeadLetterTopic == s.Topic:
		return cfg, fmt.Errorf("kafka source: dead_letter_topic %q is the topic the source reads", s.DeadLetterTopic)
	}
	return cfg, nil
}

func validateBrokers(what string, brokers []string) error {
	if len(brokers) == 0 {
		return fmt.Errorf("%s: brokers is empty", what)
	}
	for i, b := range brokers {
		if b == "" || strings.Contains(b, ",") {
			return fmt.Errorf("%s: brokers[%d] %q: want host:port", what, i, b)
		}
	}
	return nil
}

// assigned reports whether partition p is read by subtask i of n.
func assigned(p int32, i, n int) bool { return int(p)%n == i }

// CreateReader returns the reader of subtask ctx.SubtaskIndex. It does
// not contact the brokers: the reader starts on its first PollNext, after
// a restore.
func (s Source) CreateReader(ctx *stream.SourceContext) (stream.SourceReader[string], error) {
	cfg, err := s.parse()
	if err != nil {
		return nil, err
	}
	n := max(ctx.Parallelism, 1)
	if ctx.SubtaskIndex < 0 || ctx.SubtaskIndex >= n {
		return nil, fmt.Errorf("kafka source: subtask %d out of range for parallelism %d", ctx.SubtaskIndex, n)
	}
	r := &reader{
		src:         s,
		cfg:         cfg,
		subtask:     ctx.SubtaskIndex,
		parallelism: n,
		clock:       ctx.Clock,
		logger:      ctx.Logger,
		offsets:     map[int32]int64{},
		events:      make(chan event, queuedFetches),
		wake:        make(chan struct{}, 1),
	}
	if r.clock == nil {
		r.clock = clock.Real{}
	}
	if r.logger == nil {
		r.logger = slog.Default()
	}
	r.logger = r.logger.With("topic", s.Topic, "subtask", r.subtask)
	r.cl = newCluster(s.Brokers, clientID(ctx.JobID, "source", r.subtask), s.Topic, s.metadataTTL)
	if s.Group != "" {
		r.commits = make(chan map[int32]int64, 1)
	}
	r.skipped = ctx.Metrics.Counter(CounterSkipped)
	r.deadLettered = ctx.Metrics.Counter(CounterDeadLettered)
	if cfg.onError == OnErrorDeadLetter {
		r.dlq = newDeadLetterWriter(s, ctx.TaskInfo, r.clock, r.logger)
	}
	return r, nil
}

func clientID(jobID, what string, subtask int) string {
	if jobID == "" {
		return fmt.Sprintf("weir-%s-%d", what, subtask)
	}
	return fmt.Sprintf("weir-%s-%s-%d", jobID, what, subtask)
}

// eventKind says what an event from a reader's goroutines carries.
type eventKind int

const (
	// eventAssign adds partitions and their start offsets.
	eventAssign eventKind = iota + 1
	// eventRecords carries fetched records of one partition.
	eventRecords
	// eventDone says a bounded partition has been read to its end.
	eventDone
)

// event is what a reader's goroutines hand to the task goroutine, in
// order: a partition's assignment comes before its records.
type event struct {
	kind      eventKind
	partition int32
	// eventAssign: the start offsets of the partitions; initial for the
	// first discovery.
	starts  map[int32]int64
	initial bool
	// eventRecords: the values and their offsets, and the offset to read
	// after them (past skipped records: aborted ones, transaction markers).
	values     []string
	offsets    []int64
	timestamps []int64 // the records' timestamps, unix millis
	next       int64
	// bad are the records among them whose values are not of the
	// source's format, in offset order.
	bad []badRecord
}

// reader reads the partitions of one subtask. The task goroutine calls
// its methods; a manager goroutine discovers partitions and resolves start
// offsets, one fetcher goroutine per partition fetches into the bounded
// events channel, and a committer goroutine commits offsets to the group.
// All of them are owned by the reader: Close stops them and waits.
type reader struct {
	src         Source
	cfg         sourceConfig
	subtask     int
	parallelism int
	clock       clock.Clock
	logger      *slog.Logger
	cl          *cluster

	// Used by the task goroutine only.
	started    bool
	resumed    bool            // RestoreState ran
	unassigned bool            // the restored state has a sourceUnassigned element
	offsets    map[int32]int64 // next offset to emit of each known partition
	discovered bool            // the assignment of the first partition discovery arrived
	bounded    map[int32]bool  // StopAtLatest: partitions not read to their end yet
	cur        *event          // the records being emitted
	pos        int             // the next value of cur to emit
	toCommit   []commitPoint   // snapshots not yet known complete, with a Group

	// Bad records: the dead-letter writer (OnError "dead-letter"), the
	// counters, and how many have been logged.
	dlq          *writer
	skipped      *stream.Counter
	deadLettered *stream.Counter
	logged       int64

	events  chan event           // bounded: backpressure on the fetchers
	wake    chan struct{}        // Available; size 1
	commits chan map[int32]int64 // the latest completed offsets, to commit; size 1
	cancel  context.CancelFunc   // stops the goroutines; nil before start
	wg      sync.WaitGroup       // the goroutines

	mu struct {
		sync.Mutex
		err error // the first fatal error of a goroutine
	}
}

// commitPoint is the offsets of a checkpoint, to commit to the group when
// it completes.
type commitPoint struct {
	checkpoint int64
	offsets    map[int32]int64
}

// fail records a goroutine's fatal error and wakes the task.
func (r *reader) fail(err error) {
	r.mu.Lock()
	if r.mu.err == nil {
		r.mu.err = err
	}
	r.mu.Unlock()
	r.signal()
}

func (r *reader) failure() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.mu.err
}

// signal makes Available ready.
func (r *reader) signal() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Available is ready when a goroutine has handed over records, a
// partition assignment or an error since the last PollNext.
func (r *reader) Available() <-chan struct{} { return r.wake }

// start launches the manager goroutine and, with a Group, the committer.
func (r *reader) start() {
	r.started = true
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	restored := maps.Clone(r.offsets)
	policy := r.cfg.start
	if r.resumed && !r.unassigned {
		// Partitions missing from a checkpoint were created after it.
		policy = startEarliest
	}
	r.wg.Go(func() {
		if err := r.manage(ctx, restored, policy); err != nil && ctx.Err() == nil {
			r.fail(err)
		}
	})
	if r.commits != nil {
		r.wg.Go(func() { r.commitLoop(ctx) })
	}
}

// PollNext emits the records the fetchers have handed over, at most
// maxBatch of them. It never blocks.
func (r *reader) PollNext(out stream.Collector[string]) (stream.PollStatus, error) {
	if !r.started {
		r.start()
	}
	if err := r.failure(); err != nil {
		return stream.PollEnd, err
	}
	// Records carry their Kafka timestamps (create or log-append time, as
	// the topic says) as event timestamps, and their partition as their
	// split, so that watermarks are kept per partition.
	sc, _ := out.(stream.SplitCollector[string])
	tc, _ := out.(stream.TimestampCollector[string])
	emitted := 0
	for emitted < maxBatch {
		if r.cur == nil {
			select {
			case ev := <-r.events:
				if err := r.handle(ev); err != nil {
					return stream.PollEnd, err
				}
				continue
			default:
			}
			break
		}
		ev := r.cur
		n := min(len(ev.values)-r.pos, maxBatch-emitted)
		switch {
		case sc != nil:
			// Partition p of this subtask is split p / parallelism:
			// dense, since p % parallelism is the subtask.
			split := int(ev.partition) / r.parallelism
			for i, v := range ev.values[r.pos : r.pos+n] {
				sc.CollectFromSplit(split, v, ev.timestamps[r.pos+i])
			}
		case tc != nil:
			for i, v := range ev.values[r.pos : r.pos+n] {
				tc.CollectWithTimestamp(v, ev.timestamps[r.pos+i])
			}
		default:
			for _, v := range ev.values[r.pos : r.pos+n] {
				out.Collect(v)
			}
		}
		r.pos += n
		emitted += n
		if r.pos < len(ev.values) {
			r.offsets[ev.partition] = ev.offsets[r.pos-1] + 1
			break
		}
		r.offsets[ev.partition] = ev.next
		r.cur, r.pos = nil, 0
	}
	switch {
	case emitted > 0 || r.cur != nil:
		return stream.PollMore, nil
	case r.src.StopAtLatest && r.discovered && len(r.bounded) == 0:
		if r.dlq != nil {
			if err := r.dlq.flush(); err != nil {
				return stream.PollEnd, r.dlqError(err)
			}
		}
		return stream.PollEnd, nil
	default:
		return stream.PollIdle, nil
	}
}

// handle takes an event from the goroutines.
func (r *reader) handle(ev event) error {
	switch ev.kind {
	case eventAssign:
		for p, off := range ev.starts {
			r.offsets[p] = off
		}
		if ev.initial {
			r.discovered = true
			if r.src.StopAtLatest {
				r.bounded = make(map[int32]bool, len(ev.starts))
				for p := range ev.starts {
					r.bounded[p] = true
				}
			}
		}
	case eventRecords:
		// Bad records are handled before the good ones of the fetch are
		// emitted, so a dead letter is written before any checkpoint
		// whose offsets are past it.
		if err := r.handleBad(ev.partition, ev.bad); err != nil {
			return err
		}
		if len(ev.values) == 0 {
			r.offsets[ev.partition] = ev.next
			return nil
		}
		r.cur, r.pos = &ev, 0
	case eventDone:
		delete(r.bounded, ev.partition)
	}
	return nil
}

// handleBad handles the bad records of a fetch of partition p as OnError
// says.
func (r *reader) handleBad(p int32, bad []badRecord) error {
	if len(bad) == 0 {
		return nil
	}
	switch r.cfg.onError {
	case OnErrorSkip:
		r.skipped.Add(int64(len(bad)))
	case OnErrorDeadLetter:
		part := []byte(strconv.Itoa(int(p)))
		for _, b := range bad {
			headers := []header{
				{key: HeaderSourceTopic, value: []byte(r.src.Topic)},
				{key: HeaderSourcePartition, value: part},
				{key: HeaderSourceOffset, value: strconv.AppendInt(nil, b.offset, 10)},
				{key: HeaderError, value: []byte(b.reason)},
			}
			if err := r.dlq.writeRecord(b.key, b.value, headers, b.timestamp); err != nil {
				return r.dlqError(err)
			}
		}
		r.deadLettered.Add(int64(len(bad)))
	default:
		b := bad[0]
		return stream.Unrecoverable(fmt.Errorf("kafka source: topic %q partition %d offset %d: %s (format %q); "+
			"the job fails rather than restart into the same record: set on_error to %q or %q to go on past bad records",
			r.src.Topic, p, b.offset, b.reason, r.cfg.format, OnErrorSkip, OnErrorDeadLetter))
	}
	// The first bad records are logged one by one, then one in every
	// 1000, each line with the running total: never the payload.
	msg := "kafka source: bad record skipped"
	if r.cfg.onError == OnErrorDeadLetter {
		msg = "kafka source: bad record sent to the dead-letter topic"
	}
	for _, b := range bad {
		r.logged++
		if r.logged <= 10 || r.logged%1000 == 0 {
			r.logger.Warn(msg, "partition", p, "offset", b.offset, "error", b.reason, "bad_records", r.logged, "dead_letter_topic", r.src.DeadLetterTopic)
		}
	}
	return nil
}

// dlqError names the dead-letter topic in a failure to write to it.
func (r *reader) dlqError(err error) error {
	return fmt.Errorf("kafka source: writing bad records of topic %q to dead_letter_topic %q: %w", r.src.Topic, r.src.DeadLetterTopic, err)
}

// SnapshotState returns one sourceOffset element per partition: the
// offset after the last record emitted. Before the first partition
// discovery has finished it adds a sourceUnassigned element.
func (r *reader) SnapshotState(id int64) ([][]byte, error) {
	if r.dlq != nil {
		// The dead letters before the offsets go to Kafka; SyncSnapshot
		// waits for them.
		if _, err := r.dlq.SnapshotState(id); err != nil {
			return nil, r.dlqError(err)
		}
	}
	parts := slices.Sorted(maps.Keys(r.offsets))
	elems := make([][]byte, 0, len(parts)+1)
	for _, p := range parts {
		elems = append(elems, offsetElement{kind: sourceOffset, topic: r.src.Topic, partition: p, offset: r.offsets[p]}.encode())
	}
	if !r.discovered && (!r.resumed || r.unassigned) {
		elems = append(elems, offsetElement{kind: sourceUnassigned, topic: r.src.Topic}.encode())
	}
	if r.commits != nil && len(parts) > 0 {
		if len(r.toCommit) == maxToCommit {
			// Savepoints are never notified, and failed checkpoints
			// never are: forget the oldest.
			r.toCommit = slices.Delete(r.toCommit, 0, 1)
		}
		r.toCommit = append(r.toCommit, commitPoint{checkpoint: id, offsets: maps.Clone(r.offsets)})
	}
	return elems, nil
}

// SyncSnapshot waits until the dead letters written before the barrier of
// checkpoint id are acknowledged: a checkpoint whose offsets are past a
// bad record completes only with its dead letter in Kafka.
func (r *reader) SyncSnapshot(id int64) error {
	if r.dlq == nil {
		return nil
	}
	if err := r.dlq.SyncSnapshot(id); err != nil {
		return r.dlqError(err)
	}
	return nil
}

// UnionRedistribution marks the source's state as union-redistributed when
// the job resumes at another parallelism: every subtask sees every saved partition offset and keeps those of the partitions it reads.
func (r *reader) UnionRedistribution() {}

var _ stream.UnionRedistributed = (*reader)(nil)

// RestoreState keeps the offsets of the partitions of the source's topic
// that this subtask reads (partition p % parallelism == subtask) and
// ignores the other elements, so a subtask handed every subtask's
// elements after a change of parallelism takes its own.
func (r *reader) RestoreState(elems [][]byte) error {
	if r.started {
		return errors.New("kafka source: state restored after the reader started")
	}
	r.resumed = true
	for i, b := range elems {
		e, err := decodeOffsetElement(b)
		if err != nil {
			return fmt.Errorf("kafka source: state element %d: %w", i, err)
		}
		if e.topic != r.src.Topic {
			continue
		}
		switch e.kind {
		case sourceUnassigned:
			r.unassigned = true
		case sourceOffset:
			if assigned(e.partition, r.subtask, r.parallelism) {
				r.offsets[e.partition] = e.offset
			}
		}
	}
	r.logger.Info("kafka source: restored offsets", "partitions", len(r.offsets))
	return nil
}

// NotifyCheckpointComplete hands the offsets of checkpoint id to the
// committer, which commits them to the group. Committing is for
// monitoring only: a failure is logged, not returned.
func (r *reader) NotifyCheckpointComplete(id int64) error {
	var latest map[int32]int64
	i := 0
	for ; i < len(r.toCommit) && r.toCommit[i].checkpoint <= id; i++ {
		latest = r.toCommit[i].offsets
	}
	r.toCommit = r.toCommit[i:]
	if latest == nil {
		return nil
	}
	for {
		select {
		case r.commits <- latest:
			return nil
		default:
		}
		select { // replace offsets the committer has not taken yet
		case <-r.commits:
		default:
		}
	}
}

// commitLoop commits offsets handed over by NotifyCheckpointComplete.
func (r *reader) commitLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case offsets := <-r.commits:
			err := retry(ctx, r.clock, time.Minute, func() error { return r.commit(ctx, offsets) })
			if err != nil && ctx.Err() == nil {
				r.logger.Warn("kafka source: committing offsets to the group failed", "group", r.src.Group, "error", err)
			}
		}
	}
}

func (r *reader) commit(ctx context.Context, offsets map[int32]int64) error {
	req := &kafka.OffsetCommitRequest{GroupID: r.src.Group, GenerationID: -1, Topics: map[string][]kafka.OffsetCommit{}}
	for p, off := range offsets {
		req.Topics[r.src.Topic] = append(req.Topics[r.src.Topic], kafka.OffsetCommit{Partition: int(p), Offset: off})
	}
	resp, err := r.cl.client.OffsetCommit(ctx, req)
	if err != nil {
		return err
	}
	var errs []error
	for _, ps := range resp.Topics {
		for _, p := range ps {
			if p.Error != nil {
				errs = append(errs, fmt.Errorf("partition %d: %w", p.Partition, p.Error))
			}
		}
	}
	return errors.Join(errs...)
}

// Close stops the goroutines, waits for them and closes the connections.
func (r *reader) Close() error {
	if r.cancel != nil {
		r.cancel()
	}
	r.wg.Wait()
	r.cl.close()
	r.cur = nil
	if r.dlq != nil {
		return r.dlq.Close()
	}
	return nil
}

// manage discovers the partitions, assigns this subtask's, starts a
// fetcher for each and, unless the source is bounded, looks for new
// partitions every DiscoveryInterval. restored are the offsets from a
// checkpoint; partitions without one start as policy says for the first
// discovery and at their earliest offset afterwards.
func (r *reader) manage(ctx context.Context, restored map[int32]int64, policy startKind) error {
	running := map[int32]bool{}
	discover := func(policy startKind, initial bool) error {
		var all []int32
		err := retry(ctx, r.clock, time.Minute, func() (err error) {
			all, err = r.cl.partitions(ctx, r.src.Topic)
			return err
		})
		if err != nil {
			return fmt.Errorf("kafka source: discovering the partitions of topic %q: %w", r.src.Topic, err)
		}
		var mine, fresh []int32
		for _, p := range all {
			if assigned(p, r.subtask, r.parallelism) && !running[p] {
				mine = append(mine, p)
				if _, ok := restored[p]; !ok {
					fresh = append(fresh, p)
				}
			}
		}
		if len(mine) == 0 && !initial {
			return nil
		}
		starts, err := r.startOffsets(ctx, fresh, policy)
		if err != nil {
			return err
		}
		for _, p := range mine {
			if off, ok := restored[p]; ok {
				starts[p] = off
			}
		}
		stops := map[int32]int64{}
		if r.src.StopAtLatest {
			if stops, err = r.listOffsets(ctx, mine, latestTimestamp); err != nil {
				return err
			}
		}
		select {
		case r.events <- event{kind: eventAssign, starts: starts, initial: initial}:
			r.signal()
		case <-ctx.Done():
			return ctx.Err()
		}
		r.logger.Info("kafka source: reading partitions", "partitions", fmt.Sprint(mine))
		for _, p := range mine {
			running[p] = true
			stop, ok := stops[p]
			if !ok {
				stop = -1
			}
			start := starts[p]
			r.wg.Go(func() {
				if err := r.fetchLoop(ctx, p, start, stop); err != nil && ctx.Err() == nil {
					r.fail(err)
				}
			})
		}
		return nil
	}
	if err := discover(policy, true); err != nil {
		return err
	}
	if r.src.StopAtLatest {
		return nil
	}
	t := r.clock.NewTicker(DiscoveryInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C():
			if err := discover(startEarliest, false); err != nil && ctx.Err() == nil {
				// The partitions being read are unaffected; try again
				// at the next tick.
				r.logger.Warn("kafka source: partition discovery failed", "error", err)
			}
		}
	}
}

// startOffsets resolves where partitions without a saved offset start.
func (r *reader) startOffsets(ctx context.Context, parts []int32, policy startKind) (map[int32]int64, error) {
	starts := map[int32]int64{}
	if len(parts) == 0 {
		return starts, nil
	}
	switch policy {
	case startEarliest:
		return r.listOffsets(ctx, parts, earliestTimestamp)
	case startLatest:
		return r.listOffsets(ctx, parts, latestTimestamp)
	case startTimestamp:
		found, err := r.listOffsets(ctx, parts, r.cfg.timestamp)
		if err != nil {
			return nil, err
		}
		var none []int32
		for _, p := range parts {
			if found[p] < 0 {
				none = append(none, p)
			}
		}
		latest, err := r.listOffsets(ctx, none, latestTimestamp)
		if err != nil {
			return nil, err
		}
		maps.Copy(found, latest)
		return found, nil
	case startCommitted:
		var resp *kafka.OffsetFetchResponse
		err := retry(ctx, r.clock, time.Minute, func() (err error) {
			ps := make([]int, len(parts))
			for i, p := range parts {
				ps[i] = int(p)
			}
			resp, err = r.cl.client.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: r.src.Group, Topics: map[string][]int{r.src.Topic: ps}})
			switch {
			case err != nil:
				return err
			case errors.Is(resp.Error, kafka.GroupIdNotFound):
				resp.Topics = nil // a group that never committed
				return nil
			}
			return resp.Error
		})
		if err != nil {
			return nil, fmt.Errorf("kafka source: fetching the committed offsets of group %q: %w", r.src.Group, err)
		}
		var none []int32
		for _, p := range resp.Topics[r.src.Topic] {
			if p.Error != nil {
				return nil, fmt.Errorf("kafka source: fetching the committed offset of group %q, partition %d: %w", r.src.Group, p.Partition, p.Error)
			}
			if p.CommittedOffset >= 0 {
				starts[int32(p.Partition)] = p.CommittedOffset
			}
		}
		for _, p := range parts {
			if _, ok := starts[p]; !ok {
				none = append(none, p)
			}
		}
		earliest, err := r.listOffsets(ctx, none, earliestTimestamp)
		if err != nil {
			return nil, err
		}
		maps.Copy(starts, earliest)
		return starts, nil
	}
	return nil, fmt.Errorf("kafka source: unknown start policy %d", policy)
}

// listOffsets is cluster.listOffsets with retries and the source's
// isolation level.
func (r *reader) listOffsets(ctx context.Context, parts []int32, ts int64) (map[int32]int64, error) {
	var out map[int32]int64
	err := retry(ctx, r.clock, time.Minute, func() (err error) {
		out, err = r.cl.listOffsets(ctx, r.src.Topic, parts, ts, r.cfg.isolation)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("kafka source: listing offsets of topic %q: %w", r.src.Topic, err)
	}
	return out, nil
}
