package stream

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"sync"

	weirv1 "github.com/weirstream/weir/api/proto/weir/v1"
)

// A job graph names its functions; the processes that run it look them up
// here. Register every function, source, sink and key selector in an init
// function of a package that the jobmanager and taskmanager binaries import
// (the standard binaries import the built-in connectors and examples; a user
// with their own functions builds a binary that imports theirs).
//
// A function value is a parameter set: its exported fields are encoded as
// JSON into the job graph, and each subtask decodes its own copy.

// keySelectorKind marks key selectors, which are not operators.
const keySelectorKind = weirv1.OperatorKind(-1)

type entry struct {
	name string
	kind weirv1.OperatorKind
	typ  reflect.Type
	in   *typeOps // input record type; nil for sources
	out  *typeOps // output record type (for key selectors, the key type); nil for sinks
	key  *typeOps // key type of keyed functions (process)
	// anyInput marks functions that take records of any type (the built-in
	// window aggregates): in is nil, and the operator is built for the
	// type of its input.
	anyInput bool

	// build instantiates the operator around its decoded function value fn
	// and its output next (a Collector[Out], nil for sinks). It returns the
	// operator's input: a Collector[In], or a sourceRunner for sources.
	build func(rt *buildContext, fn any, next any) (any, error)

	// window builds the window operator of a reduce function used in a
	// window (a WINDOW operator naming a function registered as REDUCE).
	window func(rt *buildContext, fn any, next any) (any, error)

	// Key selectors only.
	keyedEncoder func(sel any, w EdgeWriter, rt *buildContext) any // Collector[T]
	keyer        func(sel any, rt *buildContext) any               // func(T) []byte
}

var registry struct {
	sync.RWMutex
	byName map[string]*entry
	byType map[reflect.Type]*entry
}

func register(e *entry) {
	registry.Lock()
	defer registry.Unlock()
	if registry.byName == nil {
		registry.byName = map[string]*entry{}
		registry.byType = map[reflect.Type]*entry{}
	}
	if old, ok := registry.byName[e.name]; ok {
		if old.typ == e.typ {
			return
		}
		panic(fmt.Sprintf("stream: %q registered twice: %v and %v", e.name, old.typ, e.typ))
	}
	if old, ok := registry.byType[e.typ]; ok {
		panic(fmt.Sprintf("stream: %v registered twice: as %q and %q", e.typ, old.name, e.name))
	}
	registry.byName[e.name] = e
	registry.byType[e.typ] = e
}

func lookupName(name string) (*entry, bool) {
	registry.RLock()
	defer registry.RUnlock()
	e, ok := registry.byName[name]
	return e, ok
}

func lookupValue(fn any) (*entry, error) {
	registry.RLock()
	defer registry.RUnlock()
	e, ok := registry.byType[reflect.TypeOf(fn)]
	if !ok {
		return nil, fmt.Errorf("stream: %T is not registered; register it in an init function (stream.Register...)", fn)
	}
	return e, nil
}

