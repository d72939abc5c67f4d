package taskmanager

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	weirv1 "github.com/weirstream/weir/api/proto/weir/v1"
	"github.com/weirstream/weir/internal/checkpoint"
	"github.com/weirstream/weir/internal/checkpoint/objstore"
	"github.com/weirstream/weir/internal/clock"
	"github.com/weirstream/weir/internal/keygroup"
	"github.com/weirstream/weir/internal/statebackend"
	"github.com/weirstream/weir/internal/statebackend/pebble"
)

// A native snapshot in checkpoint storage restores in place on Pebble at
// the same parallelism (the files are materialised for the backend to
// open, from the local copy when there is one), and is converted to the
// canonical format for the heap.
func TestLoadRestoreNative(t *testing.T) {
	ctx := context.Background()
	var logs bytes.Buffer
	tm := &TaskManager{opts: Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))},
		stores: checkpoint.NewStores(objstore.Options{}, clock.Real{}), local: localState{root: t.TempDir()}}
	defer tm.stores.Close()
	const job, storage = "0123456789abcdef0123456789abcdef", "memory://native-restore-test"
	st, err := tm.stores.Open(ctx, storage)
	if err != nil {
		t.Fatal(err)
	}
	all := keygroup.Range{Start: 0, End: 128}
	b, err := pebble.Open(filepath.Join(t.TempDir(), "db"), all, pebble.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = b.Close() }()
	v, _ := b.Register("count", statebackend.KindValue)
	for i := range 5000 {
		b.SetCurrentKey(fmt.Appendf(nil, "k%d", i), i%128)
		b.Put(v, fmt.Appendf(nil, "v%d", i))
	}
	want, err := b.Snapshot()
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
	copyDir := tm.local.path(job, 1, 0, 7, nativeCopy)
	if err := tm.local.keep(job, 1, 0, copyDir, ns.Keep); err != nil {
		t.Fatal(err)
	}
	name := checkpoint.ObjectName(1, 0, 1)
	ob := checkpoint.NewObjectBuilder(name, nil)
	ob.Add("counts", 0, checkpoint.Section{Keyed: p.Keyed})
	if err := st.Put(ctx, checkpoint.Join(dir, name), ob.Bytes()); err != nil {
		t.Fatal(err)
	}
	rs := &weirv1.RestoreState{CheckpointId: 7, Storage: storage, Directory: dir, Operators: ob.Handles()}
	id := &weirv1.ExecutionID{JobId: job, VertexId: 1, SubtaskIndex: 0, Attempt: 2}

	for _, local := range []bool{false, true} {
		nr := &nativeRestore{dir: filepath.Join(t.TempDir(), "db"), pebble: true}
		logs.Reset()
		got, err := tm.loadRestore(rs, id, 1, 128, local, nr)(ctx)
		if err != nil {
			t.Fatal(err)
		}
		// The SSTs come from the local copy, hard-linked, or are
		// downloaded; the section's object is downloaded either way.
		if fromCopy := !strings.Contains(logs.String(), "local_copy_bytes=0 "); fromCopy != local {
			t.Fatalf("local=%v: %s", local, logs.String())
		}
		if got["counts"].Keyed != nil || nr.native == nil {
			t.Fatalf("local=%v: the native snapshot was not prepared for the backend", local)
		}
		rb, err := pebble.OpenNative(nr.dir, all, nr.native, nr.checkpoint, nr.scope, pebble.Options{})
		if err != nil {
			t.Fatal(err)
		}
		snap, err := rb.Snapshot()
		if err := rb.Close(); err != nil {
			t.Fatal(err)
		}
		if err != nil || !bytes.Equal(snap, want) {
			t.Fatalf("local=%v: restored state differs (%v)", local, err)
		}
		if wantScope := storage + "|" + job; nr.scope != wantScope {
			t.Fatalf("scope %q, want %q (the scope snapshots upload in)", nr.scope, wantScope)
		}
	}

	// On the heap (or at another parallelism): canonical.
	nr := &nativeRestore{dir: filepath.Join(t.TempDir(), "db")}
	got, err := tm.loadRestore(rs, id, 1, 128, false, nr)(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got["counts"].Keyed, want) || nr.native != nil {
		t.Fatal("the native snapshot was not converted to the canonical one for the heap")
	}
}
