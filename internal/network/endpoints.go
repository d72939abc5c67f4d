package network

import (
	"context"
	"fmt"
	"sync"

	weirv1 "github.com/weirstream/weir/api/proto/weir/v1"
)

// ChannelKey identifies one channel: a producer subtask feeding a consumer
// subtask, in one attempt of a job.
type ChannelKey struct {
	JobID           string
	Attempt         int32
	ProducerVertex  int32
	ProducerSubtask int32
	ConsumerVertex  int32
	ConsumerSubtask int32
}

// KeyOf converts the wire form of a channel id.
func KeyOf(id *weirv1.ChannelID) ChannelKey {
	return ChannelKey{JobID: id.GetJobId(), Attempt: id.GetAttempt(),
		ProducerVertex: id.GetProducerVertexId(), ProducerSubtask: id.GetProducerSubtaskIndex(),
		ConsumerVertex: id.GetConsumerVertexId(), ConsumerSubtask: id.GetConsumerSubtaskIndex()}
}

// Proto returns the wire form of k.
func (k ChannelKey) Proto() *weirv1.ChannelID {
	return &weirv1.ChannelID{JobId: k.JobID, Attempt: k.Attempt,
		ProducerVertexId: k.ProducerVertex, ProducerSubtaskIndex: k.ProducerSubtask,
		ConsumerVertexId: k.ConsumerVertex, ConsumerSubtaskIndex: k.ConsumerSubtask}
}

func (k ChannelKey) String() string {
	return fmt.Sprintf("%s/%d: %d.%d -> %d.%d", k.JobID, k.Attempt, k.ProducerVertex, k.ProducerSubtask, k.ConsumerVertex, k.ConsumerSubtask)
}

type endpoint struct {
	gate *InputGate
	ch   int
}

// Endpoints maps channels to the input gates of the consumer subtasks running
// in this taskmanager. A producer may connect before its consumer is
// deployed; Lookup waits for the registration.
type Endpoints struct {
	mu struct {
		sync.Mutex
		m       map[ChannelKey]endpoint
		changed chan struct{} // closed and replaced on every change
	}
}

// NewEndpoints returns an empty registry.
func NewEndpoints() *Endpoints {
	e := &Endpoints{}
	e.mu.m = map[ChannelKey]endpoint{}
	e.mu.changed = make(chan struct{})
	return e
}

// Register makes channel k deliver to channel ch of gate.
func (e *Endpoints) Register(k ChannelKey, gate *InputGate, ch int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.mu.m[k] = endpoint{gate: gate, ch: ch}
	close(e.mu.changed)
	e.mu.changed = make(chan struct{})
}

// Unregister removes every channel delivering to gate.
func (e *Endpoints) Unregister(gate *InputGate) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for k, ep := range e.mu.m {
		if ep.gate == gate {
			delete(e.mu.m, k)
		}
	}
}

// Lookup returns the gate and channel index of k, waiting until it is
// registered or ctx ends.
func (e *Endpoints) Lookup(ctx context.Context, k ChannelKey) (*InputGate, int, error) {
	for {
		e.mu.Lock()
		ep, ok := e.mu.m[k]
		changed := e.mu.changed
		e.mu.Unlock()
		if ok {
			return ep.gate, ep.ch, nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return nil, 0, fmt.Errorf("network: no consumer for channel %s: %w", k, context.Cause(ctx))
		}
	}
}
