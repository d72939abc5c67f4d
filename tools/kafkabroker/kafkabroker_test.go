package main

import (
	"context"
	"encoding/binary"
	"net"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestSecondaryListenerAdvertisesItself runs the broker with a primary
// listener that advertises an unresolvable name, as kafka:9092 is outside
// the compose network, and a client that only reaches the secondary
// listener: it can produce, and consume in a group (Metadata and
// FindCoordinator both name the broker), only if the secondary listener
// advertises itself.
func TestSecondaryListenerAdvertisesItself(t *testing.T) {
	primary := listen(t)
	secondary := listen(t)
	cfg := config{partitions: 2, autoCreate: true, seedTopics: []seedTopic{{Name: "seeded", Partitions: 3}}}
	c, err := newCluster([]boundListener{
		{ln: primary, advertised: "kafka.invalid:9092"},
		{ln: secondary, advertised: secondary.Addr().String()},
	}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)

	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(secondary.Addr().String()),
		kgo.ConsumeTopics("seeded"),
		kgo.ConsumerGroup("g"),
		kgo.DefaultProduceTopic("seeded"),
	)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()

	want := []string{"a", "b", "c", "d"}
	for _, v := range want {
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte(v)}).FirstErr(); err != nil {
			t.Fatalf("produce: %v", err)
		}
	}
	var got []string
	for len(got) < len(want) {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %v of %v: %v", got, want, err)
		}
		fs.EachError(func(topic string, p int32, err error) { t.Fatalf("fetch %s/%d: %v", topic, p, err) })
		fs.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
	}
	if len(got) != len(want) {
		t.Fatalf("consumed %v, want %v in any order", got, want)
	}

	// Seeded topics have their partitions; the broker is advertised as the
	// listener the client came in on.
	resp, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Brokers) != 1 || net.JoinHostPort(resp.Brokers[0].Host, itoa(resp.Brokers[0].Port)) != secondary.Addr().String() {
		t.Errorf("metadata brokers %+v, want only %s", resp.Brokers, secondary.Addr())
	}
	for _, tp := range resp.Topics {
		if tp.Topic != nil && *tp.Topic == "seeded" && len(tp.Partitions) != 3 {
			t.Errorf("seeded has %d partitions, want 3", len(tp.Partitions))
		}
	}
}

// TestPrimaryListenerUnchanged checks that the primary listener's clients
// see the address kfake advertises, untouched.
func TestPrimaryListenerUnchanged(t *testing.T) {
	primary := listen(t)
	c, err := newCluster([]boundListener{{ln: primary, advertised: primary.Addr().String()}}, config{partitions: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	cl, err := kgo.NewClient(kgo.SeedBrokers(primary.Addr().String()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	resp, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Brokers) != 1 || net.JoinHostPort(resp.Brokers[0].Host, itoa(resp.Brokers[0].Port)) != primary.Addr().String() {
		t.Errorf("metadata brokers %+v, want only %s", resp.Brokers, primary.Addr())
	}
}

// TestSniffSplitReads feeds request headers a byte at a time and in one
// piece with several requests, and checks the queue of pending requests.
func TestSniffSplitReads(t *testing.T) {
	var stream []byte
	reqs := []request{{corr: 7, key: 3, version: 12}, {corr: 8, key: 0, version: 9}, {corr: 9, key: 10, version: 4}}
	for i, r := range reqs {
		body := make([]byte, 8+i*5) // key, version, correlation ID and some bytes
		binary.BigEndian.PutUint16(body[0:2], uint16(r.key))
		binary.BigEndian.PutUint16(body[2:4], uint16(r.version))
		binary.BigEndian.PutUint32(body[4:8], uint32(r.corr))
		stream = binary.BigEndian.AppendUint32(stream, uint32(len(body)))
		stream = append(stream, body...)
	}
	for _, chunk := range []int{1, 3, len(stream)} {
		c := newRewriteConn(nil, hostPort{"a", 1}, hostPort{"b", 2})
		for b := stream; len(b) > 0; {
			k := min(chunk, len(b))
			c.sniff(b[:k])
			b = b[k:]
		}
		if !reflect.DeepEqual(c.pending, reqs) {
			t.Errorf("chunks of %d: pending %+v, want %+v", chunk, c.pending, reqs)
		}
		// A response to the second request drops the first, which an acks=0
		// produce never answers.
		if r, ok := c.answered(8); !ok || r != reqs[1] || !reflect.DeepEqual(c.pending, reqs[2:]) {
			t.Errorf("chunks of %d: answered(8) = %+v, %v; pending %+v", chunk, r, ok, c.pending)
		}
	}
}

func TestParseConfig(t *testing.T) {
	env := map[string]string{
		"KAFKA_LISTENERS":                  "PLAINTEXT://:9092,PLAINTEXT_HOST://:19092,CONTROLLER://:9093",
		"KAFKA_ADVERTISED_LISTENERS":       "PLAINTEXT_HOST://127.0.0.1:9092,PLAINTEXT://kafka:9092",
		"KAFKA_INTER_BROKER_LISTENER_NAME": "PLAINTEXT",
		"KAFKA_NUM_PARTITIONS":             "2",
		"KAFKA_AUTO_CREATE_TOPICS_ENABLE":  "false",
	}
	cfg, err := parseConfig([]string{"-seed-topics", "in:4,out"}, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	want := config{
		listeners: []listener{
			{Name: "PLAINTEXT", Listen: ":9092", Advertised: "kafka:9092"},
			{Name: "PLAINTEXT_HOST", Listen: ":19092", Advertised: "127.0.0.1:9092"},
		},
		partitions: 2,
		seedTopics: []seedTopic{{Name: "in", Partitions: 4}, {Name: "out"}},
	}
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("got  %+v\nwant %+v", cfg, want)
	}

	cfg, err = parseConfig(nil, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	want = config{
		listeners:  []listener{{Name: "PLAINTEXT", Listen: "0.0.0.0:9092", Advertised: "127.0.0.1:9092"}},
		partitions: 1, autoCreate: true,
	}
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("defaults: got  %+v\nwant %+v", cfg, want)
	}

	for _, tc := range []struct {
		args []string
		err  string
	}{
		{[]string{"-advertised-listeners", "X://h:1"}, "no listener of that name"},
		{[]string{"-advertised-listeners", "PLAINTEXT://:9092"}, "is not HOST:PORT"},
		{[]string{"-listeners", "localhost:9092"}, "is not NAME://HOST:PORT"},
		{[]string{"-primary", "OTHER"}, "primary listener OTHER is not advertised"},
		{[]string{"-seed-topics", "t:0"}, "partitions must be a number at least 1"},
		{[]string{"-partitions", "0"}, "must be at least 1"},
	} {
		_, err := parseConfig(tc.args, func(string) string { return "" })
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%v: error %v, want one containing %q", tc.args, err, tc.err)
		}
	}
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

func itoa(p int32) string { return strconv.Itoa(int(p)) }
