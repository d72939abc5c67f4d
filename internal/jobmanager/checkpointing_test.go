package jobmanager

import (
	"context"
	"io"
	"log/slog"
	"net"
	"slices"
	"sync"
	"testing"

	"google.golang.org/grpc"

	weirv1 "github.com/weirstream/weir/api/proto/weir/v1"
	"github.com/weirstream/weir/internal/checkpoint/objstore/memory"
	"github.com/weirstream/weir/internal/coordinator"
	"github.com/weirstream/weir/internal/network"
	"github.com/weirstream/weir/internal/plan"
)

// triggerRecorder is a taskmanager that records the checkpoint triggers it
// receives; the first waits for release, so later ones queue behind it.
type triggerRecorder struct {
	weirv1.UnimplementedTaskManagerServiceServer
	release chan struct{}
	mu      sync.Mutex
	ids     []int64
}

func (r *triggerRecorder) TriggerCheckpoint(ctx context.Context, req *weirv1.TriggerCheckpointRequest) (*weirv1.TriggerCheckpointResponse, error) {
	r.mu.Lock()
	r.ids = append(r.ids, req.GetBarrier().GetCheckpointId())
	first := len(r.ids) == 1
	r.mu.Unlock()
	if first {
		select {
		case <-r.release:
		case <-ctx.Done():
		}
	}
	return &weirv1.TriggerCheckpointResponse{}, nil
}

// A task receives its checkpoint triggers in the order they were issued,
// even while one is slow to answer: a source declines a checkpoint older
// than one it has started, so a savepoint overtaken by the next periodic
// checkpoint would fail.
func TestCheckpointRPCsToATaskKeepTheirOrder(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rec := &triggerRecorder{release: make(chan struct{})}
	srv := grpc.NewServer()
	weirv1.RegisterTaskManagerServiceServer(srv, rec)
	go srv.Serve(lis)
	defer srv.Stop()
	jm := &JobManager{dialer: network.NewDialer()}
	defer jm.dialer.Close()
	m := &jobMaster{jm: jm, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	c := &checkpointing{}
	task := &taskState{id: execID(0, 0, 1), address: lis.Addr().String()}

	const n = 50
	trigger := func(id int64) {
		c.call(context.Background(), m, task, func(ctx context.Context, client weirv1.TaskManagerServiceClient) error {
			_, err := client.TriggerCheckpoint(ctx, &weirv1.TriggerCheckpointRequest{Execution: task.id, Barrier: &weirv1.Barrier{CheckpointId: id}})
			return err
		})
	}
	for id := range int64(n) {
		trigger(id + 1)
	}
	close(rec.release)
	c.wg.Wait()
	// The queue's goroutine has ended; a later call starts another.
	trigger(n + 1)
	c.wg.Wait()

	want := make([]int64, n+1)
	for i := range want {
		want[i] = int64(i + 1)
	}
	if !slices.Equal(rec.ids, want) {
		t.Fatalf("triggers arrived in the order %v, want %v", rec.ids, want)
	}
}

// barrierRecorder is a taskmanager that records the barriers it is sent.
type barrierRecorder struct {
	weirv1.UnimplementedTaskManagerServiceServer
	mu       sync.Mutex
	barriers []*weirv1.Barrier
}

func (r *barrierRecorder) TriggerCheckpoint(ctx context.Context, req *weirv1.TriggerCheckpointRequest) (*weirv1.TriggerCheckpointResponse, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.barriers = append(r.barriers, req.GetBarrier())
	return &weirv1.TriggerCheckpointResponse{}, nil
}

// A job's input ends while a periodic checkpoint is pending: the final
// checkpoint waits for it and is based on it, so that an incremental
// backend, whose delta follows its own previous snapshot, uploads a delta
// rather than its whole state.
func TestFinalCheckpointIsBasedOnThePendingOne(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rec := &barrierRecorder{}
	srv := grpc.NewServer()
	weirv1.RegisterTaskManagerServiceServer(srv, rec)
	go srv.Serve(lis)
	defer srv.Stop()

	ctx := context.Background()
	jm := New(Options{Logger: slog.New(slog.DiscardHandler)})
	defer jm.dialer.Close()
	src := execID(0, 0, 1)
	m := &jobMaster{id: "job", jm: jm, log: jm.log, attempt: 1, kick: make(chan struct{}, 1),
		graph: &weirv1.JobGraph{Operators: []*weirv1.Operator{{Kind: weirv1.OperatorKind_OPERATOR_KIND_SOURCE, Parallelism: 1}}},
		plan:  &plan.Plan{Vertices: []*plan.Vertex{{ID: 0, Parallelism: 1}}},
		tasks: map[taskKey]*taskState{{0, 0}: {id: src, address: lis.Addr().String()}}}
	m.mu.acks = map[int64][]subtaskAck{}
	subtask := []coordinator.SubtaskID{{Vertex: 0, Subtask: 0}}
	c := &checkpointing{coord: coordinator.New(coordinator.Config{Interval: 1, Timeout: 100}, 1, subtask, subtask, 1),
		store: memory.New(), storage: "memory://", jobID: "job",
		records: map[coordinator.ID]*record{}, sourcesDone: map[coordinator.SubtaskID]bool{},
		refs: map[int64][]string{}, discarded: map[int64][]string{}}
	m.cp = c
	// execute carries out the coordinator's effects, then those of the
	// metadata writes they started.
	execute := func() {
		t.Helper()
		for {
			if reason := c.execute(ctx, m); reason != "" {
				t.Fatalf("the job fails: %s", reason)
			}
			c.wg.Wait()
			events := m.take()
			if len(events) == 0 {
				return
			}
			for _, e := range events {
				p, ok := e.(persistedEvent)
				if !ok {
					t.Fatalf("unexpected event %T", e)
				}
				c.coord.Persisted(p.id, p.err)
			}
		}
	}

	// Checkpoint 1 completes; checkpoint 2, based on it, is pending when
	// the source's input ends.
	ack := func(id int64) {
		c.ack(m, ackEvent{id: src, checkpointID: id, metrics: &weirv1.CheckpointMetrics{}})
		execute()
	}
	c.coord.Tick()
	execute()
	ack(1)
	c.coord.Tick()
	execute()
	c.endOfInput(m, src)
	execute()
	if n := len(rec.barriers); n != 2 {
		t.Fatalf("%d barriers sent before checkpoint 2 completed, want 2: %v", n, rec.barriers)
	}
	ack(2)
	type barrier struct {
		id, base int64
		final    bool
	}
	var got []barrier
	for _, b := range rec.barriers {
		got = append(got, barrier{b.GetCheckpointId(), b.GetBaseCheckpointId(), b.GetFinal()})
	}
	if want := []barrier{{1, 0, false}, {2, 1, false}, {3, 2, true}}; !slices.Equal(got, want) {
		t.Fatalf("barriers %+v, want %+v", got, want)
	}
}
