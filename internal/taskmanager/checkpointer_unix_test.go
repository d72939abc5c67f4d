//go:build unix

package taskmanager

import (
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	weirv1 "github.com/weirstream/weir/api/proto/weir/v1"
	"github.com/weirstream/weir/internal/checkpoint"
)

// A checkpoint's buffer goes back to the subtask only once its object is
// written and its local copy kept: a checkpoint started meanwhile builds
// its object in another buffer, not over the one still being written.
// The local copy of checkpoint 2 is written into a named pipe, which holds
// checkpoint 2 in the middle of its write until the test reads it, after
// checkpoint 3 is persisted.
func TestCheckpointerKeepsBufferUntilWritten(t *testing.T) {
	h := newHeapSubtask(t)
	h.c.local = true
	h.rm.acked = make(chan *weirv1.AcknowledgeCheckpointRequest, 3)
	h.write(0)
	h.start(1)
	first := <-h.rm.acked
	h.tm.wg.Wait()

	pipe := h.tm.local.path(h.c.id.GetJobId(), 1, 0, 2, checkpoint.ObjectName(1, 0, 1)) + ".tmp"
	if err := os.MkdirAll(filepath.Dir(pipe), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(pipe, 0o644); err != nil {
		t.Fatal(err)
	}
	h.write(1)
	h.start(2) // takes the buffer of checkpoint 1, then waits on the pipe
	h.write(2)
	h.start(3)
	third := <-h.rm.acked
	if third.GetCheckpointId() != 3 {
		t.Fatalf("checkpoint %d acknowledged while checkpoint 2 writes its local copy", third.GetCheckpointId())
	}
	f, err := os.Open(pipe)
	if err != nil {
		t.Fatal(err)
	}
	copied, err := io.ReadAll(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	second := <-h.rm.acked
	h.tm.wg.Wait()
	h.check(second, copied)
	for _, req := range []*weirv1.AcknowledgeCheckpointRequest{first, second, third} {
		h.check(req, h.object(req.GetCheckpointId()))
	}
}
