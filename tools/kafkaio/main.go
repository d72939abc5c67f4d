// Command kafkaio is a small Kafka client for the walkthrough and the
// end-to-end test: it creates topics, produces lines from stdin and
// prints what a consumer sees. It uses franz-go, a client independent of
// the one in Weir's connectors, so that checking Weir's output does not
// trust Weir's own Kafka code.
//
//	kafkaio [-brokers HOST:PORT,...] create TOPIC [-partitions N]
//	kafkaio [-brokers HOST:PORT,...] produce TOPIC < lines
//	kafkaio [-brokers HOST:PORT,...] consume TOPIC [-read-committed=true] [-idle 3s]
//
// produce writes one record per input line, its value the line, spread
// round robin over the topic's partitions, and prints how many it wrote.
//
// consume prints the value of every record of the topic, one per line,
// from the start of each partition to the end it had when consume
// started, and exits. With -read-committed (the default) records of
// aborted transactions are not shown, and a partition whose end is
// behind a transaction still open ends the read after -idle without
// records, with a warning: what is printed is what is committed.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func main() {
	if err := run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "kafkaio:", err)
		os.Exit(1)
	}
}

const usage = `usage:
  kafkaio [-brokers HOST:PORT,...] create TOPIC [-partitions N]
  kafkaio [-brokers HOST:PORT,...] produce TOPIC < lines
  kafkaio [-brokers HOST:PORT,...] consume TOPIC [-read-committed=true] [-idle 3s]`

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("kafkaio", flag.ContinueOnError)
	fs.SetOutput(stderr)
	brokers := fs.String("brokers", "127.0.0.1:9092", "bootstrap brokers, comma-separated")
	timeout := fs.Duration("timeout", 2*time.Minute, "give up after this long")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() < 2 {
		return errors.New(usage)
	}
	cmd, topic, rest := fs.Arg(0), fs.Arg(1), fs.Args()[2:]
	if topic == "" {
		return errors.New("the topic is empty")
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	seeds := strings.Split(*brokers, ",")
	switch cmd {
	case "create":
		sub := flag.NewFlagSet("create", flag.ContinueOnError)
		sub.SetOutput(stderr)
		partitions := sub.Int("partitions", 2, "partitions of the topic")
		if err := sub.Parse(rest); err != nil {
			return err
		}
		if *partitions < 1 {
			return fmt.Errorf("-partitions %d must be at least 1", *partitions)
		}
		return create(ctx, seeds, topic, int32(*partitions), stdout)
	case "produce":
		if len(rest) > 0 {
			return fmt.Errorf("produce: unexpected argument %q", rest[0])
		}
		return produce(ctx, seeds, topic, stdin, stdout)
	case "consume":
		sub := flag.NewFlagSet("consume", flag.ContinueOnError)
		sub.SetOutput(stderr)
		committed := sub.Bool("read-committed", true, "read_committed isolation: only committed transactions")
		idle := sub.Duration("idle", 3*time.Second, "end the read of partitions that stay behind an open transaction after this long without records")
		if err := sub.Parse(rest); err != nil {
			return err
		}
		return consume(ctx, seeds, topic, *committed, *idle, stdout, stderr)
	}
	return fmt.Errorf("unknown command %q\n%s", cmd, usage)
}

func create(ctx context.Context, seeds []string, topic string, partitions int32, stdout io.Writer) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...))
	if err != nil {
		return err
	}
	defer cl.Close()
	req := kmsg.NewPtrCreateTopicsRequest()
	t := kmsg.NewCreateTopicsRequestTopic()
	t.Topic, t.NumPartitions, t.ReplicationFactor = topic, partitions, 1
	req.Topics = append(req.Topics, t)
	req.TimeoutMillis = 30000
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return fmt.Errorf("creating topic %q: %w", topic, err)
	}
	for _, t := range resp.Topics {
		switch err := kerr.ErrorForCode(t.ErrorCode); {
		case errors.Is(err, kerr.TopicAlreadyExists):
			n, err := partitionCount(ctx, cl, topic)
			if err != nil {
				return err
			}
			if n != partitions {
				return fmt.Errorf("topic %q exists with %d partitions, not %d", topic, n, partitions)
			}
			fmt.Fprintf(stdout, "topic %q exists with %d partitions\n", topic, n)
		case err != nil:
			return fmt.Errorf("creating topic %q: %w", topic, err)
		default:
			fmt.Fprintf(stdout, "created topic %q with %d partitions\n", topic, partitions)
		}
	}
	return nil
}