// RegisteredFunctions returns the names of all registered functions, sorted.
func RegisteredFunctions() []string {
	registry.RLock()
	defer registry.RUnlock()
	names := make([]string, 0, len(registry.byName))
	for n := range registry.byName {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// encodeParams encodes a function value as its parameters.
func encodeParams(fn any) ([]byte, error) {
	b, err := json.Marshal(fn)
	if err != nil {
		return nil, fmt.Errorf("stream: encoding the parameters of %T: %w", fn, err)
	}
	return b, nil
}

// decodeFunction returns a fresh function value of e's type with params
// decoded into it. Unknown parameter names are errors.
func (e *entry) decodeFunction(params []byte) (any, error) {
	v := reflect.New(e.typ)
	if len(params) > 0 {
		dec := json.NewDecoder(bytes.NewReader(params))
		dec.DisallowUnknownFields()
		if err := dec.Decode(v.Interface()); err != nil {
			return nil, fmt.Errorf("decoding parameters of %s: %w", e.name, err)
		}
	}
	fn := v.Elem().Interface()
	if val, ok := fn.(Validator); ok {
		if err := val.Validate(); err != nil {
			return nil, err
		}
	}
	return fn, nil
}

// typeOps are the per-record-type pieces of the runtime, generated once per
// type at registration so the data path runs typed code with no reflection.
type typeOps struct {
	typ     reflect.Type
	fanout  func(outs []any) any                               // []Collector[T] -> Collector[T]
	encoder func(w EdgeWriter, rt *buildContext) any           // Collector[T] writing to a network edge
	decoder func(next any, rt *buildContext) func([]byte) bool // decodes and forwards one record
	// format renders an encoded value, for keys in built-in output.
	format func(b []byte) (string, error)
	// builtinWindow builds a built-in count (field "") or sum window over
	// records of this type.
	builtinWindow func(rt *buildContext, field string, next Collector[WindowAggregate]) (any, error)
}

func opsFor[T any]() *typeOps {
	return &typeOps{
		typ: reflect.TypeFor[T](),
		fanout: func(outs []any) any {
			if len(outs) == 1 {
				return outs[0].(Collector[T])
			}
			cs := make([]Collector[T], len(outs))
			for i, o := range outs {
				cs[i] = o.(Collector[T])
			}
			return fanout[T](cs)
		},
		encoder: func(w EdgeWriter, rt *buildContext) any {
			return &encoder[T]{codec: CodecFor[T](), ts: &rt.chain.ts, w: w, fail: rt.fail, out: &rt.chain.recordsOut}
		},
		decoder: func(next any, rt *buildContext) func([]byte) bool {
			d := &decoder[T]{codec: CodecFor[T](), next: next.(Collector[T]), fail: rt.fail}
			return d.decode
		},
		format: func(b []byte) (string, error) {
			v, err := CodecFor[T]().Decode(b)
			if err != nil {
				return "", err
			}
			return fmt.Sprint(v), nil
		},
		builtinWindow: func(rt *buildContext, field string, next Collector[WindowAggregate]) (any, error) {
			return builtinWindow[T](rt, field, next)
		},
	}
}

// RegisterMap registers a map function under name.
func RegisterMap[In, Out any](name string, f MapFunction[In, Out]) {
	register(&entry{name: name, kind: weirv1.OperatorKind_OPERATOR_KIND_MAP, typ: reflect.TypeOf(f),
		in: opsFor[In](), out: opsFor[Out](),
		build: func(rt *buildContext, fn, next any) (any, error) {
			return &mapOp[In, Out]{f: fn.(MapFunction[In, Out]), next: next.(Collector[Out]), fail: rt.fail}, nil
		}})
}

// RegisterFlatMap registers a flat-map function under name.
func RegisterFlatMap[In, Out any](name string, f FlatMapFunction[In, Out]) {
	register(&entry{name: name, kind: weirv1.OperatorKind_OPERATOR_KIND_FLAT_MAP, typ: reflect.TypeOf(f),
		in: opsFor[In](), out: opsFor[Out](),
		build: func(rt *buildContext, fn, next any) (any, error) {
			return &flatMapOp[In, Out]{f: fn.(FlatMapFunction[In, Out]), next: next.(Collector[Out]), fail: rt.fail}, nil
		}})
}

// RegisterFilter registers a filter function under name.
func RegisterFilter[T any](name string, f FilterFunction[T]) {
	ops := opsFor[T]()
	register(&entry{name: name, kind: weirv1.OperatorKind_OPERATOR_KIND_FILTER, typ: reflect.TypeOf(f),
		in: ops, out: ops,
		build: func(rt *buildContext, fn, next any) (any, error) {
			return &filterOp[T]{f: fn.(FilterFunction[T]), next: next.(Collector[T]), fail: rt.fail}, nil
		}})
}

// RegisterKeySelector registers a key selector under name.
func RegisterKeySelector[T, K any](name string, f KeySelector[T, K]) {
	register(&entry{name: name, kind: keySelectorKind, typ: reflect.TypeOf(f),
		in: opsFor[T](), out: opsFor[K](),
		keyedEncoder: func(sel any, w EdgeWriter, rt *buildContext) any {
			return &keyedEncoder[T, K]{sel: sel.(KeySelector[T, K]), kc: CodecFor[K](), vc: CodecFor[T](), ts: &rt.chain.ts,
				w: w, fail: rt.fail, out: &rt.chain.recordsOut}
		},
		keyer: func(sel any, rt *buildContext) any {
			k := &keyer[T, K]{sel: sel.(KeySelector[T, K]), kc: CodecFor[K](), b: rt.backend, maxP: rt.info.MaxParallelism, in: &rt.chain.kg}
			return k.setKey
		}})
}

// RegisterReduce registers a reduce function under name.
func RegisterReduce[T any](name string, f ReduceFunction[T]) {
	ops := opsFor[T]()
	register(&entry{name: name, kind: weirv1.OperatorKind_OPERATOR_KIND_REDUCE, typ: reflect.TypeOf(f),
		in: ops, out: ops,
		build: func(rt *buildContext, fn, next any) (any, error) {
			return newReduceOp[T](rt, fn.(ReduceFunction[T]), next.(Collector[T]))
		},
		window: func(rt *buildContext, fn, next any) (any, error) {
			return windowReduce[T](rt, fn, next.(Collector[T]))
		}})
}

// RegisterProcess registers a keyed process function under name.
func RegisterProcess[K, In, Out any](name string, f KeyedProcessFunction[K, In, Out]) {
	register(&entry{name: name, kind: weirv1.OperatorKind_OPERATOR_KIND_PROCESS, typ: reflect.TypeOf(f),
		in: opsFor[In](), out: opsFor[Out](), key: opsFor[K](),
		build: func(rt *buildContext, fn, next any) (any, error) {
			return newProcessOp[K, In, Out](rt, fn.(KeyedProcessFunction[K, In, Out]), next.(Collector[Out]))
		}})
}

// RegisterSource registers a source under name.
func RegisterSource[T any](name string, s Source[T]) {
	register(&entry{name: name, kind: weirv1.OperatorKind_OPERATOR_KIND_SOURCE, typ: reflect.TypeOf(s),
		out: opsFor[T](),
		build: func(rt *buildContext, fn, next any) (any, error) {
			r, err := fn.(Source[T]).CreateReader(&SourceContext{TaskInfo: rt.info})
			if err != nil {
				return nil, err
			}
			rt.chain.closers = append(rt.chain.closers, r.Close)
			rt.addStateful(r)
			return &sourceRunner[T]{r: r, out: &sourceOutput[T]{next: next.(Collector[T]), ts: &rt.chain.ts, split: &rt.chain.split}}, nil
		}})
}

// RegisterSink registers a sink under name.
func RegisterSink[T any](name string, s Sink[T]) {
	register(&entry{name: name, kind: weirv1.OperatorKind_OPERATOR_KIND_SINK, typ: reflect.TypeOf(s),
		in: opsFor[T](),
		build: func(rt *buildContext, fn, _ any) (any, error) {
			w, err := fn.(Sink[T]).CreateWriter(&SinkContext{TaskInfo: rt.info})
			if err != nil {
				return nil, err
			}
			rt.chain.finishers = append(rt.chain.finishers, w.Finish)
			if f, ok := w.(Flusher); ok {
				rt.chain.flushers = append(rt.chain.flushers, f.Flush)
			}
			rt.chain.closers = append(rt.chain.closers, w.Close)
			rt.addStateful(w)
			return &sinkOp[T]{w: w, fail: rt.fail, out: &rt.chain.recordsOut}, nil
		}})
}
