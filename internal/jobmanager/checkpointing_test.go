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
	"github.com/weirstream/weir/internal/network"
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
