package stream

import (
	"errors"
	"fmt"
	"reflect"
	"strings"

	weirv1 "github.com/weirstream/weir/api/proto/weir/v1"
	"github.com/weirstream/weir/internal/keygroup"
)

// Env builds a job graph from typed Go code. Errors made while building (an
// unregistered function, a bad parallelism) are kept and returned by Graph,
// so a program can be written as one straight sequence of calls.
type Env struct {
	graph       *weirv1.JobGraph
	parallelism int
	err         error
}

// NewEnv returns an empty environment with parallelism 1 and the default
// max parallelism.
func NewEnv() *Env {
	return &Env{
		graph:       &weirv1.JobGraph{MaxParallelism: keygroup.DefaultMaxParallelism, Config: map[string]string{}},
		parallelism: 1,
	}
}

// SetJobName names the job.
func (e *Env) SetJobName(name string) { e.graph.Name = name }

// SetParallelism sets the parallelism of operators created afterwards.
func (e *Env) SetParallelism(p int) { e.parallelism = p }

// Parallelism returns the default parallelism.
func (e *Env) Parallelism() int { return e.parallelism }

// SetMaxParallelism sets the number of key groups.
func (e *Env) SetMaxParallelism(m int) { e.graph.MaxParallelism = int32(m) }

// SetConfig sets a per-job configuration key.
func (e *Env) SetConfig(key, value string) { e.graph.Config[key] = value }

// Fail records an error, returned later by Graph. Programs use it for bad
// arguments.
func (e *Env) Fail(err error) {
	if e.err == nil {
		e.err = err
	}
}

// Graph returns the job graph built so far, validated.
func (e *Env) Graph() (*weirv1.JobGraph, error) {
	if e.err != nil {
		return nil, e.err
	}
	if e.graph.Name == "" {
		e.graph.Name = "job"
	}
	if err := ValidateGraph(e.graph); err != nil {
		return nil, err
	}
	return e.graph, nil
}

func (e *Env) add(kind weirv1.OperatorKind, name string, fn any, inputs ...*weirv1.Input) *weirv1.Operator {
	op := &weirv1.Operator{Id: int32(len(e.graph.Operators)), Kind: kind, Name: name,
		Parallelism: int32(e.parallelism), Inputs: inputs, Function: e.function(fn)}
	if op.Name == "" {
		op.Name = defaultName(kind, fn)
	}
	op.Uid = fmt.Sprintf("%s-%d", strings.ToLower(strings.ReplaceAll(op.Name, " ", "-")), op.Id)
	e.graph.Operators = append(e.graph.Operators, op)
	return op
}

func (e *Env) function(fn any) *weirv1.Function {
	en, err := lookupValue(fn)
	if err != nil {
		e.Fail(err)
		return &weirv1.Function{}
	}
	params, err := encodeParams(fn)
	if err != nil {
		e.Fail(err)
	}
	return &weirv1.Function{Name: en.name, Params: params}
}

func defaultName(kind weirv1.OperatorKind, fn any) string {
	t := reflect.TypeOf(fn)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Name() != "" {
		return t.Name()
	}
	return strings.TrimPrefix(kind.String(), "OPERATOR_KIND_")
}

// DataStream is a stream of records of type T.
type DataStream[T any] struct {
	env       *Env
	op        *weirv1.Operator
	rebalance bool   // the next operator reads this stream round-robin
	side      string // the side output of op this stream is, "" for its main output
}

// KeyedStream is a stream partitioned by a key of type K: every record with
// the same key reaches the same subtask, whose keyed state it can use.
type KeyedStream[K, T any] struct {
	env *Env
	in  *weirv1.Input
}

// SetParallelism sets this operator's parallelism.
func (s DataStream[T]) SetParallelism(p int) DataStream[T] {
	s.op.Parallelism = int32(p)
	return s
}

// Name names this operator.
func (s DataStream[T]) Name(name string) DataStream[T] {
	s.op.Name = name
	return s
}

// UID sets this operator's stable identity, under which its state is saved.
func (s DataStream[T]) UID(uid string) DataStream[T] {
	s.op.Uid = uid
	return s
}

func (s DataStream[T]) forward() *weirv1.Input {
	p := weirv1.Partitioning_PARTITIONING_FORWARD
	if s.rebalance {
		p = weirv1.Partitioning_PARTITIONING_REBALANCE
	}
	return &weirv1.Input{OperatorId: s.op.Id, Partitioning: p, SideOutput: s.side}
}

