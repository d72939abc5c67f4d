package plan_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	weirv1 "github.com/weirstream/weir/api/proto/weir/v1"
	"github.com/weirstream/weir/internal/plan"
)

// Plan only reads ids, names, parallelism and inputs: functions need not be
// registered, so graphs are written as literals.

const (
	forward   = weirv1.Partitioning_PARTITIONING_FORWARD
	keyGroup  = weirv1.Partitioning_PARTITIONING_KEY_GROUP
	rebalance = weirv1.Partitioning_PARTITIONING_REBALANCE
)

func op(id int32, name string, p int32, inputs ...*weirv1.Input) *weirv1.Operator {
	return &weirv1.Operator{Id: id, Name: name, Parallelism: p, Inputs: inputs, Function: &weirv1.Function{Name: "fn." + name}}
}

func in(from int32, p weirv1.Partitioning) *weirv1.Input {
	i := &weirv1.Input{OperatorId: from, Partitioning: p}
	if p == keyGroup {
		i.Key = &weirv1.Function{Name: "key.word", Params: []byte(`{"Field":1}`)}
	}
	return i
}

func graph(ops ...*weirv1.Operator) *weirv1.JobGraph {
	return &weirv1.JobGraph{Name: "test", MaxParallelism: 128, Operators: ops}
}

func build(t *testing.T, g *weirv1.JobGraph) *plan.Plan {
	t.Helper()
	p, err := plan.Build(g)
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	checkConsistent(t, p)
	return p
}

// describe renders a plan compactly: one line per vertex, then its edges.
func describe(p *plan.Plan) string {
	var b strings.Builder
	for _, v := range p.Vertices {
		fmt.Fprintf(&b, "vertex %d %q p=%d ops=%v\n", v.ID, v.Name, v.Parallelism, v.Ops)
		for _, e := range v.Inputs {
			fmt.Fprintf(&b, "  in  %s\n", edge(e))
		}
		for _, e := range v.Outputs {
			fmt.Fprintf(&b, "  out %s\n", edge(e))
		}
	}
	return b.String()
}

func edge(e plan.Edge) string {
	s := fmt.Sprintf("op %d (vertex %d) -> op %d (vertex %d) %s", e.From, e.FromVertex, e.To, e.ToVertex,
		strings.TrimPrefix(e.Partitioning.String(), "PARTITIONING_"))
	if e.Key != nil {
		s += " key " + e.Key.GetName()
	}
	return s
}

// checkConsistent checks what every plan must satisfy: every operator in
// exactly one vertex, heads first in their vertex, vertices in topological
// order, and every edge listed on both of its vertices.
func checkConsistent(t *testing.T, p *plan.Plan) {
	t.Helper()
	pos := map[int32]int{}
	seen := map[int32]bool{}
	for i, v := range p.Vertices {
		pos[v.ID] = i
		if len(v.Ops) == 0 || v.Ops[0] != v.ID {
			t.Errorf("vertex %d: ops %v do not start with its head", v.ID, v.Ops)
		}
		if p.Vertex(v.ID) != v {
			t.Errorf("Vertex(%d) is not the vertex with that head", v.ID)
		}
		for _, o := range v.Ops {
			if seen[o] {
				t.Errorf("operator %d is in two vertices", o)
			}
			seen[o] = true
			if p.VertexOf(o) != v {
				t.Errorf("VertexOf(%d) is not vertex %d", o, v.ID)
			}
		}
	}
	for _, v := range p.Vertices {
		for _, e := range v.Inputs {
			if e.ToVertex != v.ID || !slices.Contains(v.Ops, e.To) {
				t.Errorf("vertex %d has input %s, which does not end in it", v.ID, edge(e))
			}
			from := p.Vertex(e.FromVertex)
			if from == nil || !slices.Contains(from.Ops, e.From) {
				t.Errorf("input %s does not start in vertex %d", edge(e), e.FromVertex)
				continue
			}
			if pos[e.FromVertex] >= pos[v.ID] {
				t.Errorf("edge %s goes backwards in the vertex order", edge(e))
			}
			if !slices.ContainsFunc(from.Outputs, func(o plan.Edge) bool { return o == e }) {
				t.Errorf("input %s is not an output of vertex %d", edge(e), from.ID)
			}
		}
		for _, e := range v.Outputs {
			if e.FromVertex != v.ID {
				t.Errorf("vertex %d has output %s, which does not start in it", v.ID, edge(e))
			}
			to := p.Vertex(e.ToVertex)
			if to == nil || !slices.ContainsFunc(to.Inputs, func(i plan.Edge) bool { return i == e }) {
				t.Errorf("output %s is not an input of vertex %d", edge(e), e.ToVertex)
			}
		}
	}
}

