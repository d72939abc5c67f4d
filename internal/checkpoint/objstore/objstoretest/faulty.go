package objstoretest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"

	"github.com/weirstream/weir/internal/checkpoint/objstore"
)

// Errors to inject.
var (
	// ErrInjected is a permanent fault: objstore.IsRetryable says false.
	ErrInjected = errors.New("objstoretest: injected fault")
	// ErrTransient is a transient fault, a 503 SlowDown: objstore.IsRetryable
	// says true.
	ErrTransient error = &objstore.StatusError{
		StatusCode: http.StatusServiceUnavailable,
		Code:       "SlowDown",
		Message:    "objstoretest: injected transient fault",
	}
)

// OpKind names a Store method.
type OpKind int

const (
	OpGet OpKind = iota + 1
	OpPut
	OpPutIfAbsent
	OpList
	OpDelete
	OpDeletePrefix
)

func (k OpKind) String() string {
	switch k {
	case OpGet:
		return "get"
	case OpPut:
		return "put"
	case OpPutIfAbsent:
		return "put-if-absent"
	case OpList:
		return "list"
	case OpDelete:
		return "delete"
	case OpDeletePrefix:
		return "delete-prefix"
	}
	return fmt.Sprintf("OpKind(%d)", int(k))
}

// IsWrite reports whether the operation changes the store.
func (k OpKind) IsWrite() bool {
	return k == OpPut || k == OpPutIfAbsent || k == OpDelete || k == OpDeletePrefix
}

// Op is one call made through a FaultyStore.
type Op struct {
	Kind OpKind
	Key  string // the key, or the prefix for List and DeletePrefix
	// Index is the call's position among all calls the store has seen,
	// from 0. Concurrent calls get distinct indices in an arbitrary order.
	Index int
}

func (op Op) String() string { return fmt.Sprintf("#%d %s %q", op.Index, op.Kind, op.Key) }

// A Fault is what a Rule injects into a call: the caller sees Err. If
// Applied is set, the real call is made first and its effect lands (the
// write is stored, the object is deleted), but the caller still sees Err:
// the lost response, the timeout after commit. If the real call fails, the
// caller sees that failure instead. Otherwise the real call is not made.
type Fault struct {
	Err     error
	Applied bool
}

// A Rule decides, for each call, whether to inject a fault (nil for none).
// It is called with the store's lock held, in Index order, so it may keep
// state without locking of its own; it must not call the store.
type Rule func(Op) *Fault

// FailAt injects err into the call with index i, and nothing elsewhere.
// Applied is as in Fault.
func FailAt(i int, err error, applied bool) Rule {
	return func(op Op) *Fault {
		if op.Index == i {
			return &Fault{Err: err, Applied: applied}
		}
		return nil
	}
}

// FailWhen injects err, applied or not, into every call for which match
// returns true.
func FailWhen(match func(Op) bool, err error, applied bool) Rule {
	return func(op Op) *Fault {
		if match(op) {
			return &Fault{Err: err, Applied: applied}
		}
		return nil
	}
}

// FaultyStore wraps a Store and injects faults chosen by a Rule. It also
// records every call, in Index order. Close is passed through and neither
// counted nor faulted.
type FaultyStore struct {
	inner objstore.Store
	mu    struct {
		sync.Mutex
		rule Rule
		ops  []Op
	}
}

var _ objstore.Store = (*FaultyStore)(nil)

// Wrap returns a FaultyStore over inner that injects what rule says; a nil
// rule injects nothing.
func Wrap(inner objstore.Store, rule Rule) *FaultyStore {
	s := &FaultyStore{inner: inner}
	s.mu.rule = rule
	return s
}

// SetRule replaces the rule for later calls; nil injects nothing.
func (s *FaultyStore) SetRule(rule Rule) {
	s.mu.Lock()
	s.mu.rule = rule
	s.mu.Unlock()
}

// Calls returns how many calls the store has seen.
func (s *FaultyStore) Calls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.mu.ops)
}

// Ops returns the calls the store has seen, in Index order.
func (s *FaultyStore) Ops() []Op {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Op(nil), s.mu.ops...)
}

// Inner returns the wrapped store, to look at what really landed.
func (s *FaultyStore) Inner() objstore.Store { return s.inner }

func (s *FaultyStore) fault(kind OpKind, key string) *Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	op := Op{Kind: kind, Key: key, Index: len(s.mu.ops)}
	s.mu.ops = append(s.mu.ops, op)
	if s.mu.rule == nil {
		return nil
	}
	return s.mu.rule(op)
}

func (s *FaultyStore) do(kind OpKind, key string, call func() error) error {
	f := s.fault(kind, key)
	if f == nil {
		return call()
	}
	if f.Applied {
		if err := call(); err != nil {
			return err
		}
	}
	return f.Err
}

func (s *FaultyStore) Get(ctx context.Context, key string) ([]byte, error) {
	var body []byte
	err := s.do(OpGet, key, func() (err error) {
		body, err = s.inner.Get(ctx, key)
		return err
	})
	if err != nil {
		return nil, err
	}
	return body, nil
}

func (s *FaultyStore) Put(ctx context.Context, key string, body []byte) error {
	return s.do(OpPut, key, func() error { return s.inner.Put(ctx, key, body) })
}

func (s *FaultyStore) PutIfAbsent(ctx context.Context, key string, body []byte) error {
	return s.do(OpPutIfAbsent, key, func() error { return s.inner.PutIfAbsent(ctx, key, body) })
}

func (s *FaultyStore) List(ctx context.Context, prefix string) ([]string, error) {
	var keys []string
	err := s.do(OpList, prefix, func() (err error) {
		keys, err = s.inner.List(ctx, prefix)
		return err
	})
	if err != nil {
		return nil, err
	}
	return keys, nil
}

func (s *FaultyStore) Delete(ctx context.Context, key string) error {
	return s.do(OpDelete, key, func() error { return s.inner.Delete(ctx, key) })
}

func (s *FaultyStore) DeletePrefix(ctx context.Context, prefix string) error {
	return s.do(OpDeletePrefix, prefix, func() error { return s.inner.DeletePrefix(ctx, prefix) })
}

func (s *FaultyStore) Close() error { return s.inner.Close() }
