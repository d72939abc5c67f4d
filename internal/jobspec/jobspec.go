package jobspec

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml"

	weirv1 "github.com/weirstream/weir/api/proto/weir/v1"
	"github.com/weirstream/weir/internal/config"
	"github.com/weirstream/weir/internal/keygroup"
	"github.com/weirstream/weir/stream"
)

// Parse reads a spec and returns its job graph, validated against the
// functions registered in this binary (stream.ValidateGraph).
func Parse(data []byte) (*weirv1.JobGraph, error) {
	g, err := Decode(data)
	if err != nil {
		return nil, err
	}
	if err := stream.ValidateGraph(g); err != nil {
		return nil, err
	}
	return g, nil
}

// Decode reads a spec and returns its job graph, checking everything that
// does not depend on the function registry: the shape of the spec, operator
// ids and inputs, parallelism and config. It is for clients such as the CLI,
// whose binary does not register the functions a cluster runs; the
// jobmanager validates the graph when it is submitted.
func Decode(data []byte) (*weirv1.JobGraph, error) {
	var doc any
	if err := yaml.UnmarshalWithOptions(data, &doc, yaml.UseOrderedMap()); err != nil {
		return nil, errors.New(yaml.FormatError(err, false, false))
	}
	top, err := asMap("", doc)
	if err != nil {
		return nil, err
	}
	return decodeSpec(top)
}

var (
	topFields = []string{"name", "parallelism", "maxParallelism", "config", "operators"}
	opFields  = []string{"id", "source", "map", "flatMap", "filter", "reduce", "process", "sink", "params", "parallelism", "input"}
	inFields  = []string{"from", "keyBy", "rebalance"}
	kinds     = map[string]weirv1.OperatorKind{
		"source":  weirv1.OperatorKind_OPERATOR_KIND_SOURCE,
		"map":     weirv1.OperatorKind_OPERATOR_KIND_MAP,
		"flatMap": weirv1.OperatorKind_OPERATOR_KIND_FLAT_MAP,
		"filter":  weirv1.OperatorKind_OPERATOR_KIND_FILTER,
		"reduce":  weirv1.OperatorKind_OPERATOR_KIND_REDUCE,
		"process": weirv1.OperatorKind_OPERATOR_KIND_PROCESS,
		"sink":    weirv1.OperatorKind_OPERATOR_KIND_SINK,
	}
)

func decodeSpec(top yaml.MapSlice) (*weirv1.JobGraph, error) {
	if err := checkFields("", top, topFields); err != nil {
		return nil, err
	}
	g := &weirv1.JobGraph{}
	var err error
	if g.Name, err = requiredString("name", get(top, "name")); err != nil {
		return nil, err
	}

	jobConfig := map[string]string{}
	if v := get(top, "config"); v != nil {
		m, err := asMap("config", v)
		if err != nil {
			return nil, err
		}
		if jobConfig, err = config.Flatten(plain(m).(map[string]any)); err != nil {
			return nil, fmt.Errorf("config.%w", err)
		}
	}
	cfg, err := config.Default().WithJob(jobConfig)
	if err != nil {
		return nil, fmt.Errorf("config.%w", err)
	}
	if len(jobConfig) > 0 {
		g.Config = jobConfig
	}

	maxP, err := cfg.Int(config.MaxParallelism)
	if err != nil {
		return nil, err
	}
	if v := get(top, "maxParallelism"); v != nil {
		if maxP, err = positiveInt("maxParallelism", v); err != nil {
			return nil, err
		}
	}
	if maxP > keygroup.UpperBound {
		return nil, fmt.Errorf("maxParallelism: %d is more than %d", maxP, keygroup.UpperBound)
	}
	g.MaxParallelism = int32(maxP)
	parallelism, err := cfg.Int(config.DefaultParallelism)
	if err != nil {
		return nil, err
	}
	if v := get(top, "parallelism"); v != nil {
		if parallelism, err = positiveInt("parallelism", v); err != nil {
			return nil, err
		}
	}
	if parallelism > maxP {
		return nil, fmt.Errorf("parallelism: %d is more than maxParallelism %d", parallelism, maxP)
	}

	list, ok := get(top, "operators").([]any)
	if !ok || len(list) == 0 {
		if v := get(top, "operators"); v != nil && !ok {
			return nil, fmt.Errorf("operators: want a list, not %s", kindOf(v))
		}
		return nil, errors.New("operators: missing (a job needs at least a source and a sink)")
	}
	ids := map[string]int{}
	all := allIDs(list)
	for i, item := range list {
		op, err := decodeOperator(i, item, ids, all, parallelism, maxP)
		if err != nil {
			return nil, err
		}
		ids[op.Name] = i
		g.Operators = append(g.Operators, op)
	}
	return g, nil
}

