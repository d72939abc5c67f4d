package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/twmb/franz-go/pkg/kfake"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "kafkabroker:", err)
		os.Exit(1)
	}
}

// config is what the flags and the environment say.
type config struct {
	listeners  []listener // with Advertised set, primary first
	partitions int
	autoCreate bool
	seedTopics []seedTopic
	dataDir    string
}

// listener is one named listener: where it listens and what it advertises.
type listener struct {
	Name       string
	Listen     string // [host]:port
	Advertised string // host:port
}

type seedTopic struct {
	Name       string
	Partitions int32 // < 1: the default
}

func run(args []string) error {
	cfg, err := parseConfig(args, os.Getenv)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	lns := make([]boundListener, 0, len(cfg.listeners))
	closeAll := func() {
		for _, l := range lns {
			l.ln.Close()
		}
	}
	for _, l := range cfg.listeners {
		ln, err := net.Listen("tcp", l.Listen)
		if err != nil {
			closeAll()
			return fmt.Errorf("listener %s: %w", l.Name, err)
		}
		lns = append(lns, boundListener{ln: ln, advertised: l.Advertised})
		log.Info("listening", "listener", l.Name, "address", ln.Addr().String(), "advertised", l.Advertised)
	}
	c, err := newCluster(lns, cfg, kfake.WithLogger(kfake.BasicLogger(os.Stderr, kfake.LogLevelWarn)))
	if err != nil {
		return err
	}
	log.Info("kafkabroker started (kfake: test tooling, not a Kafka)", "partitions", cfg.partitions,
		"auto-create", cfg.autoCreate, "seed-topics", len(cfg.seedTopics), "data-dir", cfg.dataDir)
	<-ctx.Done()
	log.Info("kafkabroker stopping")
	c.Close()
	return nil
}

// newCluster starts a one-broker kfake cluster serving on lns; lns[0] is the
// primary listener. Closing the cluster closes the listeners.
func newCluster(lns []boundListener, cfg config, opts ...kfake.Opt) (*kfake.Cluster, error) {
	ml, err := newMultiListener(lns)
	if err != nil {
		for _, l := range lns {
			l.ln.Close()
		}
		return nil, err
	}
	handed := false
	opts = append(opts,
		kfake.NumBrokers(1),
		kfake.ListenFn(func(network, address string) (net.Listener, error) {
			if handed {
				return nil, errors.New("kafkabroker serves one broker")
			}
			handed = true
			return ml, nil
		}),
		kfake.DefaultNumPartitions(cfg.partitions),
	)
	if cfg.autoCreate {
		opts = append(opts, kfake.AllowAutoTopicCreation())
	}
	for _, t := range cfg.seedTopics {
		opts = append(opts, kfake.SeedTopics(t.Partitions, t.Name))
	}
	if cfg.dataDir != "" {
		opts = append(opts, kfake.DataDir(cfg.dataDir))
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		ml.Close()
		return nil, err
	}
	return c, nil
}

