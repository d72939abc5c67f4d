package kafka

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	kafka "github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol"
	fetchapi "github.com/segmentio/kafka-go/protocol/fetch"
)

// fetchLoop reads partition p from offset start and hands its records to
// the task goroutine through r.events, until ctx ends or, if stop >= 0,
// the partition has been read up to offset stop.
//
// It fetches with kafka-go's protocol-level Fetch request rather than
// kafka.Reader or Client.Fetch: those drop the aborted-transaction list of
// the response, so with read_committed they would return the records of
// aborted transactions.
func (r *reader) fetchLoop(ctx context.Context, p int32, offset, stop int64) error {
	b := backoff{clock: r.clock}
	failing := false // a retryable error was logged and no fetch has succeeded since
	readCommitted := r.cfg.isolation == kafka.ReadCommitted
	var scratch []byte // a value being checked against the format
	for {
		if stop >= 0 && offset >= stop {
			select {
			case r.events <- event{kind: eventDone, partition: p}:
				r.signal()
				return nil
			case <-ctx.Done():
				return nil
			}
		}
		resp, err := r.fetch(ctx, p, offset)
		if err == nil {
			err = errorCode(resp.ErrorCode)
		}
		switch {
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, kafka.OffsetOutOfRange):
			if offset, err = r.resetOffset(ctx, p, offset); err != nil {
				return err
			}
			continue
		case err != nil && retryable(err):
			if !failing {
				r.logger.Warn("kafka source: fetch failed, retrying", "partition", p, "offset", offset, "error", err)
				failing = true
			}
			if b.wait(ctx) != nil {
				return nil
			}
			continue
		case err != nil:
			return fmt.Errorf("kafka source: fetching topic %q partition %d at offset %d: %w", r.src.Topic, p, offset, err)
		}
		if failing {
			r.logger.Info("kafka source: fetching again", "partition", p, "offset", offset)
			failing = false
		}
		b.reset()
		ev := event{kind: eventRecords, partition: p}
		ev.next, err = decodeRecords(resp.RecordSet.Records, resp.AbortedTransactions, offset, readCommitted, r.cfg.format, &scratch, &ev)
		if err != nil {
			return fmt.Errorf("kafka source: decoding topic %q partition %d at offset %d: %w", r.src.Topic, p, offset, err)
		}
		if stop >= 0 && ev.next > stop {
			i, _ := slices.BinarySearch(ev.offsets, stop)
			ev.values, ev.offsets, ev.timestamps, ev.next = ev.values[:i], ev.offsets[:i], ev.timestamps[:i], stop
			ev.bad = slices.DeleteFunc(ev.bad, func(b badRecord) bool { return b.offset >= stop })
		}
		if ev.next == offset {
			continue // nothing new: the broker waited MaxWait
		}
		select {
		case r.events <- ev:
			r.signal()
		case <-ctx.Done():
			return nil
		}
		offset = ev.next
	}
}

// fetch fetches partition p at offset and returns the partition's part of
// the response.
func (r *reader) fetch(ctx context.Context, p int32, offset int64) (*fetchapi.ResponsePartition, error) {
	m, err := r.cl.roundTrip(ctx, &fetchapi.Request{
		ReplicaID:      -1,
		MaxWaitTime:    int32(r.cfg.maxWait.Milliseconds()),
		MinBytes:       1,
		MaxBytes:       int32(r.cfg.fetchBytes),
		IsolationLevel: int8(r.cfg.isolation),
		SessionID:      -1,
		SessionEpoch:   -1,
		Topics: []fetchapi.RequestTopic{{
			Topic: r.src.Topic,
			Partitions: []fetchapi.RequestPartition{{
				Partition:          p,
				CurrentLeaderEpoch: -1,
				FetchOffset:        offset,
				LogStartOffset:     -1,
				PartitionMaxBytes:  int32(r.cfg.fetchBytes),
			}},
		}},
	})
	if err != nil {
		return nil, err
	}
	resp := m.(*fetchapi.Response)
	if err := errorCode(resp.ErrorCode); err != nil {
		return nil, err
	}
	for i := range resp.Topics {
		t := &resp.Topics[i]
		for j := range t.Partitions {
			if t.Topic == r.src.Topic && t.Partitions[j].Partition == p {
				return &t.Partitions[j], nil
			}
		}
	}
	return nil, errors.New("the response has no data for the partition")
}

func errorCode(code int16) error {
	if code == 0 {
		return nil
	}
	return kafka.Error(code)
}

// resetOffset handles an out-of-range offset: one below the log start
// (records deleted by retention) moves to the log start, one past the end
// (the partition was truncated or recreated) to the end. Either way
// records are lost or skipped, which is logged.
func (r *reader) resetOffset(ctx context.Context, p int32, offset int64) (int64, error) {
	earliest, err := r.listOffsets(ctx, []int32{p}, earliestTimestamp)
	if err != nil {
		return 0, err
	}
	latest, err := r.listOffsets(ctx, []int32{p}, latestTimestamp)
	if err != nil {
		return 0, err
	}
	next := offset
	switch {
	case offset < earliest[p]:
		next = earliest[p]
	case offset > latest[p]:
		next = latest[p]
	}
	r.logger.Warn("kafka source: offset out of range, moving", "partition", p, "offset", offset, "to", next,
		"earliest", earliest[p], "latest", latest[p])
	return next, nil
}

