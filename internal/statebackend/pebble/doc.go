// Package pebble is the state backend that keeps a subtask's working state
// in a Pebble LSM on the taskmanager's local disk, for state larger than
// the heap backend can hold in memory. It implements
// statebackend.KeyedBackend and passes the same conformance suite as heap/,
// and a metamorphic test holds the two to identical results.
//
// # Working state, never checkpoint storage
//
// The database lives in a directory under the taskmanager's data directory
// (state.backend.pebble.localdir). It is working state: it may be lost with
// its process, and nothing ever reopens it. Durability comes from
// checkpoints: SnapshotAsync captures the state in a Pebble snapshot at
// the barrier and the checkpointer encodes it in the canonical format (or
// NativeSnapshot captures its files, see below), it is uploaded to
// checkpoint storage, and recovery hands it to a fresh backend. Pebble is never the checkpoint store, and there is no
// remote Pebble.
//
// Open refuses a directory that is not empty (it may hold another attempt's
// state) and Close removes it. A taskmanager that crashed leaves its
// directories behind; the taskmanager clears its local directory when it
// starts.
//
// # Native snapshots (incremental checkpoints)
//
// With state.backend.incremental a checkpoint (never a savepoint) takes a
// native snapshot instead (native.go), and the backend keeps Pebble's
// write-ahead log (Options.WAL, see Writes). NativeSnapshot, on the task
// goroutine, takes a Pebble checkpoint into <dir>.chk/chk-<n>: hard links
// to the immutable SSTs, copies of the small files and of the log, whose
// buffered tail it writes out first. The log holds every write since the
// last flush, so the memtables need no flush at the barrier, and nothing
// written after the barrier is in the copy: the task writes nothing until
// NativeSnapshot returns. Persist, on the checkpointer's goroutine,
// uploads the SSTs the backend's lineage has not uploaded for the base
// checkpoint as shared objects (as files, SharedStore.PutSharedFile, when
// the database is on the operating system's file system: streamed or
// linked by the store, never read whole into memory, with the CRC-32C
// summed as Pebble wrote the file (sstsums.go) or, failing that, one read
// through a small buffer), and the log's bytes appended since the base's
// copy as one more segment of it, and encodes the manifest
// (docs/checkpoints.md): the registry, the small files inline, and each
// shared object's file name, offset, size and CRC-32C. Within one
// database an SST's name always names the same bytes, and a log only
// grows, so an SST is uploaded once and referenced by every later
// snapshot that still holds it, and a log's segments by every later
// snapshot until the log is deleted. Materialize and OpenNative restore the files as a database and
// reopen it, replaying the log — the only time a database is reopened,
// and from checkpoint storage (or its verified local copy), never from
// the working directory of a previous attempt. Canonical converts a native
// snapshot for another parallelism or backend.
//
// # One database per subtask
//
// Each backend opens a Pebble database of its own rather than sharing one
// per taskmanager:
//
//   - isolation: a subtask's key-group range is the whole database, so no
//     key of another subtask, job or attempt can leak into its reads or
//     snapshots, and a fault stops only its own task;
//   - snapshot per task: Snapshot iterates one database from end to end,
//     filtering nothing, and NativeSnapshot takes Pebble's checkpoint of
//     one database (DESIGN invariant 2);
//   - simple deletion: Close removes a directory, where a shared database
//     would need range deletions and compactions to reclaim a finished
//     task's space.
//
// The cost is a block cache, memtables and a few background goroutines per
// subtask: Options.MemoryBytes is per backend.
//
// # Why Pebble v2
//
// The module is github.com/cockroachdb/pebble/v2 (v2.1.7), not v1.1.x. The
// two have the same API; v1 stops at the format major versions of older
// CockroachDB releases (FormatVirtualSSTables), while v2 carries the ones
// Pebble's master continues, columnar sstable blocks among them (the
// backend opens its databases at FormatNewest). What v2 gives up — opening
// RocksDB-format databases — never matters here: the backend only opens
// databases it creates. It is pure Go: with CGO_ENABLED=0 its zstd falls
// back to klauspost/compress, and tables use its default Snappy
// compression anyway, so the static binaries keep building.
//
// # Key layout
//
// Every stored value is one Pebble key:
//
//	pebble key = kg | state | uvarint len(key) | key | [userKey]
//	kg         = key group, 2 bytes big endian
//	state      = StateID, 2 bytes big endian
//
// The key group comes first, so a key-group range is a contiguous span of
// keys: a snapshot iterates it in key-group order and a future rescale or
// incremental checkpoint can cut it at key-group boundaries. The key is
// length-prefixed, so a key that is a prefix of another ("a", "ab") or a
// key/user-key pair whose concatenations collide ("a"+"bc", "ab"+"c") never
// share a Pebble key; everything up to the end of key is the prefix every
// entry of one key's state shares. StateIDs are numbered in the order
// states are registered and mean nothing beyond the backend: the snapshot
// carries names, and Restore registers them again.
//
//   - Value state: Set and Get of the value under the prefix.
//   - List state: the encoded list (statebackend.AppendListElement) under
//     the prefix. Append is a blind Merge of one encoded element, with a
//     concatenating merge operator (merge.go): the encoding of a list is
//     the concatenation of its elements' encodings.
//   - Map state: one Pebble key per user key, the user key after the
//     prefix. MapRange is a bounded iteration of the prefix, and Delete of
//     the whole map one DeleteRange over it.
//
// # Writes
//
// Every write uses pebble.NoSync, and no file of the backend is ever
// synced (noSyncFS): the database is never reopened after a crash — its
// state comes back from a checkpoint — and a native snapshot's files are
// read back from the page cache or verified against their checksums.
// Syncing would cost a disk flush per record (hundreds of writes a second
// where a buffered write takes a microsecond) for no guarantee anyone
// reads, and at a barrier Pebble's checkpoint syncs each file and
// directory it writes.
//
// The task's point writes (Put, Append, Delete of a value or list,
// MapPut, MapDelete) go first into a write buffer of the backend's (a
// quarter memtable, at most 256 KiB; see writeBuffer) that holds the
// newest write of each key; reads look in it before Pebble. It is
// committed to Pebble as one batch when full, and before a snapshot, a
// MapRange or a Delete of a map (a range deletion). One commit per buffer
// saves Pebble's commit pipeline per write, and with the write-ahead log
// almost all the log's cost per write: in BenchmarkValueUpdate an update
// took 2.12 µs without the log and 2.35 µs with it, and 1.91 µs either
// way with the buffer. A counter updated many times between commits
// reaches the memtable once.
//
// The write-ahead log is disabled unless the backend takes native
// snapshots (Options.WAL, set for incremental checkpoints). There it is a
// copy of the memtables' writes that a checkpoint can take without the
// flush that would otherwise make them files: the flush waited for at the
// barrier was most of the pause, and wrote an L0 file every checkpoint
// that compactions then rewrote. The log costs each write a copy into its
// buffer, written to its file by Pebble's goroutine, and each checkpoint
// the copy of the live logs at the barrier — the current log as far as it
// is written (noSyncFS empties a recycled log), and the log of a memtable
// being flushed, up to about two memtables (MemoryBytes/3) — of which it
// uploads only what was appended since its base (Persist).
//
// # Memory
//
// MemoryBytes (default 64 MiB) is split half to memtables — each
// MemoryBytes/6, with Pebble stalling writes at three memtables' worth —
// and half to the block cache, which also holds index and Bloom
// filter blocks (10 bits a key on every level, so a Get of an absent key
// rarely reads a data block). Before Pebble's stall, the backend holds
// writes back itself (see Backend.admit) at two memtables' worth, waiting
// for a flush or compaction to end or for the backend to fail, so that a
// flush that keeps failing cannot block the task forever.
//
// The half follows Flink's RocksDB backend, whose write buffers take half
// of a slot's managed memory. Keyed state is spread evenly over its key
// groups, so every flush into L0 spans the whole key space, and
// compactions from L0 rewrite the whole base level every few flushes:
// the larger the flushes, the fewer the rewrites. With incremental
// checkpoints every file a compaction writes that is live at the next
// checkpoint is uploaded by it. At the default budget, half instead of
// a quarter cut what a checkpoint uploads by a quarter with 256 MiB of
// state, and in one pair of runs with 1 GB made the job faster, with
// checkpoints and without (docs/benchmarks.md).
//
// Values returned by Get, MapGet and MapRange are copied out of Pebble into
// an arena owned by the backend, so they stay valid until the next mutating
// call, as KeyedBackend requires, without an allocation per read.
//
// # Errors
//
// KeyedBackend's per-record calls return no errors. The first error of a
// Pebble read, write, flush or compaction is sticky: from then on writes
// are dropped, reads report absence, and Err, Snapshot, Restore and Register
// return it. A task must check Err (after every record or batch) and fail
// when it is set; it then restarts from its last checkpoint on a fresh
// backend, and no checkpoint can include the failed backend's state because
// Snapshot refuses. Pebble reports some errors it cannot unwind (a failed
// MANIFEST write) through Logger.Fatalf and expects the process to exit;
// this backend's logger records them as its sticky error instead, failing
// one task rather than the taskmanager. A failed write of the write-ahead
// log is the exception: Pebble panics when it next closes the log (the
// memtable's rotation), which ends the taskmanager, and the job recovers
// as from any lost taskmanager. A native snapshot that writes out the
// log's tail sees the error first and only fails the task.
package pebble
