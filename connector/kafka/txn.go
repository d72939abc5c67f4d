package kafka

import (
	"context"
	"errors"
	"fmt"

	kafka "github.com/segmentio/kafka-go"
)

// transaction is the open transaction of an exactly-once writer.
type transaction struct {
	id         string // <prefix>-<subtask>-<seq>
	producerID int64
	epoch      int16
}

// txnID returns the transactional ID with sequence number seq.
func (w *writer) txnID(seq uint64) string { return transactionalID(w.prefix, w.subtask, seq) }

func transactionalID(prefix string, subtask int, seq uint64) string {
	return fmt.Sprintf("%s-%d-%d", prefix, subtask, seq)
}

// beginTxn opens a transaction under the next transactional ID.
// InitProducerID gives the ID a producer ID and a new epoch, which fences
// any earlier user of the ID and aborts its open transaction.
func (w *writer) beginTxn() error {
	id := w.txnID(w.nextSeq)
	pid, epoch, err := w.initProducerID(id)
	if err != nil {
		return fmt.Errorf("kafka sink: opening transaction %q: %w", id, err)
	}
	w.nextSeq++
	w.txn = &transaction{id: id, producerID: pid, epoch: epoch}
	for _, pw := range w.parts {
		pw.seq, pw.inTxn = 0, false
	}
	return nil
}

// initProducerID initializes transactional ID id and returns its producer
// ID and epoch.
func (w *writer) initProducerID(id string) (int64, int16, error) {
	var pid int64
	var epoch int16
	err := retry(context.Background(), w.clock, deliveryTimeout, func() error {
		resp, err := w.cl.client.InitProducerID(context.Background(), &kafka.InitProducerIDRequest{
			TransactionalID:      id,
			TransactionTimeoutMs: int(w.txnTimeout.Milliseconds()),
			// -1: a new producer, not the recovery of a known one
			// (KIP-360); kafka-go would send 0.
			ProducerID:    -1,
			ProducerEpoch: -1,
		})
		if err != nil {
			return err
		}
		if resp.Error != nil {
			return resp.Error
		}
		pid, epoch = int64(resp.Producer.ProducerID), int16(resp.Producer.ProducerEpoch)
		return nil
	})
	return pid, epoch, err
}

// addPartitions adds the partitions of parts that are not in the open
// transaction yet, in one request. A partition must be in the transaction
// before the transaction's records are produced to it.
func (w *writer) addPartitions(parts []*partitionWriter) error {
	var add []kafka.AddPartitionToTxn
	for _, pw := range parts {
		if !pw.inTxn {
			add = append(add, kafka.AddPartitionToTxn{Partition: int(pw.id)})
		}
	}
	if len(add) == 0 {
		return nil
	}
	t := w.txn
	err := retry(context.Background(), w.clock, deliveryTimeout, func() error {
		resp, err := w.cl.client.AddPartitionsToTxn(context.Background(), &kafka.AddPartitionsToTxnRequest{
			TransactionalID: t.id,
			ProducerID:      int(t.producerID),
			ProducerEpoch:   int(t.epoch),
			Topics:          map[string][]kafka.AddPartitionToTxn{w.sink.Topic: add},
		})
		if err != nil {
			return err
		}
		var errs []error
		for _, p := range resp.Topics[w.sink.Topic] {
			if p.Error != nil {
				errs = append(errs, fmt.Errorf("partition %d: %w", p.Partition, p.Error))
			}
		}
		if len(resp.Topics[w.sink.Topic]) != len(add) && len(errs) == 0 {
			errs = append(errs, fmt.Errorf("%d partitions in the response, want %d", len(resp.Topics[w.sink.Topic]), len(add)))
		}
		return errors.Join(errs...)
	})
	if err != nil {
		err = fmt.Errorf("kafka sink: adding partitions of topic %q to transaction %q: %w", w.sink.Topic, t.id, err)
		w.setFailure(err)
		return err
	}
	for _, pw := range parts {
		pw.inTxn = true
	}
	return nil
}

