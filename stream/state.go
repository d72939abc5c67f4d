package stream

import (
	"fmt"

	"github.com/weirstream/weir/internal/statebackend"
)

// OpenContext is handed to a keyed function's Open: it declares keyed state
// and describes the subtask.
type OpenContext struct {
	TaskInfo
	backend statebackend.KeyedBackend
}

func (c *OpenContext) register(name string, kind statebackend.Kind) (statebackend.StateID, error) {
	if c.backend == nil {
		return 0, fmt.Errorf("stream: state %q declared outside a keyed operator", name)
	}
	if name == "" {
		return 0, fmt.Errorf("stream: state needs a name")
	}
	if err := checkStateName(name); err != nil {
		return 0, err
	}
	return c.backend.Register(name, kind)
}

// KeyedContext is handed to ProcessElement and OnTimer.
type KeyedContext[K any] struct {
	key      []byte
	kg       int
	keyCodec Codec[K]
	ts       *int64
	timers   TimerService
	domain   TimeDomain // of the firing timer; 0 in ProcessElement
}

// Timestamp returns the event timestamp of the record being processed
// (NoTimestamp if it has none), or in OnTimer the timer's timestamp.
func (c *KeyedContext[K]) Timestamp() int64 { return *c.ts }

// TimerService registers and deletes timers of the current key.
func (c *KeyedContext[K]) TimerService() TimerService { return c.timers }

// TimeDomain returns the domain of the timer firing in OnTimer; 0 in
// ProcessElement.
func (c *KeyedContext[K]) TimeDomain() TimeDomain { return c.domain }

// CurrentKey returns the key of the record being processed.
func (c *KeyedContext[K]) CurrentKey() K {
	k, err := c.keyCodec.Decode(c.key)
	if err != nil {
		panic(fmt.Sprintf("stream: decoding the current key: %v", err))
	}
	return k
}

// ValueState holds one value per key.
type ValueState[T any] struct {
	b     statebackend.KeyedBackend
	id    statebackend.StateID
	codec Codec[T]
	buf   []byte
}

// NewValueState declares a value state. Options may set its codec.
func NewValueState[T any](ctx *OpenContext, name string) (*ValueState[T], error) {
	id, err := ctx.register(name, statebackend.KindValue)
	if err != nil {
		return nil, err
	}
	return &ValueState[T]{b: ctx.backend, id: id, codec: CodecFor[T]()}, nil
}

// Value returns the value for the current key and whether one is set.
func (s *ValueState[T]) Value() (T, bool, error) {
	raw, ok := s.b.Get(s.id)
	if !ok {
		var zero T
		return zero, false, nil
	}
	v, err := s.codec.Decode(raw)
	return v, true, err
}

// Update sets the value for the current key.
func (s *ValueState[T]) Update(v T) {
	s.buf = s.codec.Append(s.buf[:0], v)
	s.b.Put(s.id, s.buf)
}

// Clear removes the value for the current key.
func (s *ValueState[T]) Clear() { s.b.Delete(s.id) }

// ListState holds a list of values per key.
type ListState[T any] struct {
	b     statebackend.KeyedBackend
	id    statebackend.StateID
	codec Codec[T]
	buf   []byte
}

// NewListState declares a list state.
func NewListState[T any](ctx *OpenContext, name string) (*ListState[T], error) {
	id, err := ctx.register(name, statebackend.KindList)
	if err != nil {
		return nil, err
	}
	return &ListState[T]{b: ctx.backend, id: id, codec: CodecFor[T]()}, nil
}

// Get returns the list for the current key (nil if empty).
func (s *ListState[T]) Get() ([]T, error) {
	raw, ok := s.b.Get(s.id)
	if !ok {
		return nil, nil
	}
	var out []T
	var derr error
	err := statebackend.RangeList(raw, func(e []byte) bool {
		v, err := s.codec.Decode(e)
		if err != nil {
			derr = err
			return false
		}
		out = append(out, v)
		return true
	})
	if err == nil {
		err = derr
	}
	return out, err
}

// Add appends v to the list for the current key.
func (s *ListState[T]) Add(v T) {
	s.buf = s.codec.Append(s.buf[:0], v)
	s.b.Append(s.id, s.buf)
}

// Update replaces the list for the current key.
func (s *ListState[T]) Update(vs []T) {
	if len(vs) == 0 {
		s.b.Delete(s.id)
		return
	}
	var list, elem []byte
	for _, v := range vs {
		elem = s.codec.Append(elem[:0], v)
		list = statebackend.AppendListElement(list, elem)
	}
	s.b.Put(s.id, list)
}

// Clear removes the list for the current key.
func (s *ListState[T]) Clear() { s.b.Delete(s.id) }

