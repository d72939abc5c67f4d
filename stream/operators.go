package stream

import (
	"fmt"

	"github.com/weirstream/weir/internal/invariant"
	"github.com/weirstream/weir/internal/keygroup"
	"github.com/weirstream/weir/internal/statebackend"
)

// The typed operators of a chain. Each implements Collector of its input
// type and calls its downstream Collector directly: within a chain a record
// is one typed interface call per operator, with no encoding, boxing or
// channel hand-off. An error stops the chain through the shared failure.

// failure is the first error of a chain. Operators stop forwarding once it
// is set; the task checks it after each record and fails.
type failure struct{ err error }

func (f *failure) set(err error) {
	if f.err == nil {
		f.err = err
	}
}

type fanout[T any] []Collector[T]

func (f fanout[T]) Collect(v T) {
	for _, c := range f {
		c.Collect(v)
	}
}

type mapOp[In, Out any] struct {
	f    MapFunction[In, Out]
	next Collector[Out]
	fail *failure
}

func (o *mapOp[In, Out]) Collect(v In) {
	out, err := o.f.Map(v)
	if err != nil {
		o.fail.set(err)
		return
	}
	o.next.Collect(out)
}

type flatMapOp[In, Out any] struct {
	f    FlatMapFunction[In, Out]
	next Collector[Out]
	fail *failure
}

func (o *flatMapOp[In, Out]) Collect(v In) {
	if err := o.f.FlatMap(v, o.next); err != nil {
		o.fail.set(err)
	}
}

type filterOp[T any] struct {
	f    FilterFunction[T]
	next Collector[T]
	fail *failure
}

func (o *filterOp[T]) Collect(v T) {
	keep, err := o.f.Filter(v)
	if err != nil {
		o.fail.set(err)
		return
	}
	if keep {
		o.next.Collect(v)
	}
}

// keyer computes a record's key, scopes the state backend to it, and
// returns the encoded key. The key group is the one the record came with
// over the key-group partitioned edge, where the sender hashed the same
// encoded key to route it; only a record without one is hashed here.
type keyer[T, K any] struct {
	sel  KeySelector[T, K]
	kc   Codec[K]
	b    statebackend.KeyedBackend
	maxP int
	in   *int // the chain's input key group, negative for none
	buf  []byte
}

func (k *keyer[T, K]) setKey(v T) ([]byte, int) {
	k.buf = k.kc.Append(k.buf[:0], k.sel.Key(v))
	kg := *k.in
	if kg < 0 {
		kg = keygroup.Of(keygroup.Hash(k.buf), k.maxP)
	} else if invariant.Enabled {
		if want := keygroup.Of(keygroup.Hash(k.buf), k.maxP); kg != want {
			panic(invariant.Failf("a record came with key group %d, its key is in %d", kg, want))
		}
	}
	k.b.SetCurrentKey(k.buf, kg)
	return k.buf, kg
}

func keyerFor[T any](rt *buildContext) (func(T) ([]byte, int), error) {
	if rt.keyer == nil || rt.backend == nil {
		return nil, fmt.Errorf("a keyed operator needs a key-group partitioned input (KeyBy)")
	}
	f, ok := rt.keyer.(func(T) ([]byte, int))
	if !ok {
		return nil, fmt.Errorf("key selector input type does not match the operator's input")
	}
	return f, nil
}

// reduceOp is a keyed running reduce: it emits the updated value for every
// record, as Flink's StreamGroupedReduceOperator does.
type reduceOp[T any] struct {
	f     ReduceFunction[T]
	state *ValueState[T]
	key   func(T) ([]byte, int)
	next  Collector[T]
	fail  *failure
}

func newReduceOp[T any](rt *buildContext, f ReduceFunction[T], next Collector[T]) (*reduceOp[T], error) {
	key, err := keyerFor[T](rt)
	if err != nil {
		return nil, err
	}
	st, err := NewValueState[T](&OpenContext{TaskInfo: rt.info, backend: rt.backend, chain: rt.chain}, "reduce")
	if err != nil {
		return nil, err
	}
	return &reduceOp[T]{f: f, state: st, key: key, next: next, fail: rt.fail}, nil
}

func (o *reduceOp[T]) Collect(v T) {
	o.key(v)
	acc, ok, err := o.state.Value()
	if err == nil && ok {
		v, err = o.f.Reduce(acc, v)
	}
	if err != nil {
		o.fail.set(err)
		return
	}
	o.state.Update(v)
	o.next.Collect(v)
}