// FromSource adds a source.
func FromSource[T any](e *Env, src Source[T], name string) DataStream[T] {
	return DataStream[T]{env: e, op: e.add(weirv1.OperatorKind_OPERATOR_KIND_SOURCE, name, src)}
}

// Map applies f to each record.
func Map[Out, In any](s DataStream[In], f MapFunction[In, Out]) DataStream[Out] {
	return DataStream[Out]{env: s.env, op: s.env.add(weirv1.OperatorKind_OPERATOR_KIND_MAP, "", f, s.forward())}
}

// FlatMap applies f to each record.
func FlatMap[Out, In any](s DataStream[In], f FlatMapFunction[In, Out]) DataStream[Out] {
	return DataStream[Out]{env: s.env, op: s.env.add(weirv1.OperatorKind_OPERATOR_KIND_FLAT_MAP, "", f, s.forward())}
}

// Filter keeps the records f accepts.
func (s DataStream[T]) Filter(f FilterFunction[T]) DataStream[T] {
	return DataStream[T]{env: s.env, op: s.env.add(weirv1.OperatorKind_OPERATOR_KIND_FILTER, "", f, s.forward())}
}

// Rebalance distributes records round-robin to the next operator's subtasks.
func (s DataStream[T]) Rebalance() DataStream[T] {
	s.rebalance = true
	return s
}

// KeyBy partitions the stream by the key sel extracts.
func KeyBy[K, T any](s DataStream[T], sel KeySelector[T, K]) KeyedStream[K, T] {
	return KeyedStream[K, T]{env: s.env, in: &weirv1.Input{OperatorId: s.op.Id,
		Partitioning: weirv1.Partitioning_PARTITIONING_KEY_GROUP, Key: s.env.function(sel), SideOutput: s.side}}
}

// Reduce keeps a running reduction per key and emits the updated value for
// each record.
func (ks KeyedStream[K, T]) Reduce(f ReduceFunction[T]) DataStream[T] {
	return DataStream[T]{env: ks.env, op: ks.env.add(weirv1.OperatorKind_OPERATOR_KIND_REDUCE, "", f, ks.in)}
}

// Process applies a keyed process function.
func Process[Out, K, In any](ks KeyedStream[K, In], f KeyedProcessFunction[K, In, Out]) DataStream[Out] {
	return DataStream[Out]{env: ks.env, op: ks.env.add(weirv1.OperatorKind_OPERATOR_KIND_PROCESS, "", f, ks.in)}
}

// SinkTo writes the stream to sink.
func (s DataStream[T]) SinkTo(sink Sink[T], name string) {
	s.env.add(weirv1.OperatorKind_OPERATOR_KIND_SINK, name, sink, s.forward())
}