func TestChaining(t *testing.T) {
	for _, tc := range []struct {
		name string
		g    *weirv1.JobGraph
		want string
	}{{
		name: "forward with equal parallelism chains",
		g:    graph(op(0, "src", 2), op(1, "map", 2, in(0, forward)), op(2, "sink", 2, in(1, forward))),
		want: `vertex 0 "src -> map -> sink" p=2 ops=[0 1 2]
`,
	}, {
		name: "key group does not chain",
		g:    graph(op(0, "src", 2), op(1, "sink", 2, in(0, keyGroup))),
		want: `vertex 0 "src" p=2 ops=[0]
  out op 0 (vertex 0) -> op 1 (vertex 1) KEY_GROUP key key.word
vertex 1 "sink" p=2 ops=[1]
  in  op 0 (vertex 0) -> op 1 (vertex 1) KEY_GROUP key key.word
`,
	}, {
		name: "rebalance does not chain",
		g:    graph(op(0, "src", 3), op(1, "sink", 3, in(0, rebalance))),
		want: `vertex 0 "src" p=3 ops=[0]
  out op 0 (vertex 0) -> op 1 (vertex 1) REBALANCE
vertex 1 "sink" p=3 ops=[1]
  in  op 0 (vertex 0) -> op 1 (vertex 1) REBALANCE
`,
	}, {
		name: "forward with different parallelism does not chain",
		g:    graph(op(0, "src", 1), op(1, "map", 1, in(0, forward)), op(2, "sink", 4, in(1, forward))),
		want: `vertex 0 "src -> map" p=1 ops=[0 1]
  out op 1 (vertex 0) -> op 2 (vertex 2) FORWARD
vertex 2 "sink" p=4 ops=[2]
  in  op 1 (vertex 0) -> op 2 (vertex 2) FORWARD
`,
	}, {
		name: "fan-out does not chain",
		g:    graph(op(0, "src", 2), op(1, "a", 2, in(0, forward)), op(2, "b", 2, in(0, forward))),
		want: `vertex 0 "src" p=2 ops=[0]
  out op 0 (vertex 0) -> op 1 (vertex 1) FORWARD
  out op 0 (vertex 0) -> op 2 (vertex 2) FORWARD
vertex 1 "a" p=2 ops=[1]
  in  op 0 (vertex 0) -> op 1 (vertex 1) FORWARD
vertex 2 "b" p=2 ops=[2]
  in  op 0 (vertex 0) -> op 2 (vertex 2) FORWARD
`,
	}, {
		name: "fan-out from the middle of a chain",
		g: graph(op(0, "src", 2), op(1, "map", 2, in(0, forward)),
			op(2, "a", 2, in(1, forward)), op(3, "b", 2, in(1, keyGroup))),
		want: `vertex 0 "src -> map" p=2 ops=[0 1]
  out op 1 (vertex 0) -> op 2 (vertex 2) FORWARD
  out op 1 (vertex 0) -> op 3 (vertex 3) KEY_GROUP key key.word
vertex 2 "a" p=2 ops=[2]
  in  op 1 (vertex 0) -> op 2 (vertex 2) FORWARD
vertex 3 "b" p=2 ops=[3]
  in  op 1 (vertex 0) -> op 3 (vertex 3) KEY_GROUP key key.word
`,
	}, {
		name: "two inputs do not chain",
		g: graph(op(0, "left", 2), op(1, "right", 2),
			op(2, "join", 2, in(0, forward), in(1, forward))),
		want: `vertex 0 "left" p=2 ops=[0]
  out op 0 (vertex 0) -> op 2 (vertex 2) FORWARD
vertex 1 "right" p=2 ops=[1]
  out op 1 (vertex 1) -> op 2 (vertex 2) FORWARD
vertex 2 "join" p=2 ops=[2]
  in  op 0 (vertex 0) -> op 2 (vertex 2) FORWARD
  in  op 1 (vertex 1) -> op 2 (vertex 2) FORWARD
`,
	}, {
		name: "wordcount",
		g: graph(op(0, "lines", 2), op(1, "Tokenizer", 2, in(0, forward)),
			op(2, "Sum", 2, in(1, keyGroup)), op(3, "Format", 2, in(2, forward)), op(4, "files", 2, in(3, forward))),
		want: `vertex 0 "lines -> Tokenizer" p=2 ops=[0 1]
  out op 1 (vertex 0) -> op 2 (vertex 2) KEY_GROUP key key.word
vertex 2 "Sum -> Format -> files" p=2 ops=[2 3 4]
  in  op 1 (vertex 0) -> op 2 (vertex 2) KEY_GROUP key key.word
`,
	}, {
		name: "a chain resumes after a network edge",
		g: graph(op(0, "src", 1), op(1, "m1", 3, in(0, rebalance)), op(2, "m2", 3, in(1, forward)),
			op(3, "m3", 2, in(2, forward)), op(4, "sink", 2, in(3, forward))),
		want: `vertex 0 "src" p=1 ops=[0]
  out op 0 (vertex 0) -> op 1 (vertex 1) REBALANCE
vertex 1 "m1 -> m2" p=3 ops=[1 2]
  in  op 0 (vertex 0) -> op 1 (vertex 1) REBALANCE
  out op 2 (vertex 1) -> op 3 (vertex 3) FORWARD
vertex 3 "m3 -> sink" p=2 ops=[3 4]
  in  op 2 (vertex 1) -> op 3 (vertex 3) FORWARD
`,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			p := build(t, tc.g)
			if got := describe(p); got != tc.want {
				t.Errorf("plan:\n%s\nwant:\n%s", got, tc.want)
			}
		})
	}
}

