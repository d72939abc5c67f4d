package jobspec

import (
	"errors"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	weirv1 "github.com/weirstream/weir/api/proto/weir/v1"
	"github.com/weirstream/weir/stream"
)

// Test functions, registered under test-only names. They are never run.

type lines struct{ Path string }

func (lines) CreateReader(*stream.SourceContext) (stream.SourceReader[string], error) {
	return nil, errors.New("not run")
}

func (l lines) Validate() error {
	if l.Path == "" {
		return errors.New("path: missing")
	}
	return nil
}

type tokenize struct{}

func (tokenize) FlatMap(string, stream.Collector[string]) error { return nil }

type wordKey struct{}

func (wordKey) Key(w string) string { return w }

type concat struct{}

func (concat) Reduce(a, b string) (string, error) { return a + b, nil }

type length struct{}

func (length) Map(s string) (int, error) { return len(s), nil }

type discard struct{}

func (discard) CreateWriter(*stream.SinkContext) (stream.SinkWriter[string], error) {
	return nil, errors.New("not run")
}

func init() {
	stream.RegisterSource[string]("jobspectest.lines", lines{})
	stream.RegisterFlatMap[string, string]("jobspectest.tokenize", tokenize{})
	stream.RegisterKeySelector[string, string]("jobspectest.word-key", wordKey{})
	stream.RegisterReduce[string]("jobspectest.concat", concat{})
	stream.RegisterMap[string, int]("jobspectest.length", length{})
	stream.RegisterSink[string]("jobspectest.discard", discard{})
}

const wordcount = `
name: wordcount
parallelism: 2
maxParallelism: 64
config: {execution.checkpointing.interval: 1s, state: {backend: pebble}}
operators:
  - id: lines
    source: jobspectest.lines
    params: {path: /data/text.txt}
    parallelism: 1
  - id: words
    flatMap: jobspectest.tokenize
    input: lines
  - id: counts
    reduce: jobspectest.concat
    input: {from: words, keyBy: jobspectest.word-key}
  - id: spread
    flatMap: jobspectest.tokenize
    input: {from: counts, rebalance: true}
  - id: out
    sink: jobspectest.discard
    input: spread
`

func fn(name, params string) *weirv1.Function {
	f := &weirv1.Function{Name: name}
	if params != "" {
		f.Params = []byte(params)
	}
	return f
}

func wantWordcount() *weirv1.JobGraph {
	return &weirv1.JobGraph{
		Name:           "wordcount",
		MaxParallelism: 64,
		Config:         map[string]string{"execution.checkpointing.interval": "1s", "state.backend": "pebble"},
		Operators: []*weirv1.Operator{
			{Id: 0, Uid: "lines", Name: "lines", Kind: weirv1.OperatorKind_OPERATOR_KIND_SOURCE,
				Function: fn("jobspectest.lines", `{"path":"/data/text.txt"}`), Parallelism: 1},
			{Id: 1, Uid: "words", Name: "words", Kind: weirv1.OperatorKind_OPERATOR_KIND_FLAT_MAP,
				Function: fn("jobspectest.tokenize", ""), Parallelism: 2,
				Inputs: []*weirv1.Input{{OperatorId: 0, Partitioning: weirv1.Partitioning_PARTITIONING_FORWARD}}},
			{Id: 2, Uid: "counts", Name: "counts", Kind: weirv1.OperatorKind_OPERATOR_KIND_REDUCE,
				Function: fn("jobspectest.concat", ""), Parallelism: 2,
				Inputs: []*weirv1.Input{{OperatorId: 1, Partitioning: weirv1.Partitioning_PARTITIONING_KEY_GROUP,
					Key: fn("jobspectest.word-key", "")}}},
			{Id: 3, Uid: "spread", Name: "spread", Kind: weirv1.OperatorKind_OPERATOR_KIND_FLAT_MAP,
				Function: fn("jobspectest.tokenize", ""), Parallelism: 2,
				Inputs: []*weirv1.Input{{OperatorId: 2, Partitioning: weirv1.Partitioning_PARTITIONING_REBALANCE}}},
			{Id: 4, Uid: "out", Name: "out", Kind: weirv1.OperatorKind_OPERATOR_KIND_SINK,
				Function: fn("jobspectest.discard", ""), Parallelism: 2,
				Inputs: []*weirv1.Input{{OperatorId: 3, Partitioning: weirv1.Partitioning_PARTITIONING_FORWARD}}},
		},
	}
}

