package objstore

import (
	"context"
	"fmt"
	"os"

	"github.com/weirstream/weir/internal/checkpoint/objstore/internal/contract"
)

// Errors every Store returns, matched with errors.Is.
var (
	// ErrNotExist: Get of a key that holds no object.
	ErrNotExist = contract.ErrNotExist
	// ErrExist: PutIfAbsent of a key that already holds an object.
	ErrExist = contract.ErrExist
	// ErrInvalidKey: a key or prefix that breaks the key rules (see the
	// package documentation). The error's message names the key.
	ErrInvalidKey = contract.ErrInvalidKey
)

// Store holds immutable-by-convention objects addressed by keys (see the
// package documentation for the key rules).
//
// Consistency: once Put, PutIfAbsent or Delete has returned nil, every
// later Get and List, from any process using the same storage, sees its
// effect (read-after-write and list-after-write; S3 has guaranteed this since
// 2020, MinIO always has).
//
// Failure: a write that returns an error other than ErrExist or
// ErrInvalidKey may or may not have landed. Retrying the same write is always
// safe: Put overwrites, Delete and DeletePrefix are idempotent, and a
// retried PutIfAbsent reports ErrExist (Retrying resolves that case; see
// there).
//
// Concurrency: a Store is safe for concurrent use. Every method honors ctx:
// with a context that is already done it returns ctx.Err() (wrapped) and
// changes nothing.
//
// Ownership: Put and PutIfAbsent do not retain body; Get returns a slice the
// caller owns.
type Store interface {
	// Get returns the object's bytes, or an error matching ErrNotExist.
	Get(ctx context.Context, key string) ([]byte, error)

	// Put creates or replaces the object. It is atomic: a concurrent or later
	// reader sees either the previous object (or none) or all of body, never
	// a part.
	Put(ctx context.Context, key string, body []byte) error

	// PutIfAbsent creates the object atomically, or fails with an error
	// matching ErrExist and changes nothing if the key already holds one. Of
	// any number of racing PutIfAbsent calls for a key, at most one
	// succeeds, in any number of processes. It is how checkpoint _metadata is
	// published, so two coordinators racing on one checkpoint cannot both
	// commit it.
	PutIfAbsent(ctx context.Context, key string, body []byte) error

	// List returns, sorted in byte order, every key that starts with prefix,
	// compared as strings: "chk-1" matches "chk-1/x" and "chk-10/x", "chk-1/"
	// only the former. The empty prefix lists the whole store. A prefix
	// follows the key rules except that it may end with '/'.
	List(ctx context.Context, prefix string) ([]string, error)

	// Delete removes the object. Deleting an absent key returns nil.
	Delete(ctx context.Context, key string) error

	// DeletePrefix removes every object whose key starts with prefix (same
	// matching as List). With an empty prefix it empties the store. It is not
	// atomic: if it fails, some of the objects may be gone.
	DeletePrefix(ctx context.Context, prefix string) error

	// Close releases the store's resources (connections, file handles). It
	// does not delete anything; a memory store's objects outlive it.
	Close() error
}

// FilePutter is a Store that can write an object from a local file
// without its caller reading the file into memory. Use PutFile, which
// falls back to Put for a Store without it.
type FilePutter interface {
	// PutFile is Put with the contents of the local file at path as body.
	// The file must not change while PutFile runs, nor after it if the
	// store is a file store on the same file system, which may link the
	// file rather than copy it: PutFile is for immutable files, such as
	// Pebble's SSTs. Removing the file afterwards is fine.
	PutFile(ctx context.Context, key, path string) error
}

// PutFile writes the local file at path as the object key: with s's own
// PutFile if s is a FilePutter, else read whole and Put. An error reading
// the file names it, and is not retryable.
func PutFile(ctx context.Context, s Store, key, path string) error {
	if fp, ok := s.(FilePutter); ok {
		return fp.PutFile(ctx, key, path)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	body, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("objstore: put %q from a file: %w", key, err)
	}
	return s.Put(ctx, key, body)
}

// KeyError is the error for an invalid key or prefix; it matches
// ErrInvalidKey.
type KeyError = contract.KeyError

// ValidateKey returns nil if key may name an object, or a *KeyError saying
// why not. Every Store checks its keys with it.
func ValidateKey(key string) error { return contract.ValidateKey(key) }

// ValidatePrefix returns nil if prefix may be passed to List or
// DeletePrefix: empty, or a valid key, or a valid key followed by '/'.
func ValidatePrefix(prefix string) error { return contract.ValidatePrefix(prefix) }

// StatusError is a failure reported by a remote store (S3) with its HTTP
// status and service error code. IsRetryable uses it to tell a throttled or
// failing server from a refused request. Its message never contains
// credentials.
type StatusError = contract.StatusError