// ValidateGraph checks a job graph as the jobmanager does at submission:
// every function registered and its parameters valid, types matching along
// every edge, parallelism within bounds. The error names the field.
func ValidateGraph(g *weirv1.JobGraph) error {
	maxP := int(g.GetMaxParallelism())
	if maxP < 1 || maxP > keygroup.UpperBound {
		return fmt.Errorf("max_parallelism: %d is outside 1..%d", maxP, keygroup.UpperBound)
	}
	ops := g.GetOperators()
	if len(ops) == 0 {
		return errors.New("operators: a job needs at least one operator")
	}
	entries := make([]*entry, len(ops))
	hasSink := false
	uids := map[string]int{}
	for i, op := range ops {
		field := fmt.Sprintf("operators[%d] (%q)", i, op.GetName())
		if op.GetId() != int32(i) {
			return fmt.Errorf("%s.id: %d, want %d (its index)", field, op.GetId(), i)
		}
		if j, dup := uids[op.GetUid()]; dup && op.GetUid() != "" {
			return fmt.Errorf("%s.uid: %q is also the uid of operators[%d]", field, op.GetUid(), j)
		}
		uids[op.GetUid()] = i
		if p := int(op.GetParallelism()); p < 1 || p > maxP {
			return fmt.Errorf("%s.parallelism: %d is outside 1..%d (the max parallelism)", field, p, maxP)
		}
		e, _, err := lookupFunction(op.GetFunction())
		if err != nil {
			return fmt.Errorf("%s.function: %w", field, err)
		}
		windowReduce := op.GetKind() == weirv1.OperatorKind_OPERATOR_KIND_WINDOW && e.window != nil
		if e.kind != op.GetKind() && !windowReduce {
			return fmt.Errorf("%s.kind: function %q is a %s, not a %s", field, e.name, kindName(e.kind), kindName(op.GetKind()))
		}
		if op.GetKind() == weirv1.OperatorKind_OPERATOR_KIND_WINDOW {
			if err := ValidateWindowSpec(op.GetWindow()); err != nil {
				return fmt.Errorf("%s.%w", field, err)
			}
		}
		if op.GetKind() == weirv1.OperatorKind_OPERATOR_KIND_TIMESTAMPS {
			if w := op.GetWatermarks(); w.GetOutOfOrdernessMillis() < 0 || w.GetIdlenessMillis() < 0 {
				return fmt.Errorf("%s.watermarks: out_of_orderness_millis and idleness_millis must not be negative", field)
			}
		}
		entries[i] = e
		hasSink = hasSink || e.kind == weirv1.OperatorKind_OPERATOR_KIND_SINK
		ins := op.GetInputs()
		switch {
		case e.kind == weirv1.OperatorKind_OPERATOR_KIND_SOURCE && len(ins) != 0:
			return fmt.Errorf("%s.inputs: a source has no inputs", field)
		case e.kind != weirv1.OperatorKind_OPERATOR_KIND_SOURCE && len(ins) != 1:
			return fmt.Errorf("%s.inputs: needs exactly one input, has %d", field, len(ins))
		}
		for j, in := range ins {
			f := fmt.Sprintf("%s.inputs[%d]", field, j)
			from := in.GetOperatorId()
			if from < 0 || int(from) >= i {
				return fmt.Errorf("%s.operator_id: %d is not an earlier operator", f, from)
			}
			up := entries[from]
			if up.out == nil {
				return fmt.Errorf("%s.operator_id: operators[%d] is a sink and has no output", f, from)
			}
			upType := up.out.typ
			if side := in.GetSideOutput(); side != "" {
				if side != LateSideOutput || !ops[from].GetWindow().GetLateSideOutput() {
					return fmt.Errorf("%s.side_output: operators[%d] has no side output %q (only window operators with late_side_output have %q)", f, from, side, LateSideOutput)
				}
				if ops := inputOps(g, from, side); ops != nil {
					upType = ops.typ
				}
			}
			if !e.anyInput && upType != e.in.typ {
				return fmt.Errorf("%s: operators[%d] emits %v but %q takes %v", f, from, upType, e.name, e.in.typ)
			}
			switch in.GetPartitioning() {
			case weirv1.Partitioning_PARTITIONING_FORWARD:
				if ops[from].GetParallelism() != op.GetParallelism() {
					in.Partitioning = weirv1.Partitioning_PARTITIONING_REBALANCE
				}
			case weirv1.Partitioning_PARTITIONING_REBALANCE:
			case weirv1.Partitioning_PARTITIONING_KEY_GROUP:
				ke, _, err := lookupFunction(in.GetKey())
				if err != nil {
					return fmt.Errorf("%s.key: %w", f, err)
				}
				if ke.kind != keySelectorKind {
					return fmt.Errorf("%s.key: %q is not a key selector", f, ke.name)
				}
				if ke.in.typ != upType {
					return fmt.Errorf("%s.key: key selector %q takes %v, but the stream carries %v", f, ke.name, ke.in.typ, upType)
				}
				if e.key != nil && e.key.typ != ke.out.typ {
					return fmt.Errorf("%s.key: key selector %q gives %v keys but %q expects %v", f, ke.name, ke.out.typ, e.name, e.key.typ)
				}
			default:
				return fmt.Errorf("%s.partitioning: %v is not a partitioning", f, in.GetPartitioning())
			}
			keyed := e.kind == weirv1.OperatorKind_OPERATOR_KIND_REDUCE || e.kind == weirv1.OperatorKind_OPERATOR_KIND_PROCESS ||
				e.kind == weirv1.OperatorKind_OPERATOR_KIND_WINDOW
			if keyed && in.GetPartitioning() != weirv1.Partitioning_PARTITIONING_KEY_GROUP {
				return fmt.Errorf("%s.partitioning: %q is keyed and needs a key-group partitioned input (KeyBy)", f, e.name)
			}
		}
	}
	if !hasSink {
		return errors.New("operators: a job needs at least one sink")
	}
	return nil
}

func kindName(k weirv1.OperatorKind) string {
	if k == keySelectorKind {
		return "key selector"
	}
	return strings.ToLower(strings.TrimPrefix(k.String(), "OPERATOR_KIND_"))
}