func TestDecode(t *testing.T) {
	got, err := Decode([]byte(wordcount))
	if err != nil {
		t.Fatal(err)
	}
	if want := wantWordcount(); !proto.Equal(got, want) {
		t.Fatalf("Decode:\n got %v\nwant %v", got, want)
	}
}

func TestParse(t *testing.T) {
	got, err := Parse([]byte(wordcount))
	if err != nil {
		t.Fatal(err)
	}
	// ValidateGraph turns the forward edge between different parallelisms
	// into a rebalance.
	want := wantWordcount()
	want.Operators[1].Inputs[0].Partitioning = weirv1.Partitioning_PARTITIONING_REBALANCE
	if !proto.Equal(got, want) {
		t.Fatalf("Parse:\n got %v\nwant %v", got, want)
	}
}

func TestParseJSON(t *testing.T) {
	const spec = `{
  "name": "wordcount",
  "parallelism": 2,
  "maxParallelism": 64,
  "config": {"execution.checkpointing.interval": "1s", "state.backend": "pebble"},
  "operators": [
    {"id": "lines", "source": "jobspectest.lines", "params": {"path": "/data/text.txt"}, "parallelism": 1},
    {"id": "words", "flatMap": "jobspectest.tokenize", "input": "lines"},
    {"id": "counts", "reduce": "jobspectest.concat", "input": {"from": "words", "keyBy": "jobspectest.word-key"}},
    {"id": "spread", "flatMap": "jobspectest.tokenize", "input": {"from": "counts", "rebalance": true}},
    {"id": "out", "sink": "jobspectest.discard", "input": "spread"}
  ]
}`
	got, err := Decode([]byte(spec))
	if err != nil {
		t.Fatal(err)
	}
	if want := wantWordcount(); !proto.Equal(got, want) {
		t.Fatalf("Decode(JSON):\n got %v\nwant %v", got, want)
	}
}

func TestDefaults(t *testing.T) {
	const ops = `
operators:
  - {id: lines, source: jobspectest.lines, params: {path: /x}}
  - {id: out, sink: jobspectest.discard, input: lines}
`
	for _, tc := range []struct {
		name        string
		head        string
		parallelism int32
		maxP        int32
	}{
		{"built-in defaults", "name: j\n", 1, 128},
		{"from config", "name: j\nconfig: {parallelism.default: 3, pipeline.max-parallelism: 16}\n", 3, 16},
		{"fields over config", "name: j\nparallelism: 4\nmaxParallelism: 32\nconfig: {parallelism.default: 3, pipeline.max-parallelism: 16}\n", 4, 32},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g, err := Parse([]byte(tc.head + ops))
			if err != nil {
				t.Fatal(err)
			}
			if g.GetMaxParallelism() != tc.maxP {
				t.Errorf("max parallelism = %d, want %d", g.GetMaxParallelism(), tc.maxP)
			}
			for _, op := range g.GetOperators() {
				if op.GetParallelism() != tc.parallelism {
					t.Errorf("%s parallelism = %d, want %d", op.GetName(), op.GetParallelism(), tc.parallelism)
				}
			}
		})
	}
}