// decodeRecords appends to ev the values and offsets of the records in rs
// at or after offset from, and returns the offset to fetch next. Values
// that are not of format f go to ev.bad, with their keys, for the task
// goroutine to handle as the source's OnError says; scratch is a buffer
// for checking values.
//
// With readCommitted it skips the records of aborted transactions, as the
// Java consumer does: aborted lists (producer ID, first offset) of the
// transactions aborted in the fetched range; a transactional batch of a
// producer with an aborted transaction that began at or before the batch
// is skipped, until that producer's abort marker. Transaction markers
// (control batches) are never records.
func decodeRecords(rs protocol.RecordReader, aborted []fetchapi.ResponseTransaction, from int64, readCommitted bool, f format, scratch *[]byte, ev *event) (int64, error) {
	next := from
	var batches []protocol.RecordReader
	switch s := rs.(type) {
	case nil:
		return next, nil
	case *protocol.RecordStream:
		batches = s.Records
	default:
		batches = []protocol.RecordReader{rs}
	}
	aborted = slices.Clone(aborted)
	slices.SortFunc(aborted, func(a, b fetchapi.ResponseTransaction) int {
		switch {
		case a.FirstOffset < b.FirstOffset:
			return -1
		case a.FirstOffset > b.FirstOffset:
			return 1
		}
		return 0
	})
	var abortedPIDs map[int64]bool
	for _, batch := range batches {
		skip := false
		switch b := batch.(type) {
		case *protocol.ControlBatch:
			for {
				rec, err := b.ReadRecord()
				if err == io.EOF {
					break
				}
				if err != nil {
					return next, err
				}
				next = max(next, rec.Offset+1)
				cr, err := protocol.ReadControlRecord(rec)
				if err == nil && cr.Type == 0 { // abort marker
					delete(abortedPIDs, b.ProducerID)
				}
			}
			continue
		case *protocol.RecordBatch:
			if readCommitted && b.Attributes.Transactional() {
				for len(aborted) > 0 && aborted[0].FirstOffset <= b.BaseOffset {
					if abortedPIDs == nil {
						abortedPIDs = map[int64]bool{}
					}
					abortedPIDs[aborted[0].ProducerID] = true
					aborted = aborted[1:]
				}
				skip = abortedPIDs[b.ProducerID]
			}
		}
		for {
			rec, err := batch.ReadRecord()
			if err == io.EOF {
				break
			}
			if err != nil {
				return next, err
			}
			if rec.Offset < from || skip {
				closeBytes(rec.Key)
				closeBytes(rec.Value)
				next = max(next, rec.Offset+1)
				continue
			}
			if f == formatRaw {
				closeBytes(rec.Key)
				v, err := readValue(rec.Value)
				if err != nil {
					return next, err
				}
				ev.values = append(ev.values, v)
				ev.offsets = append(ev.offsets, rec.Offset)
				ev.timestamps = append(ev.timestamps, rec.Time.UnixMilli())
				next = rec.Offset + 1
				continue
			}
			b, err := readBytes(rec.Value, (*scratch)[:0])
			if err != nil {
				closeBytes(rec.Key)
				return next, err
			}
			*scratch = b
			if reason := f.check(b); reason != "" {
				key, err := readBytes(rec.Key, nil)
				if err != nil {
					return next, err
				}
				ev.bad = append(ev.bad, badRecord{offset: rec.Offset, timestamp: rec.Time.UnixMilli(), key: key, value: slices.Clone(b), reason: reason})
			} else {
				closeBytes(rec.Key)
				ev.values = append(ev.values, string(b))
				ev.offsets = append(ev.offsets, rec.Offset)
				ev.timestamps = append(ev.timestamps, rec.Time.UnixMilli())
			}
			next = rec.Offset + 1
		}
	}
	return next, nil
}

// closeBytes releases b, which may be nil.
func closeBytes(b protocol.Bytes) {
	if b != nil {
		b.Close()
	}
}

// readBytes appends b to buf and releases it. A null b reads as nil.
func readBytes(b protocol.Bytes, buf []byte) ([]byte, error) {
	if b == nil {
		return buf, nil
	}
	defer b.Close()
	n := b.Len()
	if buf == nil {
		buf = make([]byte, 0, n) // an empty value is not a null one
	}
	buf = slices.Grow(buf, n)
	if _, err := io.ReadFull(b, buf[len(buf):len(buf)+n]); err != nil {
		return buf, err
	}
	return buf[:len(buf)+n], nil
}

// readValue copies a record value into a string and releases it. A null
// value reads as "".
func readValue(b protocol.Bytes) (string, error) {
	if b == nil {
		return "", nil
	}
	defer b.Close()
	var sb strings.Builder
	sb.Grow(b.Len())
	if _, err := io.Copy(&sb, b); err != nil {
		return "", err
	}
	return sb.String(), nil
}
