package statebackend

// AsyncSnapshotter is implemented by a backend whose canonical snapshot
// splits in two, as DESIGN invariant 2 asks: a synchronous part on the task
// goroutine that only captures the state, and an asynchronous part, on
// another goroutine, that encodes what was captured while the task goes on
// mutating the backend (the heap backend's copy-on-write).
type AsyncSnapshotter interface {
	KeyedBackend
	// SnapshotAsync is the synchronous part of a canonical snapshot: it
	// runs on the task goroutine, between records, and captures the state
	// as it is. Every snapshot it returns must be encoded or discarded:
	// until then the backend pays for keeping the captured state intact.
	SnapshotAsync() CapturedSnapshot
}

// CapturedSnapshot is the state captured by SnapshotAsync, owned by one
// goroutine (the checkpointer's) after SnapshotAsync returns it.
type CapturedSnapshot interface {
	// AppendEncoded appends the captured state to dst in the canonical
	// snapshot format, as Snapshot would have returned it at the capture,
	// and discards the snapshot. Given the buffer of an earlier snapshot,
	// it allocates nothing for a state that has not grown.
	AppendEncoded(dst []byte) ([]byte, error)
	// Discard drops a snapshot that will not be encoded. Safe to call
	// after Encode and more than once.
	Discard()
}