func TestEdgeCarriesKeySelector(t *testing.T) {
	g := graph(op(0, "src", 2), op(1, "sink", 2, in(0, keyGroup)))
	p := build(t, g)
	e := p.Vertices[1].Inputs[0]
	if e.Key != g.GetOperators()[1].GetInputs()[0].GetKey() {
		t.Error("the edge does not carry the input's key selector")
	}
	if string(e.Key.GetParams()) != `{"Field":1}` {
		t.Errorf("key params = %s", e.Key.GetParams())
	}
}

func TestVertexLookup(t *testing.T) {
	p := build(t, graph(op(0, "src", 2), op(1, "map", 2, in(0, forward)), op(2, "sink", 3, in(1, rebalance))))
	if v := p.Vertex(1); v != nil {
		t.Errorf("Vertex(1) = %q; operator 1 is chained, not a head", v.Name)
	}
	if v := p.VertexOf(1); v == nil || v.ID != 0 {
		t.Errorf("VertexOf(1) = %+v, want vertex 0", v)
	}
	if v := p.Vertex(2); v == nil || v.Name != "sink" {
		t.Errorf("Vertex(2) = %+v, want the sink", v)
	}
	for _, id := range []int32{-1, 3, 99} {
		if p.Vertex(id) != nil || p.VertexOf(id) != nil {
			t.Errorf("operator %d does not exist but has a vertex", id)
		}
	}
}

func TestMaxParallelism(t *testing.T) {
	for _, tc := range []struct {
		g    *weirv1.JobGraph
		want int
	}{
		{graph(op(0, "src", 1), op(1, "a", 3, in(0, rebalance)), op(2, "b", 2, in(1, rebalance))), 3},
		{graph(op(0, "src", 4), op(1, "sink", 4, in(0, forward))), 4},
		{graph(op(0, "src", 5), op(1, "sink", 1, in(0, rebalance))), 5},
		{graph(), 0},
	} {
		p := build(t, tc.g)
		if got := p.MaxParallelism(); got != tc.want {
			t.Errorf("%s: MaxParallelism = %d, want %d", describe(p), got, tc.want)
		}
	}
}

// Vertices are listed in operator order of their heads, which is
// topological because inputs always name earlier operators.
func TestVertexOrder(t *testing.T) {
	p := build(t, graph(
		op(0, "a", 1), op(1, "b", 2),
		op(2, "a2", 1, in(0, forward)), // chains into a
		op(3, "c", 2, in(1, keyGroup)),
		op(4, "d", 1, in(2, rebalance)),
		op(5, "e", 2, in(3, forward)), // chains into c
	))
	var ids []int32
	for _, v := range p.Vertices {
		ids = append(ids, v.ID)
	}
	if want := []int32{0, 1, 3, 4}; !slices.Equal(ids, want) {
		t.Errorf("vertex order %v, want %v", ids, want)
	}
}

func TestBuildErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		g    *weirv1.JobGraph
		want string
	}{
		{"ids out of order", graph(op(0, "a", 1), op(2, "b", 1), op(1, "c", 1)), "operators[1]: id is 2, want 1"},
		{"first id not zero", graph(op(1, "a", 1)), "operators[0]: id is 1, want 0"},
		{"input from a later operator", graph(op(0, "a", 1), op(1, "b", 1, in(2, forward)), op(2, "c", 1)),
			"operators[1]: input 2 is not an earlier operator"},
		{"input from itself", graph(op(0, "a", 1), op(1, "b", 1, in(1, forward))),
			"operators[1]: input 1 is not an earlier operator"},
		{"negative input", graph(op(0, "a", 1), op(1, "b", 1, in(-1, rebalance))),
			"operators[1]: input -1 is not an earlier operator"},
		{"input past the end", graph(op(0, "a", 1, in(7, forward))),
			"operators[0]: input 7 is not an earlier operator"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := plan.Build(tc.g)
			if err == nil {
				t.Fatalf("Build succeeded:\n%s", describe(p))
			}
			if err.Error() != tc.want {
				t.Errorf("error %q, want %q", err, tc.want)
			}
		})
	}
}

// Each side of a deployment plans the same graph independently: the plans
// must agree.
func TestBuildIsDeterministic(t *testing.T) {
	g := graph(op(0, "src", 2), op(1, "map", 2, in(0, forward)),
		op(2, "a", 2, in(1, forward)), op(3, "b", 3, in(1, keyGroup)), op(4, "c", 3, in(3, forward)))
	want := describe(build(t, g))
	for range 20 {
		if got := describe(build(t, g)); got != want {
			t.Fatalf("plans differ:\n%s\nvs\n%s", got, want)
		}
	}
}
