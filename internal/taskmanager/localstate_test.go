package taskmanager

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	weirv1 "github.com/weirstream/weir/api/proto/weir/v1"
	"github.com/weirstream/weir/internal/checkpoint"
	"github.com/weirstream/weir/internal/checkpoint/objstore"
	"github.com/weirstream/weir/internal/clock"
)

// A restore with local recovery reads the local copy (here the only copy),
// downloads an object whose copy is damaged, and fails only when neither
// is intact. Copies of all but the newest three checkpoints are removed.
func TestLocalRecovery(t *testing.T) {
	ctx := context.Background()
	tm := &TaskManager{opts: Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))},
		stores: checkpoint.NewStores(objstore.Options{}, clock.Real{}), local: localState{root: t.TempDir()}}
	defer tm.stores.Close()
	const job = "0123456789abcdef0123456789abcdef"
	// memory:// buckets live as long as the process: a bucket of its own
	// for each run (-count), which must find no object in storage.
	storage := fmt.Sprintf("memory://local-recovery-test-%d", rand.Uint64())
	st, err := tm.stores.Open(ctx, storage)
	if err != nil {
		t.Fatal(err)
	}
	id := &weirv1.ExecutionID{JobId: job, VertexId: 1, SubtaskIndex: 0, Attempt: 2}
	name := checkpoint.ObjectName(1, 0, 1)
	ob := checkpoint.NewObjectBuilder(name, nil)
	ob.Add("src", 0, checkpoint.Section{Elements: [][]byte{[]byte("position 42")}})
	dir := checkpoint.CheckpointDir(job, 7)
	rs := &weirv1.RestoreState{CheckpointId: 7, Storage: storage, Directory: dir, Operators: ob.Handles()}
	load := func() (string, error) {
		got, err := tm.loadRestore(rs, id, 1, 128, true, &nativeRestore{dir: t.TempDir()})(ctx)
		if err != nil {
			return "", err
		}
		return string(got["src"].Elements[0]), nil
	}

	if err := tm.local.put(job, 1, 0, 7, name, ob.Bytes()); err != nil {
		t.Fatal(err)
	}
	if got, err := load(); err != nil || got != "position 42" {
		t.Fatalf("restoring from the local copy alone: %q, %v", got, err)
	}

	copyPath := tm.local.path(job, 1, 0, 7, name)
	damaged := append([]byte(nil), ob.Bytes()...)
	damaged[len(damaged)-1] ^= 1
	if err := os.WriteFile(copyPath, damaged, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := load(); err == nil {
		t.Fatal("a damaged copy and nothing in storage restored")
	}
	if err := st.Put(ctx, checkpoint.Join(dir, name), ob.Bytes()); err != nil {
		t.Fatal(err)
	}
	if got, err := load(); err != nil || got != "position 42" {
		t.Fatalf("restoring past a damaged local copy: %q, %v", got, err)
	}

	for n := int64(8); n <= 12; n++ {
		if err := tm.local.put(job, 1, 0, n, name, ob.Bytes()); err != nil {
			t.Fatal(err)
		}
	}
	entries, err := os.ReadDir(filepath.Dir(filepath.Dir(copyPath)))
	if err != nil {
		t.Fatal(err)
	}
	var kept []string
	for _, e := range entries {
		kept = append(kept, e.Name())
	}
	if len(kept) != localCopiesKept || kept[0] != "chk-10" {
		t.Fatalf("local copies kept: %v, want chk-10..chk-12", kept)
	}
}
