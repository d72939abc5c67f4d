package main

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

func kafkaio(t *testing.T, brokers string, stdin string, args ...string) (string, string, error) {
	t.Helper()
	var out, errs bytes.Buffer
	err := run(append([]string{"-brokers", brokers, "-timeout", "30s"}, args...), strings.NewReader(stdin), &out, &errs)
	return out.String(), errs.String(), err
}

// create, produce and consume round trip; consume shows committed
// transactions and not aborted ones, and ends although the last records
// of a partition are an aborted transaction's.
func TestCreateProduceConsume(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	brokers := strings.Join(c.ListenAddrs(), ",")

	if out, _, err := kafkaio(t, brokers, "", "create", "words", "-partitions", "3"); err != nil || !strings.Contains(out, "created") {
		t.Fatalf("create: %q, %v", out, err)
	}
	if _, _, err := kafkaio(t, brokers, "", "create", "words", "-partitions", "3"); err != nil {
		t.Fatalf("create again: %v", err)
	}
	if _, _, err := kafkaio(t, brokers, "", "create", "words", "-partitions", "2"); err == nil || !strings.Contains(err.Error(), "exists with 3 partitions") {
		t.Fatalf("create with other partitions: %v", err)
	}
	if out, _, err := kafkaio(t, brokers, "a\nb\nc\nd\n", "produce", "words"); err != nil || !strings.Contains(out, "produced 4 records") {
		t.Fatalf("produce: %q, %v", out, err)
	}
	for _, commit := range []bool{true, false} {
		cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.TransactionalID("t"), kgo.DefaultProduceTopic("words"),
			kgo.RecordPartitioner(kgo.ManualPartitioner()))
		if err != nil {
			t.Fatal(err)
		}
		if err := cl.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		v := map[bool]string{true: "committed", false: "aborted"}[commit]
		if err := cl.ProduceSync(context.Background(), &kgo.Record{Partition: 0, Value: []byte(v)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
		if err := cl.EndTransaction(context.Background(), kgo.TransactionEndTry(commit)); err != nil {
			t.Fatal(err)
		}
		cl.Close()
	}
	out, errs, err := kafkaio(t, brokers, "", "consume", "words", "-idle", "1s")
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Fields(out)
	slices.Sort(got)
	if want := []string{"a", "b", "c", "committed", "d"}; !slices.Equal(got, want) {
		t.Fatalf("consume: %q (stderr %q), want %q", got, errs, want)
	}
	out, _, err = kafkaio(t, brokers, "", "consume", "words", "-read-committed=false", "-idle", "1s")
	if err != nil || len(strings.Fields(out)) != 6 {
		t.Fatalf("consume read_uncommitted: %q, %v", out, err)
	}
	if _, _, err := kafkaio(t, brokers, "", "produce", "nope"); err == nil {
		t.Fatal("produce to a missing topic succeeded")
	}
}
