// Package statebackend is the port between operators and their working
// state: the KeyedBackend interface, implemented by heap/ (Go maps) and
// pebble/ (a local Pebble LSM).
//
// Working state is local and may be lost with its process. It is never the
// checkpoint store: snapshots of it are written to checkpoint storage
// (internal/checkpoint), and recovery reads those.
//
// The interface speaks bytes: keys, user keys and values arrive encoded by
// the operator's codecs, so both backends hold identical contents and a
// savepoint can move state from one to the other.
package statebackend

import (
	"errors"
	"fmt"
)

// StateID names a state declared with Register, for the life of the backend.
type StateID int

// Kind is the shape of a state.
type Kind int

const (
	// KindValue holds one value per key.
	KindValue Kind = iota + 1
	// KindList holds an ordered list of values per key.
	KindList
	// KindMap holds a map from user key to value per key.
	KindMap
)

func (k Kind) String() string {
	switch k {
	case KindValue:
		return "value"
	case KindList:
		return "list"
	case KindMap:
		return "map"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// ErrKindMismatch is returned by Register when a name is declared twice with
// different kinds.
var ErrKindMismatch = errors.New("statebackend: state declared again with another kind")

// KeyedBackend holds the keyed state of one subtask: every state, for every
// key in the subtask's key-group range.
//
// Ownership and concurrency: a KeyedBackend belongs to the task goroutine
// that created it (DESIGN invariant 2); it is not safe for concurrent use.
// Byte slices passed in are copied when stored and may be reused by the
// caller after the call. Byte slices returned are valid only until the next
// call that mutates the backend, and must not be modified.
//
// Every state call is scoped to the current key set by SetCurrentKey.
type KeyedBackend interface {
	// Register declares a state. Registering the same name and kind again
	// returns the same ID.
	Register(name string, kind Kind) (StateID, error)

	// SetCurrentKey scopes the following calls to key, which lies in key
	// group kg. kg must be in the backend's key-group range.
	SetCurrentKey(key []byte, kg int)

	// Get returns the value of a KindValue state, or the encoded list of a
	// KindList state (see AppendListElement), and whether it exists.
	Get(s StateID) ([]byte, bool)
	// Put sets the value of a KindValue state, or replaces the encoded list
	// of a KindList state.
	Put(s StateID, value []byte)
	// Append adds one element to a KindList state.
	Append(s StateID, elem []byte)
	// Delete clears the state for the current key, whatever its kind.
	Delete(s StateID)

	// MapGet returns the value under userKey of a KindMap state.
	MapGet(s StateID, userKey []byte) ([]byte, bool)
	// MapPut sets the value under userKey of a KindMap state.
	MapPut(s StateID, userKey, value []byte)
	// MapDelete removes userKey from a KindMap state.
	MapDelete(s StateID, userKey []byte)
	// MapRange calls fn for each entry of a KindMap state, in no particular
	// order, until fn returns false. fn must not mutate the backend.
	MapRange(s StateID, fn func(userKey, value []byte) bool)

	// Snapshot encodes every state of every key in the canonical snapshot
	// format (snapshot.go). It runs on the task goroutine, between records:
	// the returned bytes share nothing with the backend, so uploading them
	// may run concurrently with further processing.
	Snapshot() ([]byte, error)

	// Restore loads a canonical snapshot into an empty backend, keeping the
	// entries of key groups in the backend's range and skipping the others
	// (a snapshot taken at another parallelism).
	Restore(snapshot []byte) error

	// Close releases the backend's resources.
	Close() error
}
