package kafka

import (
	"fmt"
	"testing"
	"time"

	weirv1 "github.com/weirstream/weir/api/proto/weir/v1"
	"github.com/weirstream/weir/internal/clock"
	"github.com/weirstream/weir/internal/plan"
	"github.com/weirstream/weir/stream"
)

// buildChains builds every subtask of g's single vertex, each restored
// from restore[i] if restore is not nil.
func buildChains(t *testing.T, g *weirv1.JobGraph, restore []map[string]stream.OperatorSnapshot) []*stream.Chain {
	t.Helper()
	p, err := plan.Build(g)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Vertices) != 1 {
		t.Fatalf("plan has %d vertices, want one chain", len(p.Vertices))
	}
	v := p.Vertices[0]
	chains := make([]*stream.Chain, v.Parallelism)
	for i := range chains {
		opts := stream.ChainOptions{Info: stream.TaskInfo{
			JobID: "job", TaskName: v.Name, SubtaskIndex: i, Parallelism: v.Parallelism,
			MaxParallelism: int(g.GetMaxParallelism()), Checkpointing: "EXACTLY_ONCE",
			Clock: clock.Real{}, Logger: testLogger(),
		}}
		if restore != nil {
			opts.Restore = restore[i]
		}
		c, err := stream.BuildChain(g, v, opts)
		if err != nil {
			t.Fatal(err)
		}
		chains[i] = c
		t.Cleanup(func() { c.Close() })
	}
	return chains
}

// pollChain polls c until it has polled n times or ended.
func pollChain(t *testing.T, c *stream.Chain, n int) stream.PollStatus {
	t.Helper()
	deadline := time.After(waitTimeout)
	for range n {
		st, err := c.Poll()
		if err != nil {
			t.Fatal(err)
		}
		switch st {
		case stream.PollEnd:
			return st
		case stream.PollIdle:
			if err := c.Flush(); err != nil {
				t.Fatal(err)
			}
			select {
			case <-c.Available():
			case <-deadline:
				t.Fatalf("idle for %v", waitTimeout)
			}
		}
	}
	return stream.PollMore
}

func snapshotChains(t *testing.T, chains []*stream.Chain, id int64) []map[string]stream.OperatorSnapshot {
	t.Helper()
	out := make([]map[string]stream.OperatorSnapshot, len(chains))
	for i, c := range chains {
		snaps, err := c.Snapshot(id)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = map[string]stream.OperatorSnapshot{}
		for _, s := range snaps {
			out[i][s.UID] = s
		}
	}
	for _, c := range chains {
		if err := c.NotifyCheckpointComplete(id); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// TestJobExactlyOnce copies a topic to another through the registry and
// the chain builder, with a checkpoint, a failure after it and a restart
// from it: the output holds every input record once.
func TestJobExactlyOnce(t *testing.T) {
	const partitions = 4
	tc := newTestCluster(t, partitions, "in", "out")
	var want []string
	for p := range int32(partitions) {
		vs := values(fmt.Sprintf("p%d", p), 3000)
		tc.produce(t, "in", p, vs...)
		want = append(want, vs...)
	}
	env := stream.NewEnv()
	env.SetParallelism(2)
	stream.FromSource[string](env, Source{Brokers: tc.brokers, Topic: "in", StopAtLatest: true, FetchBytes: 16 << 10}, "read").
		SinkTo(Sink{Brokers: tc.brokers, Topic: "out", BatchBytes: 4096}, "write")
	g, err := env.Graph()
	if err != nil {
		t.Fatal(err)
	}

	chains := buildChains(t, g, nil)
	for _, c := range chains {
		pollChain(t, c, 2)
	}
	state := snapshotChains(t, chains, 1)
	for _, c := range chains {
		pollChain(t, c, 2) // records no checkpoint covers
		if err := c.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range chains {
		c.Close() // the attempt fails
	}

	chains = buildChains(t, g, state)
	for _, c := range chains {
		for pollChain(t, c, 1000) != stream.PollEnd {
		}
	}
	snapshotChains(t, chains, 2) // the final checkpoint
	for _, c := range chains {
		if err := c.Finish(); err != nil {
			t.Fatal(err)
		}
	}
	equalSets(t, "output", tc.readCommitted(t, "out", partitions), want)
}