// allIDs returns the index of every operator id in list, for messages about
// inputs that name a later operator.
func allIDs(list []any) map[string]int {
	ids := map[string]int{}
	for i, item := range list {
		if m, ok := item.(yaml.MapSlice); ok {
			if id, ok := get(m, "id").(string); ok {
				if _, dup := ids[id]; !dup {
					ids[id] = i
				}
			}
		}
	}
	return ids
}

// decodeOperator decodes operators[i]. ids holds the operators before it,
// all of them.
func decodeOperator(i int, item any, ids, all map[string]int, parallelism, maxP int) (*weirv1.Operator, error) {
	path := fmt.Sprintf("operators[%d]", i)
	m, err := asMap(path, item)
	if err != nil {
		return nil, err
	}
	id, err := requiredString(path+".id", get(m, "id"))
	if err != nil {
		return nil, err
	}
	if j, dup := ids[id]; dup {
		return nil, fmt.Errorf("%s.id: %q is also the id of operators[%d]", path, id, j)
	}
	path = fmt.Sprintf("%s (%q)", path, id)
	if err := checkFields(path, m, opFields); err != nil {
		return nil, err
	}
	op := &weirv1.Operator{Id: int32(i), Uid: id, Name: id, Parallelism: int32(parallelism)}

	var kindKeys []string
	for _, k := range opFields {
		if _, ok := kinds[k]; ok && has(m, k) {
			kindKeys = append(kindKeys, k)
		}
	}
	switch len(kindKeys) {
	case 0:
		return nil, fmt.Errorf("%s: missing the function: set one of source, map, flatMap, filter, reduce, process, sink", path)
	case 1:
	default:
		return nil, fmt.Errorf("%s: sets %s; an operator has exactly one of source, map, flatMap, filter, reduce, process, sink", path, strings.Join(kindKeys, " and "))
	}
	kk := kindKeys[0]
	op.Kind = kinds[kk]
	fn, err := requiredString(path+"."+kk, get(m, kk))
	if err != nil {
		return nil, err
	}
	op.Function = &weirv1.Function{Name: fn}
	if v := get(m, "params"); v != nil {
		pm, err := asMap(path+".params", v)
		if err != nil {
			return nil, err
		}
		if op.Function.Params, err = json.Marshal(plain(pm)); err != nil {
			return nil, fmt.Errorf("%s.params: %w", path, err)
		}
	}
	if v := get(m, "parallelism"); v != nil {
		p, err := positiveInt(path+".parallelism", v)
		if err != nil {
			return nil, err
		}
		if p > maxP {
			return nil, fmt.Errorf("%s.parallelism: %d is more than maxParallelism %d", path, p, maxP)
		}
		op.Parallelism = int32(p)
	}

	v := get(m, "input")
	switch {
	case op.Kind == weirv1.OperatorKind_OPERATOR_KIND_SOURCE:
		if has(m, "input") {
			return nil, fmt.Errorf("%s.input: a source has no input", path)
		}
		return op, nil
	case v == nil:
		return nil, fmt.Errorf("%s.input: missing (a %s reads the output of an earlier operator)", path, kk)
	}
	in, err := decodeInput(path+".input", v, ids, all)
	if err != nil {
		return nil, err
	}
	keyed := op.Kind == weirv1.OperatorKind_OPERATOR_KIND_REDUCE || op.Kind == weirv1.OperatorKind_OPERATOR_KIND_PROCESS
	if keyed && in.Partitioning != weirv1.Partitioning_PARTITIONING_KEY_GROUP {
		return nil, fmt.Errorf("%s.input: a %s is keyed: partition its input with {from: %s, keyBy: KEY_SELECTOR}", path, kk, specID(v))
	}
	op.Inputs = []*weirv1.Input{in}
	return op, nil
}

