package network

import (
	"errors"
	"time"

	weirv1 "github.com/weirstream/weir/api/proto/weir/v1"
	"github.com/weirstream/weir/internal/clock"
	"github.com/weirstream/weir/internal/keygroup"
)

// Output writes the records of one network edge to its consumer subtasks,
// batching them into buffers per channel. It is used by the task goroutine
// only.
type Output struct {
	partitioning weirv1.Partitioning
	maxP         int
	channels     []ChannelWriter
	bufs         [][]byte
	next         int // round-robin position
	clock        clock.Clock

	// Backpressured accumulates the time spent blocked in Send.
	Backpressured time.Duration
	// BytesSent counts the bytes of the buffers sent, events included.
	BytesSent int64
}

// NewOutput returns an output over channels, one per consumer subtask in
// subtask order (a single channel for a forward edge).
func NewOutput(p weirv1.Partitioning, maxParallelism int, channels []ChannelWriter, c clock.Clock, subtask int) *Output {
	o := &Output{partitioning: p, maxP: maxParallelism, channels: channels, bufs: make([][]byte, len(channels)), clock: c}
	o.next = subtask % len(channels)
	return o
}

// WriteRecord implements stream.EdgeWriter. ts is the record's event
// timestamp, NoTimestamp for none. A record of a key-group partitioned
// edge carries its key group (KindKeyedRecord).
func (o *Output) WriteRecord(rec []byte, ts int64, keyHash uint64) error {
	c, kg := 0, NoKeyGroup
	switch o.partitioning {
	case weirv1.Partitioning_PARTITIONING_KEY_GROUP:
		kg = keygroup.Of(keyHash, o.maxP)
		c = keygroup.Subtask(kg, len(o.channels), o.maxP)
	case weirv1.Partitioning_PARTITIONING_REBALANCE:
		c = o.next
		if o.next++; o.next == len(o.channels) {
			o.next = 0
		}
	}
	b := o.bufs[c]
	if n := RecordSize(kg, ts, len(rec)); len(b)+n > BufferSize {
		// The record does not fit: the buffer goes without it, and a
		// record larger than a buffer goes alone.
		if len(b) > 0 {
			o.bufs[c] = nil
			if err := o.send(c, b); err != nil {
				return err
			}
		}
		if n >= BufferSize {
			return o.send(c, AppendRecord(getBuffer(), kg, ts, rec))
		}
		b = nil
	}
	if b == nil {
		b = getBuffer()
	}
	o.bufs[c] = AppendRecord(b, kg, ts, rec)
	return nil
}

func (o *Output) send(c int, b []byte) error {
	start := o.clock.Now()
	o.BytesSent += int64(len(b))
	err := o.channels[c].Send(b)
	o.Backpressured += o.clock.Now().Sub(start)
	return err
}

// Flush sends every partly filled buffer.
func (o *Output) Flush() error {
	for c, b := range o.bufs {
		if len(b) == 0 {
			continue
		}
		o.bufs[c] = nil
		if err := o.send(c, b); err != nil {
			return err
		}
	}
	return nil
}

// Pending reports whether records wait in partly filled buffers.
func (o *Output) Pending() bool {
	for _, b := range o.bufs {
		if len(b) > 0 {
			return true
		}
	}
	return false
}

// Broadcast sends an in-band event to every channel, after the records
// written before it: in the channel's pending buffer if it fits there,
// else in a buffer of its own after it, as WriteRecord keeps buffers
// within BufferSize.
func (o *Output) Broadcast(k Kind, payload []byte) error {
	n := elementSize(len(payload))
	for c := range o.channels {
		b := o.bufs[c]
		o.bufs[c] = nil
		if len(b) > 0 && len(b)+n > BufferSize {
			if err := o.send(c, b); err != nil {
				return err
			}
			b = nil
		}
		if b == nil {
			b = getBuffer()
		}
		if err := o.send(c, AppendElement(b, k, payload)); err != nil {
			return err
		}
	}
	return nil
}

// Finish flushes, sends the end of partition on every channel and closes them.
func (o *Output) Finish() error {
	if err := o.Broadcast(KindEndOfPartition, nil); err != nil {
		return err
	}
	var errs []error
	for _, ch := range o.channels {
		errs = append(errs, ch.Close())
	}
	return errors.Join(errs...)
}

// Abort ends every channel after a failure.
func (o *Output) Abort(err error) {
	for _, ch := range o.channels {
		ch.Abort(err)
	}
}