// parseConfig reads flags, falling back to the apache/kafka image's
// environment variables, which getenv returns.
func parseConfig(args []string, getenv func(string) string) (config, error) {
	fs := flag.NewFlagSet("kafkabroker", flag.ContinueOnError)
	or := func(env, def string) string {
		if v := getenv(env); v != "" {
			return v
		}
		return def
	}
	listeners := fs.String("listeners", or("KAFKA_LISTENERS", "PLAINTEXT://0.0.0.0:9092"), "NAME://[HOST]:PORT,... to listen on")
	advertised := fs.String("advertised-listeners", or("KAFKA_ADVERTISED_LISTENERS", "PLAINTEXT://127.0.0.1:9092"), "NAME://HOST:PORT,... each listener advertises")
	primary := fs.String("primary", getenv("KAFKA_INTER_BROKER_LISTENER_NAME"), "the listener whose advertised address the broker reports natively (default: the first advertised)")
	partitions := fs.Int("partitions", 0, "partitions of auto-created and seeded topics (default KAFKA_NUM_PARTITIONS or 1)")
	autoCreate := fs.Bool("auto-create", true, "create topics on first use (default KAFKA_AUTO_CREATE_TOPICS_ENABLE or true)")
	seed := fs.String("seed-topics", getenv("KAFKABROKER_SEED_TOPICS"), "TOPIC[:PARTITIONS],... to create at start")
	dataDir := fs.String("data-dir", getenv("KAFKABROKER_DATA_DIR"), "directory to persist topics and offsets in (default: memory only)")
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	if fs.NArg() > 0 {
		return config{}, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

	cfg := config{partitions: *partitions, autoCreate: *autoCreate, dataDir: *dataDir}
	if !set["partitions"] {
		cfg.partitions = 1
		if v := getenv("KAFKA_NUM_PARTITIONS"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil {
				return config{}, fmt.Errorf("KAFKA_NUM_PARTITIONS: %w", err)
			}
			cfg.partitions = n
		}
	}
	if cfg.partitions < 1 {
		return config{}, fmt.Errorf("partitions %d must be at least 1", cfg.partitions)
	}
	if !set["auto-create"] {
		if v := getenv("KAFKA_AUTO_CREATE_TOPICS_ENABLE"); v != "" {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return config{}, fmt.Errorf("KAFKA_AUTO_CREATE_TOPICS_ENABLE: %w", err)
			}
			cfg.autoCreate = b
		}
	}
	var err error
	if cfg.listeners, err = pairListeners(*listeners, *advertised, *primary); err != nil {
		return config{}, err
	}
	if cfg.seedTopics, err = parseSeedTopics(*seed); err != nil {
		return config{}, err
	}
	return cfg, nil
}

// pairListeners matches each advertised listener with the listener of its
// name and puts the primary one first. Listeners without an advertised
// address are not served.
func pairListeners(listeners, advertised, primary string) ([]listener, error) {
	listen, err := parseListenerList("listeners", listeners)
	if err != nil {
		return nil, err
	}
	adv, err := parseListenerList("advertised listeners", advertised)
	if err != nil {
		return nil, err
	}
	if len(adv) == 0 {
		return nil, errors.New("advertised listeners: none")
	}
	var out []listener
	seen := map[string]bool{}
	for _, a := range adv {
		if seen[a.name] {
			return nil, fmt.Errorf("advertised listeners: %s appears twice", a.name)
		}
		seen[a.name] = true
		host, port, err := net.SplitHostPort(a.addr)
		if err != nil || host == "" || port == "" || port == "0" {
			return nil, fmt.Errorf("advertised listener %s: %q is not HOST:PORT", a.name, a.addr)
		}
		l := listener{Name: a.name, Advertised: a.addr}
		for _, li := range listen {
			if li.name == a.name {
				l.Listen = li.addr
			}
		}
		if l.Listen == "" {
			return nil, fmt.Errorf("advertised listener %s has no listener of that name in %q", a.name, listeners)
		}
		out = append(out, l)
	}
	if primary != "" {
		i := -1
		for j, l := range out {
			if l.Name == primary {
				i = j
			}
		}
		if i < 0 {
			return nil, fmt.Errorf("primary listener %s is not advertised", primary)
		}
		out[0], out[i] = out[i], out[0]
	}
	return out, nil
}

type namedAddr struct{ name, addr string }

// parseListenerList parses NAME://[HOST]:PORT,...
func parseListenerList(what, s string) ([]namedAddr, error) {
	var out []namedAddr
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		name, addr, ok := strings.Cut(f, "://")
		if !ok || name == "" {
			return nil, fmt.Errorf("%s: %q is not NAME://HOST:PORT", what, f)
		}
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return nil, fmt.Errorf("%s: %q: %w", what, f, err)
		}
		out = append(out, namedAddr{name: name, addr: addr})
	}
	return out, nil
}

// parseSeedTopics parses TOPIC[:PARTITIONS],...
func parseSeedTopics(s string) ([]seedTopic, error) {
	var out []seedTopic
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		name, p, hasP := strings.Cut(f, ":")
		t := seedTopic{Name: name}
		if hasP {
			n, err := strconv.ParseInt(p, 10, 32)
			if err != nil || n < 1 {
				return nil, fmt.Errorf("seed topic %q: partitions must be a number at least 1", f)
			}
			t.Partitions = int32(n)
		}
		if name == "" {
			return nil, fmt.Errorf("seed topic %q: empty name", f)
		}
		out = append(out, t)
	}
	return out, nil
}
