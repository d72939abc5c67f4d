package stream

import (
	"testing"

	"github.com/weirstream/weir/internal/invariant"
	"github.com/weirstream/weir/internal/keygroup"
	"github.com/weirstream/weir/internal/plan"
	"github.com/weirstream/weir/internal/statebackend"
	"github.com/weirstream/weir/internal/statebackend/heap"
)

// keyGroupsSeen records the key group of every SetCurrentKey.
type keyGroupsSeen struct {
	statebackend.KeyedBackend
	kgs []int
}

func (b *keyGroupsSeen) SetCurrentKey(key []byte, kg int) {
	b.kgs = append(b.kgs, kg)
	b.KeyedBackend.SetCurrentKey(key, kg)
}

// A keyed head scopes its state to the key group a record came with over
// the network, and hashes the key of a record that came without one. With
// -tags invariants it checks the key group it was given against the key.
func TestKeyedHeadTakesTheRecordsKeyGroup(t *testing.T) {
	env := NewEnv()
	sums := KeyBy[string](FromSource[tsEvent](env, splitSource{}, "src"), tsKey{}).Reduce(tsSum{})
	// Keyed again, so that the first reduce's chain ends in a network edge.
	KeyBy[string](sums, tsKey{}).Reduce(tsSum{}).SinkTo(tsSink[tsEvent]{}, "sink")
	g, err := env.Graph()
	if err != nil {
		t.Fatal(err)
	}
	p, err := plan.Build(g)
	if err != nil {
		t.Fatal(err)
	}
	r := keygroup.RangeOf(0, 1, keygroup.DefaultMaxParallelism)
	b := &keyGroupsSeen{KeyedBackend: heap.New(r)}
	var out []captured
	chain, err := BuildChain(g, p.VertexOf(1), ChainOptions{
		Info:    TaskInfo{Parallelism: 1, MaxParallelism: keygroup.DefaultMaxParallelism, Clock: epoch()},
		Backend: b,
		Writer:  func(plan.Edge) EdgeWriter { return captureWriter{&out} },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer chain.Close()
	rec := CodecFor[tsEvent]().Append(nil, tsEvent{Key: "k", TS: 1, N: 1})
	kg := keygroup.Of(keygroup.Hash(CodecFor[string]().Append(nil, "k")), keygroup.DefaultMaxParallelism)

	if err := chain.Process(rec, NoTimestamp); err != nil {
		t.Fatal(err)
	}
	if err := chain.ProcessKeyed(rec, NoTimestamp, kg); err != nil {
		t.Fatal(err)
	}
	if len(b.kgs) != 2 || b.kgs[0] != kg || b.kgs[1] != kg {
		t.Fatalf("key groups set: %v, want [%d %d]", b.kgs, kg, kg)
	}

	// A key group that is not the key's: used as given, not recomputed
	// (the hash is the sender's work), unless invariants are checked.
	other := (kg + 1) % keygroup.DefaultMaxParallelism
	if invariant.Enabled {
		defer func() {
			if recover() == nil {
				t.Fatal("a record with the wrong key group passed the invariant check")
			}
		}()
	}
	if err := chain.ProcessKeyed(rec, NoTimestamp, other); err != nil {
		t.Fatal(err)
	}
	if b.kgs[2] != other {
		t.Fatalf("key group set for a record that came with %d: %d", other, b.kgs[2])
	}
}