type processOp[K, In, Out any] struct {
	f     KeyedProcessFunction[K, In, Out]
	timed TimerFunction[K, Out] // f, if it uses timers
	key   func(In) ([]byte, int)
	ctx   KeyedContext[K]
	ts    *int64
	next  Collector[Out]
	fail  *failure
}

func newProcessOp[K, In, Out any](rt *buildContext, f KeyedProcessFunction[K, In, Out], next Collector[Out]) (*processOp[K, In, Out], error) {
	key, err := keyerFor[In](rt)
	if err != nil {
		return nil, err
	}
	if err := f.Open(&OpenContext{TaskInfo: rt.info, backend: rt.backend, chain: rt.chain}); err != nil {
		return nil, err
	}
	if c, ok := f.(Closer); ok {
		rt.chain.closers = append(rt.chain.closers, c.Close)
	}
	ts, err := newTimerService(rt)
	if err != nil {
		return nil, err
	}
	o := &processOp[K, In, Out]{f: f, key: key, ts: &rt.chain.ts, next: next, fail: rt.fail}
	o.timed, _ = f.(TimerFunction[K, Out])
	o.ctx = KeyedContext[K]{keyCodec: CodecFor[K](), ts: &rt.chain.ts}
	o.ctx.timers = TimerService{s: ts, key: &o.ctx.key, kg: &o.ctx.kg}
	ts.onTimer = o.onTimer
	return o, nil
}

func (o *processOp[K, In, Out]) Collect(v In) {
	o.ctx.key, o.ctx.kg = o.key(v)
	o.ctx.domain = 0
	if err := o.f.ProcessElement(&o.ctx, v, o.next); err != nil {
		o.fail.set(err)
	}
}

func (o *processOp[K, In, Out]) onTimer(d TimeDomain, ts int64, key []byte, kg int) error {
	if o.timed == nil {
		return nil
	}
	o.ctx.key, o.ctx.kg, o.ctx.domain = key, kg, d
	*o.ts = ts
	return o.timed.OnTimer(&o.ctx, ts, o.next)
}

type sinkOp[T any] struct {
	w    SinkWriter[T]
	fail *failure
	out  *int64
}

func (o *sinkOp[T]) Collect(v T) {
	if err := o.w.Write(v); err != nil {
		o.fail.set(err)
		return
	}
	*o.out++
}

// sourceRunner is the non-generic face of a SourceReader.
type sourceRunner[T any] struct {
	r   SourceReader[T]
	out Collector[T]
}

func (s *sourceRunner[T]) poll() (PollStatus, error)  { return s.r.PollNext(s.out) }
func (s *sourceRunner[T]) available() <-chan struct{} { return s.r.Available() }

// encoder writes each record to a network edge that is not key-partitioned.
type encoder[T any] struct {
	codec Codec[T]
	ts    *int64 // the chain's current record timestamp
	w     EdgeWriter
	buf   []byte
	fail  *failure
	out   *int64
}

func (e *encoder[T]) Collect(v T) {
	e.buf = e.codec.Append(e.buf[:0], v)
	if err := e.w.WriteRecord(e.buf, *e.ts, 0); err != nil {
		e.fail.set(err)
		return
	}
	*e.out++
}

// keyedEncoder writes each record to the subtask owning its key group.
type keyedEncoder[T, K any] struct {
	sel  KeySelector[T, K]
	kc   Codec[K]
	vc   Codec[T]
	ts   *int64
	w    EdgeWriter
	buf  []byte
	fail *failure
	out  *int64
}

func (e *keyedEncoder[T, K]) Collect(v T) {
	e.buf = e.kc.Append(e.buf[:0], e.sel.Key(v))
	h := keygroup.Hash(e.buf)
	e.buf = e.vc.Append(e.buf[:0], v)
	if err := e.w.WriteRecord(e.buf, *e.ts, h); err != nil {
		e.fail.set(err)
		return
	}
	*e.out++
}

type decoder[T any] struct {
	codec Codec[T]
	next  Collector[T]
	fail  *failure
}

func (d *decoder[T]) decode(b []byte) bool {
	v, err := d.codec.Decode(b)
	if err != nil {
		d.fail.set(fmt.Errorf("decoding a record: %w", err))
		return false
	}
	d.next.Collect(v)
	return true
}
