// Package plan turns a job graph into the vertices that run as tasks:
// operators joined by forward edges of equal parallelism are chained into
// one task, and every other edge becomes a network exchange. It is pure and
// shared by the jobmanager (to schedule) and the taskmanagers (to wire a
// deployed task), so both sides derive the same plan from the same graph.
package plan

import (
	"fmt"

	weirv1 "github.com/weirstream/weir/api/proto/weir/v1"
)

// Vertex is a chain of operators that runs as one task per subtask.
type Vertex struct {
	// ID is the operator id of the chain's head.
	ID          int32
	Name        string
	Ops         []int32 // operator ids, head first
	Parallelism int
	Inputs      []Edge // network edges into the head
	Outputs     []Edge // network edges out of any operator of the chain
}

// Edge is a network exchange between two operators in different vertices.
type Edge struct {
	From, To             int32 // operator ids
	FromVertex, ToVertex int32
	Partitioning         weirv1.Partitioning
	Key                  *weirv1.Function
	// SideOutput names the side output of From that the edge carries;
	// empty for its main output.
	SideOutput string
}

// Plan is the execution plan of a job graph.
type Plan struct {
	Vertices []*Vertex // in topological order
	vertexOf map[int32]*Vertex
}

// Vertex returns the vertex with head operator id, or nil.
func (p *Plan) Vertex(id int32) *Vertex {
	v := p.vertexOf[id]
	if v == nil || v.ID != id {
		return nil
	}
	return v
}

// VertexOf returns the vertex that runs operator op.
func (p *Plan) VertexOf(op int32) *Vertex { return p.vertexOf[op] }

// MaxParallelism returns the highest vertex parallelism: the number of slots
// the job needs with slot sharing.
func (p *Plan) MaxParallelism() int {
	m := 0
	for _, v := range p.Vertices {
		m = max(m, v.Parallelism)
	}
	return m
}

// Build plans g. g must already be valid (stream.ValidateGraph); Build only
// checks what it relies on.
func Build(g *weirv1.JobGraph) (*Plan, error) {
	ops := g.GetOperators()
	consumers := make(map[int32][]int32)
	for i, op := range ops {
		if op.GetId() != int32(i) {
			return nil, fmt.Errorf("operators[%d]: id is %d, want %d", i, op.GetId(), i)
		}
		for _, in := range op.GetInputs() {
			if in.GetOperatorId() < 0 || in.GetOperatorId() >= int32(i) {
				return nil, fmt.Errorf("operators[%d]: input %d is not an earlier operator", i, in.GetOperatorId())
			}
			consumers[in.GetOperatorId()] = append(consumers[in.GetOperatorId()], op.GetId())
		}
	}
	p := &Plan{vertexOf: map[int32]*Vertex{}}
	for _, op := range ops {
		if up, ok := chainsTo(op, ops, consumers); ok {
			v := p.vertexOf[up]
			v.Ops = append(v.Ops, op.GetId())
			v.Name += " -> " + op.GetName()
			p.vertexOf[op.GetId()] = v
			continue
		}
		v := &Vertex{ID: op.GetId(), Name: op.GetName(), Ops: []int32{op.GetId()}, Parallelism: int(op.GetParallelism())}
		p.Vertices = append(p.Vertices, v)
		p.vertexOf[op.GetId()] = v
	}
	for _, op := range ops {
		to := p.vertexOf[op.GetId()]
		for _, in := range op.GetInputs() {
			from := p.vertexOf[in.GetOperatorId()]
			if from == to {
				continue
			}
			e := Edge{From: in.GetOperatorId(), To: op.GetId(), FromVertex: from.ID, ToVertex: to.ID,
				Partitioning: in.GetPartitioning(), Key: in.GetKey(), SideOutput: in.GetSideOutput()}
			to.Inputs = append(to.Inputs, e)
			from.Outputs = append(from.Outputs, e)
		}
	}
	return p, nil
}

// chainsTo reports whether op joins the chain of its single input: a forward
// edge of the main output, equal parallelism, and op the input's only
// consumer.
func chainsTo(op *weirv1.Operator, ops []*weirv1.Operator, consumers map[int32][]int32) (int32, bool) {
	if len(op.GetInputs()) != 1 {
		return 0, false
	}
	in := op.GetInputs()[0]
	up := ops[in.GetOperatorId()]
	return up.GetId(), in.GetPartitioning() == weirv1.Partitioning_PARTITIONING_FORWARD && in.GetSideOutput() == "" &&
		up.GetParallelism() == op.GetParallelism() &&
		len(consumers[up.GetId()]) == 1
}