// TestDecodeErrors covers every error Decode reports; each names the field.
func TestDecodeErrors(t *testing.T) {
	const (
		src  = "  - {id: lines, source: jobspectest.lines, params: {path: /x}}\n"
		sink = "  - {id: out, sink: jobspectest.discard, input: lines}\n"
	)
	for _, tc := range []struct {
		name, spec, want string
	}{
		{"syntax", "name: [", "[1:7] sequence end token ']' not found"},
		{"duplicate key", "name: a\nname: b\n", `[2:1] mapping key "name" already defined at [1:1]`},
		{"empty", "", "the spec: empty; want a map"},
		{"not a map", "- a\n", "the spec: want a map, not a list"},
		{"unknown top-level field", "name: j\nparalelism: 2\n",
			"paralelism: unknown field (fields are name, parallelism, maxParallelism, config, operators)"},
		{"missing name", "operators:\n" + src + sink, "name: missing"},
		{"name not a string", "name: {a: b}\n", "name: want a string, not a map"},
		{"parallelism zero", "name: j\nparallelism: 0\n", "parallelism: 0 is not a positive number"},
		{"parallelism text", "name: j\nparallelism: two\n", `parallelism: want a whole number, not "two"`},
		{"parallelism fraction", "name: j\nparallelism: 1.5\n", "parallelism: want a whole number, not 1.5"},
		{"max parallelism too large", "name: j\nmaxParallelism: 40000\n", "maxParallelism: 40000 is more than 32768"},
		{"parallelism above max", "name: j\nparallelism: 8\nmaxParallelism: 4\n", "parallelism: 8 is more than maxParallelism 4"},
		{"config unknown key", "name: j\nconfig: {state.bakend: heap}\n",
			"config.state.bakend: unknown configuration key (did you mean state.backend?)"},
		{"config bad value", "name: j\nconfig: {execution.checkpointing.interval: often}\n",
			`config.execution.checkpointing.interval: invalid value "often": want a duration such as "10 s", "500 ms", "1 min" or plain milliseconds`},
		{"config cluster key", "name: j\nconfig: {taskmanager.numberOfTaskSlots: 4}\n",
			"config.taskmanager.numberOfTaskSlots is a cluster setting and cannot be set per job"},
		{"config list", "name: j\nconfig: {state.backend: [heap]}\n", "config.state.backend: want a single value, not a list"},
		{"config not a map", "name: j\nconfig: fast\n", `config: want a map, not "fast"`},
		{"no operators", "name: j\n", "operators: missing (a job needs at least a source and a sink)"},
		{"operators not a list", "name: j\noperators: {id: x}\n", "operators: want a list, not a map"},
		{"operator not a map", "name: j\noperators:\n  - lines\n", `operators[0]: want a map, not "lines"`},
		{"missing id", "name: j\noperators:\n  - {source: jobspectest.lines}\n", "operators[0].id: missing"},
		{"duplicate id", "name: j\noperators:\n" + src + "  - {id: lines, sink: jobspectest.discard, input: lines}\n",
			`operators[1].id: "lines" is also the id of operators[0]`},
		{"unknown operator field", "name: j\noperators:\n  - {id: words, flatmap: jobspectest.tokenize}\n",
			`operators[0] ("words").flatmap: unknown field (fields are id, source, map, flatMap, filter, reduce, process, aggregate, timestamps, sink, params, parallelism, input, window, watermarks)`},
		{"no function", "name: j\noperators:\n  - {id: lines}\n",
			`operators[0] ("lines"): missing the function: set one of source, map, flatMap, filter, reduce, process, aggregate, timestamps, sink`},
		{"two functions", "name: j\noperators:\n  - {id: lines, source: a, sink: b}\n",
			`operators[0] ("lines"): sets source and sink; an operator has exactly one of source, map, flatMap, filter, reduce, process, aggregate, timestamps, sink`},
		{"empty function", "name: j\noperators:\n  - {id: lines, source: }\n", `operators[0] ("lines").source: missing`},
		{"params not a map", "name: j\noperators:\n  - {id: lines, source: a, params: [1]}\n",
			`operators[0] ("lines").params: want a map, not a list`},
		{"operator parallelism", "name: j\noperators:\n  - {id: lines, source: a, parallelism: -1}\n",
			`operators[0] ("lines").parallelism: -1 is not a positive number`},
		{"operator parallelism above max", "name: j\nmaxParallelism: 4\noperators:\n  - {id: lines, source: a, parallelism: 5}\n",
			`operators[0] ("lines").parallelism: 5 is more than maxParallelism 4`},
		{"source with input", "name: j\noperators:\n" + src + "  - {id: more, source: a, input: lines}\n",
			`operators[1] ("more").input: a source has no input`},
		{"missing input", "name: j\noperators:\n" + src + "  - {id: out, sink: b}\n",
			`operators[1] ("out").input: missing (a sink reads the output of an earlier operator)`},
		{"unknown input", "name: j\noperators:\n" + src + "  - {id: words, flatMap: t, input: lines}\n  - {id: counts, reduce: r, input: {from: wrds, keyBy: k}}\n",
			`operators[2] ("counts").input.from: unknown operator "wrds"`},
		{"unknown input shorthand", "name: j\noperators:\n" + src + "  - {id: out, sink: b, input: line}\n",
			`operators[1] ("out").input: unknown operator "line"`},
		{"later input", "name: j\noperators:\n" + src + "  - {id: words, flatMap: t, input: out}\n" + "  - {id: out, sink: b, input: words}\n",
			`operators[1] ("words").input: "out" is operators[2], which does not come before this operator; inputs name earlier operators`},
		{"self input", "name: j\noperators:\n" + src + "  - {id: words, flatMap: t, input: words}\n",
			`operators[1] ("words").input: "words" is operators[1], which does not come before this operator; inputs name earlier operators`},
		{"input missing from", "name: j\noperators:\n" + src + "  - {id: out, sink: b, input: {rebalance: true}}\n",
			`operators[1] ("out").input.from: missing`},
		{"input unknown field", "name: j\noperators:\n" + src + "  - {id: out, sink: b, input: {from: lines, keyby: k}}\n",
			`operators[1] ("out").input.keyby: unknown field (fields are from, keyBy, rebalance, sideOutput)`},
		{"input rebalance not bool", "name: j\noperators:\n" + src + "  - {id: out, sink: b, input: {from: lines, rebalance: yes}}\n",
			`operators[1] ("out").input.rebalance: want true or false, not "yes"`},
		{"input keyBy and rebalance", "name: j\noperators:\n" + src + "  - {id: out, sink: b, input: {from: lines, keyBy: k, rebalance: true}}\n",
			`operators[1] ("out").input: keyBy and rebalance are two partitionings; set one`},
		{"input not a string", "name: j\noperators:\n" + src + "  - {id: out, sink: b, input: 3}\n",
			`operators[1] ("out").input: want a string, not 3`},
		{"keyed without keyBy", "name: j\noperators:\n" + src + "  - {id: counts, reduce: r, input: lines}\n",
			`operators[1] ("counts").input: a reduce is keyed: partition its input with {from: lines, keyBy: KEY_SELECTOR}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g, err := Decode([]byte(tc.spec))
			if err == nil || err.Error() != tc.want {
				t.Fatalf("Decode error = %v\nwant %q\n(graph %v)", err, tc.want, g)
			}
		})
	}
}

// TestParseValidates checks that Parse reports what only the function
// registry knows, where Decode does not.
func TestParseValidates(t *testing.T) {
	for _, tc := range []struct {
		name, spec, want string
	}{
		{"unregistered function", `
name: j
operators:
  - {id: lines, source: jobspectest.lines, params: {path: /x}}
  - {id: out, sink: jobspectest.nope, input: lines}
`, `operators[1] ("out").function: unknown function "jobspectest.nope"`},
		{"kind mismatch", `
name: j
operators:
  - {id: lines, source: jobspectest.lines, params: {path: /x}}
  - {id: out, sink: jobspectest.tokenize, input: lines}
`, `operators[1] ("out").kind: function "jobspectest.tokenize" is a flat_map, not a sink`},
		{"param rejected by Validate", `
name: j
operators:
  - {id: lines, source: jobspectest.lines}
  - {id: out, sink: jobspectest.discard, input: lines}
`, `operators[0] ("lines").function: path: missing`},
		{"unknown param", `
name: j
operators:
  - {id: lines, source: jobspectest.lines, params: {path: /x, pth: /y}}
  - {id: out, sink: jobspectest.discard, input: lines}
`, `operators[0] ("lines").function: decoding parameters of jobspectest.lines: json: unknown field "pth"`},
		{"type mismatch", `
name: j
operators:
  - {id: lines, source: jobspectest.lines, params: {path: /x}}
  - {id: len, map: jobspectest.length, input: lines}
  - {id: out, sink: jobspectest.discard, input: len}
`, `operators[2] ("out").inputs[0]: operators[1] emits int but "jobspectest.discard" takes string`},
		{"no sink", `
name: j
operators:
  - {id: lines, source: jobspectest.lines, params: {path: /x}}
  - {id: words, flatMap: jobspectest.tokenize, input: lines}
`, `operators: a job needs at least one sink`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Decode([]byte(tc.spec)); err != nil {
				t.Fatalf("Decode: %v", err)
			}
			_, err := Parse([]byte(tc.spec))
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("Parse error = %v\nwant %q", err, tc.want)
			}
		})
	}
}
