package kafka

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"syscall"
	"time"

	kafka "github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol"
	"github.com/segmentio/kafka-go/protocol/listoffsets"

	"github.com/weirstream/weir/internal/clock"
)

const (
	// requestTimeout bounds one request to a broker, fetches included
	// (their MaxWait is much shorter).
	requestTimeout = 30 * time.Second
	// retryMin and retryMax bound the backoff between retries of a
	// retryable error.
	retryMin = 100 * time.Millisecond
	retryMax = 2 * time.Second
)

// The special timestamps of a ListOffsets request.
const (
	latestTimestamp   = -1
	earliestTimestamp = -2
)

// cluster is how one reader or writer talks to Kafka: a kafka-go transport
// of its own, so that closing the reader or writer closes its connections,
// and the bootstrap address. It is safe for concurrent use.
type cluster struct {
	addr      net.Addr
	transport *kafka.Transport
	client    *kafka.Client
}

// newCluster returns a cluster for the brokers. metadataTTL is how long
// the transport caches metadata (partitions and leaders); 0 is kafka-go's
// default of 6 s.
func newCluster(brokers []string, clientID, topic string, metadataTTL time.Duration) *cluster {
	t := &kafka.Transport{
		ClientID:       clientID,
		DialTimeout:    10 * time.Second,
		MetadataTTL:    metadataTTL,
		MetadataTopics: []string{topic},
	}
	addr := kafka.TCP(brokers...)
	return &cluster{
		addr:      addr,
		transport: t,
		client:    &kafka.Client{Addr: addr, Transport: t, Timeout: requestTimeout},
	}
}

// close closes the connections. Requests in flight fail.
func (c *cluster) close() { c.transport.CloseIdleConnections() }

// roundTrip sends a request of kafka-go's protocol package and returns the
// response.
func (c *cluster) roundTrip(ctx context.Context, req protocol.Message) (protocol.Message, error) {
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	return c.transport.RoundTrip(ctx, c.addr, req)
}

// errTopicNotFound is returned by partitions for a topic the cluster does
// not have.
var errTopicNotFound = errors.New("topic does not exist")

// partitions returns the partition IDs of topic in ascending order.
func (c *cluster) partitions(ctx context.Context, topic string) ([]int32, error) {
	m, err := c.client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return nil, err
	}
	for _, t := range m.Topics {
		if t.Name != topic {
			continue
		}
		if errors.Is(t.Error, kafka.UnknownTopicOrPartition) {
			return nil, errTopicNotFound
		}
		if t.Error != nil {
			return nil, t.Error
		}
		ps := make([]int32, 0, len(t.Partitions))
		for _, p := range t.Partitions {
			ps = append(ps, int32(p.ID))
		}
		slices.Sort(ps)
		return ps, nil
	}
	return nil, errTopicNotFound
}

// listOffsets returns, for each partition, the first offset whose record
// has a timestamp at or after ts (unix millis), or the special timestamps'
// offsets: latestTimestamp the offset after the last record (for
// read_committed, the last stable offset), earliestTimestamp the first
// offset still in the log. A partition with no record at or after ts gets
// -1.
func (c *cluster) listOffsets(ctx context.Context, topic string, parts []int32, ts int64, iso kafka.IsolationLevel) (map[int32]int64, error) {
	if len(parts) == 0 {
		return map[int32]int64{}, nil
	}
	req := &listoffsets.Request{ReplicaID: -1, IsolationLevel: int8(iso), Topics: []listoffsets.RequestTopic{{Topic: topic}}}
	for _, p := range parts {
		req.Topics[0].Partitions = append(req.Topics[0].Partitions,
			listoffsets.RequestPartition{Partition: p, CurrentLeaderEpoch: -1, Timestamp: ts})
	}
	m, err := c.roundTrip(ctx, req)
	if err != nil {
		return nil, err
	}
	out := make(map[int32]int64, len(parts))
	for _, t := range m.(*listoffsets.Response).Topics {
		if t.Topic != topic {
			continue
		}
		for _, p := range t.Partitions {
			if p.ErrorCode != 0 {
				return nil, fmt.Errorf("partition %d: %w", p.Partition, kafka.Error(p.ErrorCode))
			}
			out[p.Partition] = p.Offset
		}
	}
	for _, p := range parts {
		if _, ok := out[p]; !ok {
			return nil, fmt.Errorf("partition %d: no offset in the response", p)
		}
	}
	return out, nil
}

// retryable reports whether err is worth retrying: a broker error Kafka
// calls retriable, or a network error.
func retryable(err error) bool {
	var ke kafka.Error
	if errors.As(err, &ke) {
		switch ke {
		case kafka.ConcurrentTransactions, kafka.NotCoordinatorForGroup, kafka.GroupCoordinatorNotAvailable,
			kafka.GroupLoadInProgress, kafka.BrokerNotAvailable, kafka.ReplicaNotAvailable:
			return true
		}
		return ke.Temporary()
	}
	var ne net.Error
	switch {
	case errors.As(err, &ne),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE),
		errors.Is(err, context.DeadlineExceeded):
		return true
	}
	return false
}

// backoff waits between the retries of one operation, doubling from
// retryMin to retryMax, on an injected clock.
type backoff struct {
	clock clock.Clock
	next  time.Duration
}

// wait blocks for the next backoff interval; it returns ctx's error if ctx
// ends first.
func (b *backoff) wait(ctx context.Context) error {
	b.next = min(max(2*b.next, retryMin), retryMax)
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-b.clock.After(b.next):
		return nil
	}
}

// reset starts the next wait at retryMin again.
func (b *backoff) reset() { b.next = 0 }

// retry runs op until it succeeds, fails with an error that is not
// retryable, or has failed for longer than limit.
func retry(ctx context.Context, clk clock.Clock, limit time.Duration, op func() error) error {
	b := backoff{clock: clk}
	deadline := clk.Now().Add(limit)
	for {
		err := op()
		if err == nil || !retryable(err) || ctx.Err() != nil || !clk.Now().Before(deadline) {
			return err
		}
		if werr := b.wait(ctx); werr != nil {
			return err
		}
	}
}