// endTxn commits or aborts a transaction, retrying retryable errors.
func (w *writer) endTxn(id string, pid int64, epoch int16, commit bool) error {
	return retry(context.Background(), w.clock, deliveryTimeout, func() error {
		return w.endTxnOnce(context.Background(), id, pid, epoch, commit)
	})
}

func (w *writer) endTxnOnce(ctx context.Context, id string, pid int64, epoch int16, commit bool) error {
	resp, err := w.cl.client.EndTxn(ctx, &kafka.EndTxnRequest{
		TransactionalID: id,
		ProducerID:      int(pid),
		ProducerEpoch:   int(epoch),
		Committed:       commit,
	})
	if err != nil {
		return err
	}
	return resp.Error
}

// commitRecovered commits a pending transaction from a checkpoint's
// state, resuming its producer ID and epoch. The broker answers a repeated
// commit of a committed transaction with success, so a transaction that
// the failed attempt committed already is fine. The outcomes where the
// transaction cannot be committed are logged, as Flink does, rather than
// failing every restore from this checkpoint:
//
//   - the ID has a newer epoch (PRODUCER_FENCED, INVALID_PRODUCER_EPOCH):
//     the ID was initialized again after the transaction ended, by a
//     later attempt; the transaction was committed by the attempt that
//     pre-committed it or aborted, and which one is no longer known;
//   - INVALID_TXN_STATE: the transaction was aborted, most likely by the
//     broker when it outlived the transaction timeout, and its records
//     are lost;
//   - INVALID_PRODUCER_ID_MAPPING, TRANSACTIONAL_ID_NOT_FOUND: the ID
//     expired (transactional.id.expiration.ms) long after the
//     transaction ended.
func (w *writer) commitRecovered(p pendingTxn) error {
	err := w.endTxn(p.transactional, p.producerID, p.epoch, true)
	attrs := []any{"transactional_id", p.transactional, "checkpoint", p.checkpoint, "error", err}
	switch {
	case err == nil:
		return nil
	case errors.Is(err, kafka.ProducerFenced), errors.Is(err, kafka.InvalidProducerEpoch):
		w.logger.Warn("kafka sink: a restored transaction was ended and its ID reused since; not committing it", attrs...)
	case errors.Is(err, kafka.InvalidTransactionState):
		w.logger.Error("kafka sink: a restored transaction was aborted before it could be committed, "+
			"its records are lost; is transaction_timeout shorter than checkpoints and recoveries take?", attrs...)
	case errors.Is(err, kafka.InvalidProducerIDMapping), errors.Is(err, kafka.TransactionalIDNotFound):
		w.logger.Warn("kafka sink: the transactional ID of a restored transaction has expired; not committing it", attrs...)
	default:
		return fmt.Errorf("kafka sink: committing restored transaction %q of checkpoint %d: %w", p.transactional, p.checkpoint, err)
	}
	return nil
}

// abortLingering aborts the transactions that subtask opened with IDs
// <prefix>-<subtask>-<n>, n >= from: they were opened after the
// checkpoint being restored and never pre-committed by it. Initializing
// an ID fences its last user and aborts its open transaction. IDs are
// used in sequence, so the probe stops at the first ID the broker did not
// know (it answers with epoch 0). It returns the number of IDs fenced.
func (w *writer) abortLingering(prefix string, subtask int, from uint64) (int, error) {
	n := 0
	for seq := from; ; seq++ {
		id := transactionalID(prefix, subtask, seq)
		_, epoch, err := w.initProducerID(id)
		if err != nil {
			return n, fmt.Errorf("kafka sink: aborting the transactions after the checkpoint: initializing %q: %w", id, err)
		}
		if epoch == 0 {
			return n, nil
		}
		n++
	}
}