// MapState holds a map from user keys to values per key.
type MapState[UK, V any] struct {
	b      statebackend.KeyedBackend
	id     statebackend.StateID
	kc     Codec[UK]
	vc     Codec[V]
	kb, vb []byte
}

// NewMapState declares a map state.
func NewMapState[UK, V any](ctx *OpenContext, name string) (*MapState[UK, V], error) {
	id, err := ctx.register(name, statebackend.KindMap)
	if err != nil {
		return nil, err
	}
	return &MapState[UK, V]{b: ctx.backend, id: id, kc: CodecFor[UK](), vc: CodecFor[V]()}, nil
}

// Get returns the value under uk for the current key.
func (s *MapState[UK, V]) Get(uk UK) (V, bool, error) {
	s.kb = s.kc.Append(s.kb[:0], uk)
	raw, ok := s.b.MapGet(s.id, s.kb)
	if !ok {
		var zero V
		return zero, false, nil
	}
	v, err := s.vc.Decode(raw)
	return v, true, err
}

// Put sets the value under uk for the current key.
func (s *MapState[UK, V]) Put(uk UK, v V) {
	s.kb = s.kc.Append(s.kb[:0], uk)
	s.vb = s.vc.Append(s.vb[:0], v)
	s.b.MapPut(s.id, s.kb, s.vb)
}

// Remove deletes uk for the current key.
func (s *MapState[UK, V]) Remove(uk UK) {
	s.kb = s.kc.Append(s.kb[:0], uk)
	s.b.MapDelete(s.id, s.kb)
}

// Range calls fn for every entry for the current key, in no particular
// order, until fn returns false. fn must not modify the state.
func (s *MapState[UK, V]) Range(fn func(uk UK, v V) bool) error {
	var err error
	s.b.MapRange(s.id, func(kb, vb []byte) bool {
		var uk UK
		var v V
		if uk, err = s.kc.Decode(kb); err != nil {
			return false
		}
		if v, err = s.vc.Decode(vb); err != nil {
			return false
		}
		return fn(uk, v)
	})
	return err
}

// Clear removes every entry for the current key.
func (s *MapState[UK, V]) Clear() { s.b.Delete(s.id) }

// ReducingState holds one value per key, combined from every value added
// with a reduce function.
type ReducingState[T any] struct {
	v ValueState[T]
	f ReduceFunction[T]
}

// NewReducingState declares a reducing state. f runs in the subtask and
// need not be registered.
func NewReducingState[T any](ctx *OpenContext, name string, f ReduceFunction[T]) (*ReducingState[T], error) {
	vs, err := NewValueState[T](ctx, name)
	if err != nil {
		return nil, err
	}
	return &ReducingState[T]{v: *vs, f: f}, nil
}

// Add combines v into the value for the current key.
func (s *ReducingState[T]) Add(v T) error {
	acc, ok, err := s.v.Value()
	if err != nil {
		return err
	}
	if ok {
		if v, err = s.f.Reduce(acc, v); err != nil {
			return err
		}
	}
	s.v.Update(v)
	return nil
}

// Get returns the combined value for the current key.
func (s *ReducingState[T]) Get() (T, bool, error) { return s.v.Value() }

// Clear removes the value for the current key.
func (s *ReducingState[T]) Clear() { s.v.Clear() }

// AggregatingState holds an accumulator per key, fed by Add and read as Out.
type AggregatingState[In, Acc, Out any] struct {
	acc ValueState[Acc]
	f   AggregateFunction[In, Acc, Out]
}

// NewAggregatingState declares an aggregating state.
func NewAggregatingState[In, Acc, Out any](ctx *OpenContext, name string, f AggregateFunction[In, Acc, Out]) (*AggregatingState[In, Acc, Out], error) {
	vs, err := NewValueState[Acc](ctx, name)
	if err != nil {
		return nil, err
	}
	return &AggregatingState[In, Acc, Out]{acc: *vs, f: f}, nil
}

// Add folds v into the accumulator for the current key.
func (s *AggregatingState[In, Acc, Out]) Add(v In) error {
	acc, ok, err := s.acc.Value()
	if err != nil {
		return err
	}
	if !ok {
		acc = s.f.CreateAccumulator()
	}
	s.acc.Update(s.f.Add(v, acc))
	return nil
}

// Get returns the aggregate for the current key.
func (s *AggregatingState[In, Acc, Out]) Get() (Out, bool, error) {
	acc, ok, err := s.acc.Value()
	if !ok || err != nil {
		var zero Out
		return zero, ok, err
	}
	return s.f.GetResult(acc), true, nil
}

// Clear removes the accumulator for the current key.
func (s *AggregatingState[In, Acc, Out]) Clear() { s.acc.Clear() }
