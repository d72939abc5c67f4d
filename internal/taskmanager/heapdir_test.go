package taskmanager

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	weirv1 "github.com/weirstream/weir/api/proto/weir/v1"
	"github.com/weirstream/weir/internal/checkpoint"
	"github.com/weirstream/weir/internal/checkpoint/objstore"
	"github.com/weirstream/weir/internal/clock"
	"github.com/weirstream/weir/internal/keygroup"
	"github.com/weirstream/weir/internal/statebackend"
	"github.com/weirstream/weir/internal/statebackend/heap"
)

// A heap backend with incremental checkpoints encodes a full snapshot into
// a file in the subtask attempt's directory under DataDir/heap; a file
// store links it in rather than writing it again, and the local copy is
// the same file, moved. Closing the backend removes the directory.
func TestHeapFullSnapshotIsOneFile(t *testing.T) {
	ctx := context.Background()
	data := t.TempDir()
	tm := &TaskManager{opts: Options{DataDir: data, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))},
		stores: checkpoint.NewStores(objstore.Options{}, clock.Real{}), local: localState{root: filepath.Join(data, "local-state")}}
	defer tm.stores.Close()
	const job = "0123456789abcdef0123456789abcdef"
	id := &weirv1.ExecutionID{JobId: job, VertexId: 1, SubtaskIndex: 0, Attempt: 3}
	g := &weirv1.JobGraph{Config: map[string]string{"state.backend.incremental": "true"}}
	open, err := tm.backendOf(g, id, newSubtaskStats("heap"), &nativeRestore{})
	if err != nil {
		t.Fatal(err)
	}
	all := keygroup.Range{Start: 0, End: 128}
	kb, err := open(all)
	if err != nil {
		t.Fatal(err)
	}
	b := kb.(*heap.Backend)
	// A restore from a canonical snapshot (a savepoint's): the next
	// checkpoint is full.
	src := heap.New(all)
	v, _ := src.Register("count", statebackend.KindValue)
	for i := range 5000 {
		src.SetCurrentKey(fmt.Appendf(nil, "k%d", i), i%128)
		src.Put(v, fmt.Appendf(nil, "v%d", i))
	}
	canonical, err := src.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Restore(canonical); err != nil {
		t.Fatal(err)
	}

	storeDir := t.TempDir()
	storage := "file://" + storeDir
	st, err := tm.stores.Open(ctx, storage)
	if err != nil {
		t.Fatal(err)
	}
	dir := checkpoint.CheckpointDir(job, 7)
	ns, err := b.NativeSnapshot(7, 0)
	if err != nil {
		t.Fatal(err)
	}
	p, err := ns.Persist(ctx, sharedStore{st: st, storage: storage, dir: dir}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Shared) != 1 || p.Uploaded < int64(len(canonical)) {
		t.Fatalf("checkpoint 7 uploaded %d bytes in %d objects; want a full snapshot", p.Uploaded, len(p.Shared))
	}
	heapDir := tm.heapDir(id)
	if files, err := os.ReadDir(heapDir); err != nil || len(files) != 1 {
		t.Fatalf("the attempt's heap directory %s holds %d files (%v); want the full snapshot's", heapDir, len(files), err)
	}
	copyDir := tm.local.path(job, 1, 0, 7, nativeCopy)
	if err := tm.local.keep(job, 1, 0, copyDir, ns.Keep); err != nil {
		t.Fatal(err)
	}
	if files, _ := os.ReadDir(heapDir); len(files) != 0 {
		t.Errorf("the attempt's heap directory holds %d files after the snapshot was kept", len(files))
	}
	stored := filepath.Join(storeDir, checkpoint.SharedObjectPath(dir, p.Shared[0]))
	kept := filepath.Join(copyDir, heap.LocalName(p.Shared[0]))
	si, err := os.Stat(stored)
	if err != nil {
		t.Fatal(err)
	}
	ki, err := os.Stat(kept)
	if err != nil {
		t.Fatal(err)
	}
	if !os.SameFile(si, ki) {
		t.Error("the stored object and the local copy are two files; want the one file encoded, linked into the store")
	}
	obj, err := os.ReadFile(kept)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(obj[:4], []byte("WKS1")) || int64(len(obj)) != p.Uploaded {
		t.Errorf("the local copy holds %d bytes starting %q; want the %d of a canonical snapshot", len(obj), obj[:4], p.Uploaded)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(heapDir); !os.IsNotExist(err) {
		t.Errorf("the attempt's heap directory is left after the backend closed: %v", err)
	}
}

// A heap backend whose native restore fails is closed, and its directory
// removed with it.
func TestHeapDirRemovedWhenRestoreFails(t *testing.T) {
	data := t.TempDir()
	tm := &TaskManager{opts: Options{DataDir: data, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}}
	id := &weirv1.ExecutionID{JobId: "0123456789abcdef0123456789abcdef", VertexId: 1, SubtaskIndex: 0, Attempt: 2}
	g := &weirv1.JobGraph{Config: map[string]string{"state.backend.incremental": "true"}}
	damaged := []byte("not a chain's object")
	read := func(context.Context, int) ([]byte, string, error) { return damaged, "", nil }
	nr := &nativeRestore{checkpoint: 3, fetch: fetchChain(t.Context(), 1, read),
		chain: heap.Chain{Scope: "s", Objects: []heap.Object{{Name: "shared/x", Size: int64(len(damaged))}}}}
	open, err := tm.backendOf(g, id, newSubtaskStats("heap"), nr)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := open(keygroup.Range{Start: 0, End: 128}); !errors.Is(err, checkpoint.ErrCorrupt) {
		t.Fatalf("restoring a damaged chain = %v; want ErrCorrupt", err)
	}
	if _, err := os.Stat(tm.heapDir(id)); !os.IsNotExist(err) {
		t.Errorf("the attempt's heap directory is left after its restore failed: %v", err)
	}
}
