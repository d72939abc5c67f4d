package stream

import (
	"errors"
	"strings"
	"testing"

	weirv1 "github.com/weirstream/weir/api/proto/weir/v1"
)

// Test functions, registered under names no other test uses.

type envSource struct {
	N int `json:"n"`
}

func (s envSource) Validate() error {
	if s.N < 0 {
		return errors.New("envSource: n must be >= 0")
	}
	return nil
}

func (envSource) CreateReader(*SourceContext) (SourceReader[string], error) {
	return nil, errors.New("not for running")
}

type envUpper struct{}

func (envUpper) Map(s string) (string, error) { return strings.ToUpper(s), nil }

type envLen struct{}

func (envLen) Map(s string) (int64, error) { return int64(len(s)), nil }

type envKey struct{}

func (envKey) Key(s string) string { return s }

type envConcat struct{}

func (envConcat) Reduce(a, b string) (string, error) { return a + b, nil }

type envSink struct{}

func (envSink) CreateWriter(*SinkContext) (SinkWriter[string], error) {
	return nil, errors.New("not for running")
}

type envUnregistered struct{}

func (envUnregistered) Map(s string) (string, error) { return s, nil }

func init() {
	RegisterSource[string]("env-test.source", envSource{})
	RegisterMap[string, string]("env-test.upper", envUpper{})
	RegisterMap[string, int64]("env-test.len", envLen{})
	RegisterKeySelector[string, string]("env-test.key", envKey{})
	RegisterReduce[string]("env-test.concat", envConcat{})
	RegisterSink[string]("env-test.sink", envSink{})
}

func validGraph(t *testing.T) *weirv1.JobGraph {
	t.Helper()
	env := NewEnv()
	env.SetParallelism(2)
	src := FromSource[string](env, envSource{N: 3}, "src")
	up := Map[string](src, envUpper{})
	KeyBy[string](up, envKey{}).Reduce(envConcat{}).SinkTo(envSink{}, "sink")
	g, err := env.Graph()
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func TestGraphFromTypedAPI(t *testing.T) {
	g := validGraph(t)
	if got := len(g.GetOperators()); got != 4 {
		t.Fatalf("%d operators, want 4", got)
	}
	red := g.GetOperators()[2]
	in := red.GetInputs()[0]
	if in.GetPartitioning() != weirv1.Partitioning_PARTITIONING_KEY_GROUP || in.GetKey().GetName() != "env-test.key" {
		t.Fatalf("reduce input = %v, want key-group by env-test.key", in)
	}
	if string(g.GetOperators()[0].GetFunction().GetParams()) != `{"n":3}` {
		t.Fatalf("source params = %s", g.GetOperators()[0].GetFunction().GetParams())
	}
}

func TestGraphBuildErrors(t *testing.T) {
	env := NewEnv()
	src := FromSource[string](env, envSource{}, "src")
	Map[string](src, envUnregistered{}).SinkTo(envSink{}, "sink")
	if _, err := env.Graph(); err == nil || !strings.Contains(err.Error(), "envUnregistered is not registered") {
		t.Fatalf("unregistered function: %v", err)
	}
}

// Each invalid graph is rejected with an error naming the field.
func TestValidateGraph(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(g *weirv1.JobGraph)
		want   string
	}{
		{"max parallelism", func(g *weirv1.JobGraph) { g.MaxParallelism = 0 }, "max_parallelism: 0 is outside 1..32768"},
		{"parallelism zero", func(g *weirv1.JobGraph) { g.Operators[1].Parallelism = 0 }, `operators[1] ("envUpper").parallelism: 0 is outside 1..128`},
		{"parallelism above max", func(g *weirv1.JobGraph) { g.Operators[2].Parallelism = 129 }, `operators[2] ("envConcat").parallelism: 129 is outside 1..128`},
		{"unknown function", func(g *weirv1.JobGraph) { g.Operators[1].Function.Name = "nope" }, `operators[1] ("envUpper").function: unknown function "nope"`},
		{"bad params", func(g *weirv1.JobGraph) { g.Operators[0].Function.Params = []byte(`{"n":-1}`) }, `operators[0] ("src").function: envSource: n must be >= 0`},
		{"unknown param", func(g *weirv1.JobGraph) { g.Operators[0].Function.Params = []byte(`{"m":1}`) }, `unknown field "m"`},
		{"kind mismatch", func(g *weirv1.JobGraph) { g.Operators[1].Kind = weirv1.OperatorKind_OPERATOR_KIND_FILTER }, "is a map, not a filter"},
		{"type mismatch", func(g *weirv1.JobGraph) { g.Operators[1].Function.Name = "env-test.len" }, "emits int64 but"},
		{"keyed without key-by", func(g *weirv1.JobGraph) {
			g.Operators[2].Inputs[0] = &weirv1.Input{OperatorId: 1, Partitioning: weirv1.Partitioning_PARTITIONING_FORWARD}
		}, "needs a key-group partitioned input (KeyBy)"},
		{"later input", func(g *weirv1.JobGraph) { g.Operators[1].Inputs[0].OperatorId = 3 }, "operator_id: 3 is not an earlier operator"},
		{"no sink", func(g *weirv1.JobGraph) { g.Operators = g.Operators[:3] }, "a job needs at least one sink"},
		{"duplicate uid", func(g *weirv1.JobGraph) { g.Operators[1].Uid = g.Operators[0].Uid }, "is also the uid of operators[0]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := validGraph(t)
			tc.mutate(g)
			err := ValidateGraph(g)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("ValidateGraph = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestProgramErrors(t *testing.T) {
	if _, err := BuildProgram("env-test-no-such-program", nil, 1); err == nil || !strings.Contains(err.Error(), `unknown job "env-test-no-such-program"`) {
		t.Fatalf("unknown program: %v", err)
	}
	RegisterProgram(Program{Name: "env-test-program", Build: func(env *Env, args []string) error {
		if len(args) == 0 {
			return errors.New("--input is required")
		}
		return nil
	}})
	if _, err := BuildProgram("env-test-program", nil, 1); err == nil || err.Error() != "env-test-program: --input is required" {
		t.Fatalf("program argument error: %v", err)
	}
}

func TestCodecs(t *testing.T) {
	roundTrip(t, CodecFor[string](), "héllo")
	roundTrip(t, CodecFor[int64](), -1<<40)
	roundTrip(t, CodecFor[int](), 42)
	roundTrip(t, CodecFor[uint64](), 1<<63)
	roundTrip(t, CodecFor[float64](), 3.25)
	roundTrip(t, CodecFor[bool](), true)
	type point struct{ X, Y int }
	roundTrip(t, CodecFor[point](), point{1, 2})
	if _, err := CodecFor[int64]().Decode(nil); !errors.Is(err, ErrShortBuffer) {
		t.Fatalf("decoding an empty int64: %v", err)
	}
}

func roundTrip[T comparable](t *testing.T, c Codec[T], v T) {
	t.Helper()
	got, err := c.Decode(c.Append([]byte("prefix")[6:], v))
	if err != nil || got != v {
		t.Fatalf("%T round trip of %v = %v, %v", c, v, got, err)
	}
}