// partitionCount returns the partitions of topic; an error if it does
// not exist.
func partitionCount(ctx context.Context, cl *kgo.Client, topic string) (int32, error) {
	req := kmsg.NewPtrMetadataRequest()
	t := kmsg.NewMetadataRequestTopic()
	t.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, t)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return 0, fmt.Errorf("looking up topic %q: %w", topic, err)
	}
	for _, t := range resp.Topics {
		if err := kerr.ErrorForCode(t.ErrorCode); err != nil {
			return 0, fmt.Errorf("looking up topic %q: %w", topic, err)
		}
		return int32(len(t.Partitions)), nil
	}
	return 0, fmt.Errorf("topic %q not found", topic)
}

func produce(ctx context.Context, seeds []string, topic string, stdin io.Reader, stdout io.Writer) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		return err
	}
	defer cl.Close()
	n, err := partitionCount(ctx, cl, topic)
	if err != nil {
		return err
	}
	sc := bufio.NewScanner(stdin)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var batch []*kgo.Record
	written := 0
	flush := func() error {
		if err := cl.ProduceSync(ctx, batch...).FirstErr(); err != nil {
			return fmt.Errorf("producing to topic %q: %w", topic, err)
		}
		written += len(batch)
		batch = batch[:0]
		return nil
	}
	for i := 0; sc.Scan(); i++ {
		batch = append(batch, &kgo.Record{Topic: topic, Partition: int32(i) % n, Value: []byte(sc.Text())})
		if len(batch) == 1000 {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("reading stdin: %w", err)
	}
	if err := flush(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "produced %d records to topic %q\n", written, topic)
	return nil
}

func consume(ctx context.Context, seeds []string, topic string, committed bool, idle time.Duration, stdout, stderr io.Writer) error {
	admin, err := kgo.NewClient(kgo.SeedBrokers(seeds...))
	if err != nil {
		return err
	}
	defer admin.Close()
	n, err := partitionCount(ctx, admin, topic)
	if err != nil {
		return err
	}
	// The ends: the high watermarks. Every offset below is a record, a
	// record of an aborted transaction or a transaction marker; with
	// control records kept, the read of a partition is complete when it
	// has seen offset end-1, unless that is an aborted record.
	req := kmsg.NewPtrListOffsetsRequest()
	req.ReplicaID = -1
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = topic
	for p := range n {
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Partition, rp.Timestamp, rp.CurrentLeaderEpoch = p, -1, -1
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, admin)
	if err != nil {
		return fmt.Errorf("listing the offsets of topic %q: %w", topic, err)
	}
	ends := map[int32]int64{}
	starts := map[int32]kgo.Offset{}
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
				return fmt.Errorf("listing the offsets of topic %q partition %d: %w", topic, p.Partition, err)
			}
			if p.Offset > 0 {
				ends[p.Partition] = p.Offset
				starts[p.Partition] = kgo.NewOffset().AtStart()
			}
		}
	}
	if len(ends) == 0 {
		return nil
	}
	opts := []kgo.Opt{
		kgo.SeedBrokers(seeds...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: starts}),
		kgo.KeepControlRecords(),
		kgo.FetchMaxWait(250 * time.Millisecond),
	}
	if committed {
		opts = append(opts, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return err
	}
	defer cl.Close()
	w := bufio.NewWriter(stdout)
	defer w.Flush()
	for len(ends) > 0 {
		pctx, cancel := context.WithTimeout(ctx, idle)
		fs := cl.PollFetches(pctx)
		cancel()
		if ctx.Err() != nil {
			return fmt.Errorf("reading topic %q: %w", topic, ctx.Err())
		}
		got := 0
		fs.EachError(func(_ string, p int32, e error) {
			if !errors.Is(e, context.DeadlineExceeded) && !errors.Is(e, context.Canceled) {
				err = fmt.Errorf("reading topic %q partition %d: %w", topic, p, e)
			}
		})
		if err != nil {
			return err
		}
		fs.EachRecord(func(r *kgo.Record) {
			got++
			if !r.Attrs.IsControl() {
				w.Write(r.Value)
				w.WriteByte('\n')
			}
			if end, ok := ends[r.Partition]; ok && r.Offset >= end-1 {
				delete(ends, r.Partition)
			}
		})
		if got == 0 {
			for p, end := range ends {
				fmt.Fprintf(stderr, "kafkaio: topic %q partition %d: no records before offset %d within %s (an open or aborted transaction): ending its read\n", topic, p, end, idle)
			}
			return nil
		}
	}
	return nil
}
