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
	chain   *Chain // records states with a TTL for snapshot cleanup
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
	ttl   *ttl
	buf   []byte
}

// NewValueState declares a value state. Options may give it a TTL.
func NewValueState[T any](ctx *OpenContext, name string, opts ...StateOption) (*ValueState[T], error) {
	id, t, err := ctx.declare(name, statebackend.KindValue, opts)
	if err != nil {
		return nil, err
	}
	return &ValueState[T]{b: ctx.backend, id: id, codec: CodecFor[T](), ttl: t}, nil
}

// Value returns the value for the current key and whether one is set.
func (s *ValueState[T]) Value() (T, bool, error) {
	var zero T
	raw, ok := s.b.Get(s.id)
	if !ok {
		return zero, false, nil
	}
	if s.ttl == nil {
		v, err := s.codec.Decode(raw)
		return v, true, err
	}
	now := s.ttl.now()
	raw, expired, err := s.ttl.open(raw, now)
	switch {
	case err != nil:
		return zero, false, err
	case expired:
		s.b.Delete(s.id)
		return zero, false, nil
	}
	v, err := s.codec.Decode(raw)
	if err == nil && s.ttl.onRead {
		s.put(v, now)
	}
	return v, true, err
}

// Update sets the value for the current key.
func (s *ValueState[T]) Update(v T) {
	var now int64
	if s.ttl != nil {
		now = s.ttl.now()
	}
	s.put(v, now)
}

func (s *ValueState[T]) put(v T, now int64) {
	s.buf = s.buf[:0]
	if s.ttl != nil {
		s.buf = s.ttl.stamp(s.buf, now)
	}
	s.buf = s.codec.Append(s.buf, v)
	s.b.Put(s.id, s.buf)
}

// Clear removes the value for the current key.
func (s *ValueState[T]) Clear() { s.b.Delete(s.id) }

// ListState holds a list of values per key.
type ListState[T any] struct {
	b     statebackend.KeyedBackend
	id    statebackend.StateID
	codec Codec[T]
	ttl   *ttl
	buf   []byte
	list  []byte
}

// NewListState declares a list state. Options may give its elements a
// TTL.
func NewListState[T any](ctx *OpenContext, name string, opts ...StateOption) (*ListState[T], error) {
	id, t, err := ctx.declare(name, statebackend.KindList, opts)
	if err != nil {
		return nil, err
	}
	return &ListState[T]{b: ctx.backend, id: id, codec: CodecFor[T](), ttl: t}, nil
}

