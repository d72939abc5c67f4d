package statebackend

import (
	"slices"
	"sync"
)

// Lineage remembers what a backend's native snapshots persisted (or what
// it was restored from), by checkpoint and with the scope of the shared
// objects, so that a later snapshot based on one of them references those
// objects again instead of uploading them: Pebble's SSTs, the heap's
// chains. It keeps the newest lineageKept checkpoints. Persist runs off
// the task goroutine, hence the lock.
type Lineage[T any] struct {
	mu   sync.Mutex
	sets map[int64]lineageSet[T]
}

type lineageSet[T any] struct {
	scope string
	v     T
}

// lineageKept bounds the checkpoints a lineage remembers.
const lineageKept = 4

// Get returns what checkpoint id persisted and the scope of its shared
// objects, if the lineage remembers it.
func (l *Lineage[T]) Get(id int64) (v T, scope string, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	s, ok := l.sets[id]
	return s.v, s.scope, ok
}

// Put records what checkpoint id persisted in scope, forgetting the oldest
// checkpoint beyond lineageKept.
func (l *Lineage[T]) Put(id int64, scope string, v T) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.sets == nil {
		l.sets = map[int64]lineageSet[T]{}
	}
	l.sets[id] = lineageSet[T]{scope: scope, v: v}
	if len(l.sets) > lineageKept {
		ids := make([]int64, 0, len(l.sets))
		for id := range l.sets {
			ids = append(ids, id)
		}
		slices.Sort(ids)
		for _, id := range ids[:len(ids)-lineageKept] {
			delete(l.sets, id)
		}
	}
}
