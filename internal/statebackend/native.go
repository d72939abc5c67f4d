package statebackend

import "context"

// Incremental is implemented by a backend that can take a native snapshot:
// its own files rather than the canonical encoding, so that a checkpoint
// uploads only what changed since the one before (Pebble's new SSTs, the
// heap's delta of the keys written).
// Savepoints stay canonical; only checkpoints are native.
type Incremental interface {
	KeyedBackend
	// NativeSnapshot is the synchronous part of a native snapshot for
	// checkpoint id: it runs on the task goroutine and captures the state
	// (Pebble: in immutable local files; the heap: its writes since its
	// snapshot for base), which Persist uploads off it. base is the
	// checkpoint's base, as Persist receives it.
	NativeSnapshot(id, base int64) (NativeSnapshot, error)
}

// NativeSnapshot is a captured native snapshot, owned by one goroutine (the
// checkpointer's) after NativeSnapshot returns it.
type NativeSnapshot interface {
	// Persist uploads the files the storage does not hold yet as shared
	// objects and returns the snapshot's section. base is the checkpoint
	// whose shared objects may be referenced again (the newest completed
	// one when this checkpoint was triggered); 0 for none.
	Persist(ctx context.Context, st SharedStore, base int64) (Persisted, error)
	// Keep moves the captured files to dst, a new directory on the same
	// file system, as the local copy of the checkpoint (local recovery).
	Keep(dst string) error
	// Discard removes the captured files. Safe to call after Keep.
	Discard() error
}

// SharedStore is where a native snapshot puts its shared objects: the
// job's checkpoint directory.
type SharedStore interface {
	// Scope names the directory shared objects are relative to; a backend
	// references an object again only within one scope.
	Scope() string
	// PutShared writes a new shared object and returns its name relative
	// to the job's checkpoint directory ("shared/<random>"). It does not
	// retain data: the caller may reuse it once PutShared returns.
	PutShared(ctx context.Context, data []byte) (object string, err error)
	// PutSharedFile is PutShared with the contents of the local file at
	// path, which must never change (an SST): the store streams it, or
	// links it into a file store on the same file system, rather than
	// the backend reading it into memory.
	PutSharedFile(ctx context.Context, path string) (object string, err error)
}

// Persisted is a native snapshot written to storage.
type Persisted struct {
	// Keyed is the section's keyed bytes: the native manifest.
	Keyed []byte
	// Shared are the shared objects the section references.
	Shared []string
	// Uploaded counts the bytes of shared objects written for this
	// snapshot; Full the bytes of every file the snapshot references.
	Uploaded, Full int64
	// Whole says why a backend that uploads deltas (the heap's) uploaded
	// the whole state this time; "" if it did not.
	Whole string
}