// Get returns the list for the current key (nil if empty). With a TTL,
// expired elements are left out and removed.
func (s *ListState[T]) Get() ([]T, error) {
	raw, ok := s.b.Get(s.id)
	if !ok {
		return nil, nil
	}
	var (
		out     []T
		derr    error
		now     int64
		expired int
	)
	if s.ttl != nil {
		now = s.ttl.now()
		s.list = s.list[:0]
	}
	err := statebackend.RangeList(raw, func(e []byte) bool {
		stored := e
		if s.ttl != nil {
			var exp bool
			if e, exp, derr = s.ttl.open(e, now); derr != nil {
				return false
			}
			if exp {
				expired++
				return true
			}
			if s.ttl.onRead {
				s.buf = s.ttl.stamp(s.buf[:0], now)
				stored = append(s.buf, e...)
			}
			s.list = statebackend.AppendListElement(s.list, stored)
		}
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
	if err == nil && s.ttl != nil && (expired > 0 || s.ttl.onRead) {
		if len(s.list) == 0 {
			s.b.Delete(s.id)
		} else {
			s.b.Put(s.id, s.list)
		}
	}
	return out, err
}

// Add appends v to the list for the current key.
func (s *ListState[T]) Add(v T) {
	s.buf = s.buf[:0]
	if s.ttl != nil {
		s.buf = s.ttl.stamp(s.buf, s.ttl.now())
	}
	s.buf = s.codec.Append(s.buf, v)
	s.b.Append(s.id, s.buf)
}

// Update replaces the list for the current key.
func (s *ListState[T]) Update(vs []T) {
	if len(vs) == 0 {
		s.b.Delete(s.id)
		return
	}
	var now int64
	if s.ttl != nil {
		now = s.ttl.now()
	}
	var list, elem []byte
	for _, v := range vs {
		elem = elem[:0]
		if s.ttl != nil {
			elem = s.ttl.stamp(elem, now)
		}
		elem = s.codec.Append(elem, v)
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
	ttl    *ttl
	kb, vb []byte
}

// NewMapState declares a map state. Options may give its entries a TTL.
func NewMapState[UK, V any](ctx *OpenContext, name string, opts ...StateOption) (*MapState[UK, V], error) {
	id, t, err := ctx.declare(name, statebackend.KindMap, opts)
	if err != nil {
		return nil, err
	}
	return &MapState[UK, V]{b: ctx.backend, id: id, kc: CodecFor[UK](), vc: CodecFor[V](), ttl: t}, nil
}

// Get returns the value under uk for the current key.
func (s *MapState[UK, V]) Get(uk UK) (V, bool, error) {
	var zero V
	s.kb = s.kc.Append(s.kb[:0], uk)
	raw, ok := s.b.MapGet(s.id, s.kb)
	if !ok {
		return zero, false, nil
	}
	if s.ttl == nil {
		v, err := s.vc.Decode(raw)
		return v, true, err
	}
	now := s.ttl.now()
	raw, expired, err := s.ttl.open(raw, now)
	switch {
	case err != nil:
		return zero, false, err
	case expired:
		s.b.MapDelete(s.id, s.kb)
		return zero, false, nil
	}
	v, err := s.vc.Decode(raw)
	if err == nil && s.ttl.onRead {
		s.put(v, now)
	}
	return v, true, err
}

// Put sets the value under uk for the current key.
func (s *MapState[UK, V]) Put(uk UK, v V) {
	s.kb = s.kc.Append(s.kb[:0], uk)
	var now int64
	if s.ttl != nil {
		now = s.ttl.now()
	}
	s.put(v, now)
}

// put stores v under the user key in kb.
func (s *MapState[UK, V]) put(v V, now int64) {
	s.vb = s.vb[:0]
	if s.ttl != nil {
		s.vb = s.ttl.stamp(s.vb, now)
	}
	s.vb = s.vc.Append(s.vb, v)
	s.b.MapPut(s.id, s.kb, s.vb)
}

// Remove deletes uk for the current key.
func (s *MapState[UK, V]) Remove(uk UK) {
	s.kb = s.kc.Append(s.kb[:0], uk)
	s.b.MapDelete(s.id, s.kb)
}

// Range calls fn for every entry for the current key, in no particular
// order, until fn returns false. fn must not modify the state. With a
// TTL, expired entries are skipped and then removed, and with
// OnReadAndWrite the entries fn saw are renewed.
func (s *MapState[UK, V]) Range(fn func(uk UK, v V) bool) error {
	var (
		err      error
		now      int64
		expired  [][]byte // user keys to remove
		renew    [][2][]byte
		ttlState = s.ttl != nil
	)
	if ttlState {
		now = s.ttl.now()
	}
	s.b.MapRange(s.id, func(kb, vb []byte) bool {
		var uk UK
		var v V
		if ttlState {
			var exp bool
			stored := vb
			if vb, exp, err = s.ttl.open(vb, now); err != nil {
				return false
			}
			if exp {
				expired = append(expired, append([]byte(nil), kb...))
				return true
			}
			if s.ttl.onRead {
				renew = append(renew, [2][]byte{append([]byte(nil), kb...), s.ttl.stamp(nil, now)})
				renew[len(renew)-1][1] = append(renew[len(renew)-1][1], stored[ttlHeader:]...)
			}
		}
		if uk, err = s.kc.Decode(kb); err != nil {
			return false
		}
		if v, err = s.vc.Decode(vb); err != nil {
			return false
		}
		return fn(uk, v)
	})
	for _, k := range expired {
		s.b.MapDelete(s.id, k)
	}
	for _, kv := range renew {
		s.b.MapPut(s.id, kv[0], kv[1])
	}
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
func NewReducingState[T any](ctx *OpenContext, name string, f ReduceFunction[T], opts ...StateOption) (*ReducingState[T], error) {
	vs, err := NewValueState[T](ctx, name, opts...)
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
func NewAggregatingState[In, Acc, Out any](ctx *OpenContext, name string, f AggregateFunction[In, Acc, Out], opts ...StateOption) (*AggregatingState[In, Acc, Out], error) {
	vs, err := NewValueState[Acc](ctx, name, opts...)
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
