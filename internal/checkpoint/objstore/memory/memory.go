// Package memory is an objstore.Store kept in a map in this process: the
// "jobmanager memory" checkpoint storage of tests and of the in-process mini
// cluster. Stores opened by the same name (memory://NAME) share their
// objects, so a jobmanager and taskmanagers running in one process see one
// storage. Nothing survives the process.
package memory

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/weirstream/weir/internal/checkpoint/objstore/internal/contract"
)

// Store is an in-memory object store, safe for concurrent use. The zero
// value is not usable; call New or Named.
type Store struct {
	mu struct {
		sync.RWMutex
		objects map[string][]byte
	}
}

// New returns an empty store that no one else shares.
func New() *Store {
	s := &Store{}
	s.mu.objects = make(map[string][]byte)
	return s
}

var registry struct {
	sync.Mutex
	stores map[string]*Store
}

// Named returns the store registered under name, creating it empty on first
// use. Every caller with the same name gets the same store until Drop.
func Named(name string) *Store {
	registry.Lock()
	defer registry.Unlock()
	if s, ok := registry.stores[name]; ok {
		return s
	}
	if registry.stores == nil {
		registry.stores = make(map[string]*Store)
	}
	s := New()
	registry.stores[name] = s
	return s
}

// Drop forgets the store registered under name: the next Named(name)
// returns a new, empty store. Holders of the old one keep using it.
func Drop(name string) {
	registry.Lock()
	defer registry.Unlock()
	delete(registry.stores, name)
}

func check(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return contract.ValidateKey(key)
}

func checkPrefix(ctx context.Context, prefix string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return contract.ValidatePrefix(prefix)
}

func (s *Store) Get(ctx context.Context, key string) ([]byte, error) {
	if err := check(ctx, key); err != nil {
		return nil, err
	}
	s.mu.RLock()
	body, ok := s.mu.objects[key]
	s.mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("objstore/memory: get %q: %w", key, contract.ErrNotExist)
	}
	return slices.Clone(body), nil // stored bodies are never mutated; the copy is the caller's
}

func (s *Store) Put(ctx context.Context, key string, body []byte) error {
	if err := check(ctx, key); err != nil {
		return err
	}
	body = cloneNonNil(body)
	s.mu.Lock()
	s.mu.objects[key] = body
	s.mu.Unlock()
	return nil
}

func (s *Store) PutIfAbsent(ctx context.Context, key string, body []byte) error {
	if err := check(ctx, key); err != nil {
		return err
	}
	body = cloneNonNil(body)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.mu.objects[key]; ok {
		return fmt.Errorf("objstore/memory: put-if-absent %q: %w", key, contract.ErrExist)
	}
	s.mu.objects[key] = body
	return nil
}

func (s *Store) List(ctx context.Context, prefix string) ([]string, error) {
	if err := checkPrefix(ctx, prefix); err != nil {
		return nil, err
	}
	s.mu.RLock()
	keys := make([]string, 0)
	for k := range s.mu.objects {
		if strings.HasPrefix(k, prefix) {
			keys = append(keys, k)
		}
	}
	s.mu.RUnlock()
	slices.Sort(keys)
	return keys, nil
}

func (s *Store) Delete(ctx context.Context, key string) error {
	if err := check(ctx, key); err != nil {
		return err
	}
	s.mu.Lock()
	delete(s.mu.objects, key)
	s.mu.Unlock()
	return nil
}

func (s *Store) DeletePrefix(ctx context.Context, prefix string) error {
	if err := checkPrefix(ctx, prefix); err != nil {
		return err
	}
	s.mu.Lock()
	for k := range s.mu.objects {
		if strings.HasPrefix(k, prefix) {
			delete(s.mu.objects, k)
		}
	}
	s.mu.Unlock()
	return nil
}

// Close does nothing: the objects stay, for other holders of a named store.
func (s *Store) Close() error { return nil }

func cloneNonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return slices.Clone(b)
}
