package jobspec

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

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
	opFields  = []string{"id", "source", "map", "flatMap", "filter", "reduce", "process", "aggregate", "timestamps", "sink", "params", "parallelism", "input", "window", "watermarks"}
	inFields  = []string{"from", "keyBy", "rebalance", "sideOutput"}
	// windowFields are the fields of an operator's window.
	windowFields = []string{"tumbling", "sliding", "slide", "session", "offset", "time", "allowedLateness", "lateSideOutput"}
	// watermarkFields are the fields of a timestamps operator's watermarks.
	watermarkFields = []string{"outOfOrderness", "idleness"}
	// builtinAggregates are the window aggregates every binary has.
	builtinAggregates = map[string]string{"count": "weir.window.count", "sum": "weir.window.sum"}
	kinds             = map[string]weirv1.OperatorKind{
		"source":  weirv1.OperatorKind_OPERATOR_KIND_SOURCE,
		"map":     weirv1.OperatorKind_OPERATOR_KIND_MAP,
		"flatMap": weirv1.OperatorKind_OPERATOR_KIND_FLAT_MAP,
		"filter":  weirv1.OperatorKind_OPERATOR_KIND_FILTER,
		"reduce":  weirv1.OperatorKind_OPERATOR_KIND_REDUCE,
		"process": weirv1.OperatorKind_OPERATOR_KIND_PROCESS,
		"sink":    weirv1.OperatorKind_OPERATOR_KIND_SINK,
		// A window operator is reduce, aggregate or process with a window.
		"aggregate":  weirv1.OperatorKind_OPERATOR_KIND_WINDOW,
		"timestamps": weirv1.OperatorKind_OPERATOR_KIND_TIMESTAMPS,
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
		return nil, fmt.Errorf("%s: missing the function: set one of source, map, flatMap, filter, reduce, process, aggregate, timestamps, sink", path)
	case 1:
	default:
		return nil, fmt.Errorf("%s: sets %s; an operator has exactly one of source, map, flatMap, filter, reduce, process, aggregate, timestamps, sink", path, strings.Join(kindKeys, " and "))
	}
	kk := kindKeys[0]
	op.Kind = kinds[kk]
	fn, err := requiredString(path+"."+kk, get(m, kk))
	if err != nil {
		return nil, err
	}
	if kk == "aggregate" {
		if b, ok := builtinAggregates[fn]; ok {
			fn = b
		}
	}
	op.Function = &weirv1.Function{Name: fn}
	switch {
	case has(m, "window"):
		if kk != "reduce" && kk != "process" && kk != "aggregate" {
			return nil, fmt.Errorf("%s.window: a %s has no window; windows go with reduce, aggregate or process", path, kk)
		}
		op.Kind = weirv1.OperatorKind_OPERATOR_KIND_WINDOW
		if op.Window, err = decodeWindow(path+".window", get(m, "window")); err != nil {
			return nil, err
		}
	case kk == "aggregate":
		return nil, fmt.Errorf("%s.window: missing (aggregate runs over windows)", path)
	}
	if has(m, "watermarks") {
		if kk != "timestamps" {
			return nil, fmt.Errorf("%s.watermarks: only a timestamps operator makes watermarks", path)
		}
	}
	if kk == "timestamps" {
		if op.Watermarks, err = decodeWatermarks(path+".watermarks", get(m, "watermarks")); err != nil {
			return nil, err
		}
	}
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
	keyed := op.Kind == weirv1.OperatorKind_OPERATOR_KIND_REDUCE || op.Kind == weirv1.OperatorKind_OPERATOR_KIND_PROCESS ||
		op.Kind == weirv1.OperatorKind_OPERATOR_KIND_WINDOW
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
	var err error
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
		if has(m, "sideOutput") {
			if in.SideOutput, err = requiredString(path+".sideOutput", get(m, "sideOutput")); err != nil {
				return nil, err
			}
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

// decodeWindow decodes an operator's window:
//
//	{tumbling: 10s}  {sliding: 10s, slide: 5s}  {session: 30s}
//
// with optional offset, time (event or processing; event by default),
// allowedLateness and lateSideOutput.
func decodeWindow(path string, v any) (*weirv1.WindowSpec, error) {
	m, err := asMap(path, v)
	if err != nil {
		return nil, err
	}
	if err := checkFields(path, m, windowFields); err != nil {
		return nil, err
	}
	w := &weirv1.WindowSpec{Time: weirv1.TimeDomain_TIME_DOMAIN_EVENT}
	var set []string
	for _, k := range []string{"tumbling", "sliding", "session"} {
		if has(m, k) {
			set = append(set, k)
		}
	}
	if len(set) != 1 {
		return nil, fmt.Errorf("%s: set exactly one of tumbling, sliding, session (has %d)", path, len(set))
	}
	d, err := duration(path+"."+set[0], get(m, set[0]))
	if err != nil {
		return nil, err
	}
	switch set[0] {
	case "tumbling":
		w.Kind, w.SizeMillis = weirv1.WindowKind_WINDOW_KIND_TUMBLING, d
	case "sliding":
		w.Kind, w.SizeMillis = weirv1.WindowKind_WINDOW_KIND_SLIDING, d
		if w.SlideMillis, err = duration(path+".slide", get(m, "slide")); err != nil {
			return nil, err
		}
	case "session":
		w.Kind, w.GapMillis = weirv1.WindowKind_WINDOW_KIND_SESSION, d
	}
	if has(m, "slide") && set[0] != "sliding" {
		return nil, fmt.Errorf("%s.slide: only sliding windows slide", path)
	}
	if has(m, "offset") {
		if w.OffsetMillis, err = duration(path+".offset", get(m, "offset")); err != nil {
			return nil, err
		}
	}
	if has(m, "allowedLateness") {
		if w.AllowedLatenessMillis, err = duration(path+".allowedLateness", get(m, "allowedLateness")); err != nil {
			return nil, err
		}
	}
	if has(m, "time") {
		switch t := get(m, "time"); t {
		case "event":
		case "processing":
			w.Time = weirv1.TimeDomain_TIME_DOMAIN_PROCESSING
		default:
			return nil, fmt.Errorf("%s.time: want event or processing, not %s", path, kindOf(t))
		}
	}
	if has(m, "lateSideOutput") {
		b, ok := get(m, "lateSideOutput").(bool)
		if !ok {
			return nil, fmt.Errorf("%s.lateSideOutput: want true or false, not %s", path, kindOf(get(m, "lateSideOutput")))
		}
		w.LateSideOutput = b
	}
	if err := stream.ValidateWindowSpec(w); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return w, nil
}

// decodeWatermarks decodes {outOfOrderness: 2s, idleness: 1m}; absent
// means monotonous timestamps and no idleness.
func decodeWatermarks(path string, v any) (*weirv1.WatermarkSpec, error) {
	w := &weirv1.WatermarkSpec{}
	if v == nil {
		return w, nil
	}
	m, err := asMap(path, v)
	if err != nil {
		return nil, err
	}
	if err := checkFields(path, m, watermarkFields); err != nil {
		return nil, err
	}
	if has(m, "outOfOrderness") {
		if w.OutOfOrdernessMillis, err = duration(path+".outOfOrderness", get(m, "outOfOrderness")); err != nil {
			return nil, err
		}
	}
	if has(m, "idleness") {
		if w.IdlenessMillis, err = duration(path+".idleness", get(m, "idleness")); err != nil {
			return nil, err
		}
	}
	return w, nil
}

// duration reads a duration such as 10s or 500ms, in milliseconds.
func duration(path string, v any) (int64, error) {
	s, ok := v.(string)
	if !ok {
		return 0, fmt.Errorf("%s: want a duration such as 10s or 500ms, not %s", path, kindOf(v))
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%s: %q is not a duration (such as 10s or 500ms)", path, s)
	}
	if d < 0 {
		return 0, fmt.Errorf("%s: %s is negative", path, s)
	}
	return d.Milliseconds(), nil
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
