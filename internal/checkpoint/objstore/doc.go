// Package objstore is the blob-storage port for checkpoint data and
// metadata: the one interface through which snapshots reach durable, remote
// storage. Working state never goes through it (that lives in the state
// backends, on the heap or in a local Pebble DB); only snapshots do.
//
// Implementations:
//
//   - objstore/memory: an in-process map, shared by name (memory://NAME). For
//     tests and the in-process mini cluster; it is not durable.
//   - objstore/file: a local directory (file:///abs/dir). Writes are atomic
//     and durable: temp file, fsync, rename, fsync of the directory.
//   - objstore/s3: an S3 bucket through minio-go (s3://bucket/prefix).
//
// Open picks one by URI. Retrying wraps any of them with bounded,
// jittered retries of errors that IsRetryable classifies as transient.
// objstore/objstoretest holds the conformance suite every implementation
// passes and a fault-injecting wrapper.
//
// # Keys
//
// Keys are relative, slash-separated paths such as
// "job-1/chk-7/op-2/subtask-0.state" or "job-1/chk-7/_metadata". Every
// segment is non-empty, valid UTF-8, free of control characters and
// backslashes, at most 255 bytes, and does not start with '.': "." and ".."
// can therefore never appear, so no key can leave its store's root, and
// dot-names stay free for implementations' temporary files. A key is at most
// 1024 bytes. Invalid keys are rejected with an error that matches
// ErrInvalidKey and names the key. See ValidateKey.
//
// A key should not also be a directory-like prefix of other keys: "a" and
// "a/b" can coexist in S3 and in memory, but not in a file system, so the file
// store rejects the second of them. The checkpoint layout never needs both.
//
// # The commit point
//
// A checkpoint exists only once its _metadata object is written, last, with
// PutIfAbsent (DESIGN.md invariant 4). A failed write is ambiguous: it may
// have landed even though the caller saw an error (a lost response, a
// timeout). Callers therefore never delete state because a write failed;
// garbage is found by listing and keeping what some _metadata references.
package objstore
