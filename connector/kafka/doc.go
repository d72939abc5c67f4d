// Package kafka has a source reading the values of a Kafka topic's records
// as strings, registered as "weir.kafka.source", and a sink writing strings
// as record values, registered as "weir.kafka.sink". The sink writes no
// keys or headers; the source reads keys and headers only of the bad
// records it sends to a dead-letter topic. Both speak the Kafka protocol with
// github.com/segmentio/kafka-go, each reader and writer through a
// transport of its own.
//
// Programs that take URIs build them with ParseSource and ParseSink from
// kafka://HOST:PORT[,HOST:PORT...]/TOPIC?PARAM=VALUE&..., the parameters
// being the JSON field names.
//
// # Source: partitions and subtasks
//
// Partition p of the topic is read by subtask p % parallelism. Subtasks
// agree on this without talking to each other, and no consumer group is
// joined: kafka-go's group reader rebalances partitions on its own, which
// fights a deterministic assignment and checkpointed offsets. A subtask
// with no partition is idle. An unbounded source looks for new partitions
// every DiscoveryInterval (on the task's injected clock) and reads them
// from their earliest offset.
//
// A reader runs one goroutine per partition that fetches batches of
// records into a bounded queue (so a slow task slows the fetches),
// a manager goroutine that discovers partitions and resolves start
// offsets, and, with a Group, a committer goroutine. PollNext only drains
// the queue, up to a batch of records, and never blocks. Close stops the
// goroutines and waits for them. Fetches use the protocol-level Fetch
// request with MaxWait (default 50 ms) rather than kafka.Reader, because
// kafka-go's reader and Client.Fetch drop the list of aborted
// transactions: read_committed, the default, is implemented here, as the
// Java consumer does it, by skipping the batches of aborted transactions;
// transaction markers are never records.
//
// Each record is emitted with its Kafka timestamp (create time, or
// log-append time where the topic says so) as its event timestamp, and
// its partition as its split (stream.SplitCollector), so a watermark
// strategy chained to the source keeps a watermark per partition and
// takes the minimum over the partitions that are not idle, as Flink's
// Kafka source does.
//
// # Source: formats and bad records
//
// Format declares what values are: "raw" (any bytes; nothing is ever
// bad), "text" (UTF-8) or "json" (one JSON value each). The fetcher
// goroutines check each value. A bad record (a poison pill) is handled
// on the task goroutine, before the records after it, as OnError says:
//
//   - "fail" (the default): the task fails with an error naming the topic,
//     partition and offset and why the value is bad, marked
//     stream.ErrUnrecoverable, so the job fails at once instead of
//     restarting into the same record over and over. Skip the record by
//     resuming with "skip" or "dead-letter", or past it with StartFrom.
//   - "skip": the record is dropped and counted (kafka_records_skipped).
//   - "dead-letter": the record (key, value, timestamp) is written to
//     DeadLetterTopic with headers weir.source.topic, weir.source.partition,
//     weir.source.offset and weir.error, and counted
//     (kafka_records_dead_lettered). Dead letters are written at least
//     once: they are sent at the checkpoint barrier, and the checkpoint is
//     acknowledged only once the dead letters before it are (SyncSnapshot,
//     off the task goroutine), so none is lost, but one whose checkpoint
//     did not complete is written again after a restore; the origin
//     headers identify duplicates.
//
// The first ten bad records of a subtask are logged one by one, then one
// in every thousand, with the running count: offsets and reasons, never
// payloads. Counters appear in the task metrics (`weir status`).
//
// # Source: offsets in checkpoints
//
// The read position is the source's state: SnapshotState returns one
// element (topic, partition, next offset) per partition the subtask has
// been assigned, the offset after the last record it emitted. A restored
// subtask keeps the elements of the partitions it reads under the current
// parallelism (p % parallelism == subtask) and the source's topic, and
// ignores the rest, so after a change of parallelism every subtask must be
// handed the elements of all old subtasks (Flink's union list state).
// Partitions missing from the state were created after the checkpoint and
// start at their earliest offset, unless the checkpoint was taken before
// the subtask's first partition discovery finished (a marker element says
// so), in which case they start where StartFrom says. StartFrom applies
// only to a fresh start: earliest (default), latest, committed (the
// Group's offsets, earliest where the group has none) or
// timestamp:<unix millis> (latest where no record is that recent).
//
// When a checkpoint completes the source commits its offsets to Group, if
// set, for monitoring only, as Flink does: failures are logged, and the
// source never restores from the group.
//
// With StopAtLatest the source is bounded: each subtask reads its
// partitions up to the latest offsets they had when it started (with
// read_committed, the last stable offsets: an open transaction ends the
// read before it) and then ends. An offset out of range (records deleted
// by retention, a recreated topic) moves to the nearest valid one, with a
// warning.
//
// # Sink
//
// Records go to one partition until its record batch (BatchBytes) is full,
// then to the next. Batches are built here in message format v2 and sent
// with kafka-go's Client.RawProduce with acks=all, by one goroutine per
// partition (so a partition's batches stay in order), at most 8 batches
// outstanding per writer. The task calls Flush when its input is idle,
// which sends partial batches. A record the broker refuses as too large
// fails the task with an error naming the topic and the record's size;
// payloads never appear in errors or logs.
//
// Semantic "at-least-once" (the default unless the job checkpoints
// EXACTLY_ONCE) sends every open batch at a checkpoint barrier, and the
// checkpoint's asynchronous part waits until the brokers have acknowledged
// every record before the barrier (SyncSnapshot, stream.SnapshotSyncer)
// before it acknowledges the checkpoint, while the task goes on writing;
// Finish waits for every record. A checkpoint completes only with its
// records in Kafka, and a restore may write again what a failed attempt
// wrote after the checkpoint.
//
// # Exactly-once sink
//
// Semantic "exactly-once" writes in Kafka transactions committed when
// checkpoints complete, a two-phase commit as in Flink's KafkaSink:
//
//   - A transaction opens at the first record after a barrier, under a new
//     transactional ID <prefix>-<subtask>-<n>, n = 0, 1, ... (prefix
//     TransactionalIDPrefix, default the job ID): InitProducerID gives the
//     ID a producer ID and epoch and fences any earlier user of the ID. A
//     partition is added to the transaction (AddPartitionsToTxn) before the
//     first batch goes to it; batches carry the producer ID, epoch, their
//     sequence numbers and the transactional attribute, so the broker
//     drops retried duplicates.
//   - Pre-commit, at the barrier of checkpoint c (SnapshotState): every
//     open batch is sent, and the transaction becomes pending for c; the
//     next record opens the next transaction at once. The checkpoint is
//     acknowledged only once the brokers have acknowledged every batch of
//     the transaction (SyncSnapshot, off the task goroutine), so a
//     completed checkpoint's transactions hold all their records. A
//     Kafka producer runs one transaction at a time, so one ID per
//     checkpoint interval, as in Flink, lets the next checkpoint's records
//     flow while the last one completes. The state is the pending
//     transactions (transactional ID, producer ID, epoch, checkpoint) and
//     the next n.
//   - Commit, when checkpoint c completes (NotifyCheckpointComplete):
//     EndTxn(commit) for the pending transactions of c and earlier ones.
//   - Restore: the pending transactions in the state are committed with
//     their saved producer ID and epoch (their checkpoint completed, since
//     the job resumes from it); the broker answers a repeated commit with
//     success. Then the subtask aborts what it opened after the checkpoint:
//     it initializes <prefix>-<subtask>-<n> for n from the saved next n
//     upwards, which fences the failed attempt and aborts its open
//     transaction, until the broker answers with epoch 0, an ID nobody has
//     used. IDs are used in order, so nothing lies beyond; the probe reads
//     the prefix from the state, so it also works after the job ID
//     changed. After a scale-down subtask 0 does the same for the subtasks
//     that no longer exist. The next transactions reuse the IDs from the
//     saved n on.
//   - Close without a checkpoint aborts the open transaction; a crash
//     leaves it to the restore's probe or the transaction timeout.
//
// A read_committed consumer thus sees each record of a completed
// checkpoint once and none of a failed attempt. Each transaction must end
// within TransactionTimeout (default 15 min, the brokers' default maximum)
// from its first record: past it the broker aborts it, and a restore
// finds it aborted and logs that its records are lost. An open
// transaction holds back read_committed consumers of its partitions until
// it ends. Jobs running at the same time need different prefixes. A
// commit at restore that finds the ID reused since, or expired, is
// logged and skipped, as Flink does. Finish expects the runtime's final
// checkpoint to have committed everything; exactly-once needs a job that
// checkpoints, and gives exactly-once output with EXACTLY_ONCE
// checkpointing (at least once with AT_LEAST_ONCE).
//
// kafka-go has every request this needs (InitProducerID, AddPartitionsToTxn,
// RawProduce with a transactional ID, EndTxn) but no transactional
// producer, and its record batch encoder writes producer ID and epoch -1;
// the package encodes batches itself (batch.go), and sends InitProducerID
// with producer ID and epoch -1, which kafka-go would send as 0.
package kafka