// decodeInput decodes "input: ID" or "input: {from: ID, keyBy: SEL}" or
// "input: {from: ID, rebalance: true}".
func decodeInput(path string, v any, ids, all map[string]int) (*weirv1.Input, error) {
	in := &weirv1.Input{Partitioning: weirv1.Partitioning_PARTITIONING_FORWARD}
	from, fromPath := v, path
	if m, ok := v.(yaml.MapSlice); ok {
		if err := checkFields(path, m, inFields); err != nil {
			return nil, err
		}
		from, fromPath = get(m, "from"), path+".from"
		if has(m, "keyBy") {
			sel, err := requiredString(path+".keyBy", get(m, "keyBy"))
			if err != nil {
				return nil, err
			}
			in.Partitioning = weirv1.Partitioning_PARTITIONING_KEY_GROUP
			in.Key = &weirv1.Function{Name: sel}
		}
		if has(m, "rebalance") {
			b, ok := get(m, "rebalance").(bool)
			if !ok {
				return nil, fmt.Errorf("%s.rebalance: want true or false, not %s", path, kindOf(get(m, "rebalance")))
			}
			if b && in.Key != nil {
				return nil, fmt.Errorf("%s: keyBy and rebalance are two partitionings; set one", path)
			}
			if b {
				in.Partitioning = weirv1.Partitioning_PARTITIONING_REBALANCE
			}
		}
	}
	name, err := requiredString(fromPath, from)
	if err != nil {
		return nil, err
	}
	j, ok := ids[name]
	if !ok {
		if k, later := all[name]; later {
			return nil, fmt.Errorf("%s: %q is operators[%d], which does not come before this operator; inputs name earlier operators", fromPath, name, k)
		}
		return nil, fmt.Errorf("%s: unknown operator %q", fromPath, name)
	}
	in.OperatorId = int32(j)
	return in, nil
}

// specID returns the id an input refers to, for messages.
func specID(v any) string {
	if m, ok := v.(yaml.MapSlice); ok {
		v = get(m, "from")
	}
	if s, ok := v.(string); ok {
		return s
	}
	return "ID"
}

// checkFields rejects fields of m not in allowed.
func checkFields(path string, m yaml.MapSlice, allowed []string) error {
	for _, item := range m {
		k := fmt.Sprint(item.Key)
		if !slices.Contains(allowed, k) {
			return fmt.Errorf("%s: unknown field (fields are %s)", join(path, k), strings.Join(allowed, ", "))
		}
	}
	return nil
}

func join(path, field string) string {
	if path == "" {
		return field
	}
	return path + "." + field
}

func get(m yaml.MapSlice, key string) any {
	for _, item := range m {
		if fmt.Sprint(item.Key) == key {
			return item.Value
		}
	}
	return nil
}

func has(m yaml.MapSlice, key string) bool {
	for _, item := range m {
		if fmt.Sprint(item.Key) == key {
			return true
		}
	}
	return false
}

func asMap(path string, v any) (yaml.MapSlice, error) {
	m, ok := v.(yaml.MapSlice)
	if !ok {
		what := "the spec"
		if path != "" {
			what = path
		}
		if v == nil {
			return nil, fmt.Errorf("%s: empty; want a map", what)
		}
		return nil, fmt.Errorf("%s: want a map, not %s", what, kindOf(v))
	}
	return m, nil
}

func requiredString(path string, v any) (string, error) {
	switch v := v.(type) {
	case nil:
		return "", fmt.Errorf("%s: missing", path)
	case string:
		if v == "" {
			return "", fmt.Errorf("%s: missing", path)
		}
		return v, nil
	}
	return "", fmt.Errorf("%s: want a string, not %s", path, kindOf(v))
}

func positiveInt(path string, v any) (int, error) {
	var n int64
	switch v := v.(type) {
	case uint64:
		if v > 1<<31-1 {
			return 0, fmt.Errorf("%s: %d is too large", path, v)
		}
		n = int64(v)
	case int64:
		n = v
	default:
		return 0, fmt.Errorf("%s: want a whole number, not %s", path, kindOf(v))
	}
	if n < 1 {
		return 0, fmt.Errorf("%s: %d is not a positive number", path, n)
	}
	if n > 1<<31-1 {
		return 0, fmt.Errorf("%s: %d is too large", path, n)
	}
	return int(n), nil
}

func kindOf(v any) string {
	switch v := v.(type) {
	case nil:
		return "nothing"
	case yaml.MapSlice:
		return "a map"
	case []any:
		return "a list"
	case string:
		return strconv.Quote(v)
	}
	return fmt.Sprint(v)
}

// plain turns ordered maps into map[string]any, recursively, for JSON
// encoding and config flattening.
func plain(v any) any {
	switch v := v.(type) {
	case yaml.MapSlice:
		m := make(map[string]any, len(v))
		for _, item := range v {
			m[fmt.Sprint(item.Key)] = plain(item.Value)
		}
		return m
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = plain(e)
		}
		return out
	}
	return v
}
