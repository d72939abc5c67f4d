package stream

import (
	"encoding/binary"
	"fmt"
	"math"
	"reflect"
	"strconv"

	weirv1 "github.com/weirstream/weir/api/proto/weir/v1"
)

// The built-in window aggregates count and sum work on windows of any
// record type, so that job specs can use them without Go code:
//
//	weir.window.count          counts the records of each window and key
//	weir.window.sum {field: F} sums the numeric field F of the records (or
//	                           the records themselves if they are numbers)
//
// Both emit a WindowAggregate, which weir.window.format renders as
// `window_start_millis,key,value`.

// WindowAggregate is the result of a built-in window aggregate for one
// window and key.
type WindowAggregate struct {
	Key        string // the key, printed
	Start, End int64  // the window
	Count      int64
	Sum        float64 // weir.window.sum only
	isSum      bool
}

// WindowAggregateCodec encodes a WindowAggregate.
type WindowAggregateCodec struct{}

func (WindowAggregateCodec) Append(dst []byte, v WindowAggregate) []byte {
	dst = binary.AppendVarint(dst, v.Start)
	dst = binary.AppendVarint(dst, v.End)
	dst = binary.AppendVarint(dst, v.Count)
	dst = binary.LittleEndian.AppendUint64(dst, math.Float64bits(v.Sum))
	if v.isSum {
		dst = append(dst, 1)
	} else {
		dst = append(dst, 0)
	}
	return append(dst, v.Key...)
}

func (WindowAggregateCodec) Decode(src []byte) (WindowAggregate, error) {
	var v WindowAggregate
	var n int
	for _, p := range []*int64{&v.Start, &v.End, &v.Count} {
		x, w := binary.Varint(src[n:])
		if w <= 0 {
			return v, ErrShortBuffer
		}
		*p, n = x, n+w
	}
	if len(src) < n+9 {
		return v, ErrShortBuffer
	}
	v.Sum = math.Float64frombits(binary.LittleEndian.Uint64(src[n:]))
	v.isSum = src[n+8] == 1
	v.Key = string(src[n+9:])
	return v, nil
}

// WindowCount is the built-in count window aggregate.
type WindowCount struct{}

// WindowSum is the built-in sum window aggregate.
type WindowSum struct {
	// Field names the exported numeric field to sum; empty sums the
	// records themselves, which must then be numbers.
	Field string `json:"field,omitempty"`
}

// FormatWindowAggregate renders `window_start_millis,key,value`, the value
// being the count or the sum.
type FormatWindowAggregate struct{}

func (FormatWindowAggregate) Map(v WindowAggregate) (string, error) {
	val := strconv.FormatInt(v.Count, 10)
	if v.isSum {
		val = strconv.FormatFloat(v.Sum, 'g', -1, 64)
	}
	return strconv.FormatInt(v.Start, 10) + "," + v.Key + "," + val, nil
}

func init() {
	RegisterCodec[WindowAggregate](WindowAggregateCodec{})
	RegisterMap[WindowAggregate, string]("weir.window.format", FormatWindowAggregate{})
	for name, f := range map[string]any{"weir.window.count": WindowCount{}, "weir.window.sum": WindowSum{}} {
		register(&entry{name: name, kind: weirv1.OperatorKind_OPERATOR_KIND_WINDOW, typ: reflect.TypeOf(f),
			out: opsFor[WindowAggregate](), anyInput: true,
			build: func(rt *buildContext, fn, next any) (any, error) {
				if rt.inOps == nil || rt.keyOps == nil {
					return nil, fmt.Errorf("%s: needs a keyed input (keyBy)", name)
				}
				field := ""
				if s, ok := fn.(WindowSum); ok {
					field = s.Field
					if field == "" {
						field = "."
					}
				}
				return rt.inOps.builtinWindow(rt, field, next.(Collector[WindowAggregate]))
			}})
	}
}

// builtinWindow builds the count (field "") or sum window over records of
// type T.
func builtinWindow[T any](rt *buildContext, field string, next Collector[WindowAggregate]) (any, error) {
	var value func(T) (float64, error)
	if field != "" {
		var err error
		if value, err = numericField[T](field); err != nil {
			return nil, err
		}
	}
	keyString := rt.keyOps.format
	type acc struct {
		n   int64
		sum float64
	}
	var buf []byte
	enc := func(a acc) []byte {
		buf = binary.AppendVarint(buf[:0], a.n)
		return binary.LittleEndian.AppendUint64(buf, math.Float64bits(a.sum))
	}
	dec := func(b []byte) (acc, error) {
		n, w := binary.Varint(b)
		if w <= 0 || len(b) != w+8 {
			return acc{}, ErrShortBuffer
		}
		return acc{n, math.Float64frombits(binary.LittleEndian.Uint64(b[w:]))}, nil
	}
	c := windowContents[[]byte, T, WindowAggregate]{
		add: func(b []byte, v T) ([]byte, error) {
			var a acc
			if b != nil {
				var err error
				if a, err = dec(b); err != nil {
					return nil, err
				}
			}
			a.n++
			if value != nil {
				x, err := value(v)
				if err != nil {
					return nil, err
				}
				a.sum += x
			}
			return enc(a), nil
		},
		merge: func(x, y []byte) ([]byte, error) {
			a, err := dec(x)
			if err != nil {
				return nil, err
			}
			b, err := dec(y)
			if err != nil {
				return nil, err
			}
			return append([]byte(nil), enc(acc{a.n + b.n, a.sum + b.sum})...), nil
		},
		merges: true,
		emit: func(ctx *WindowContext[[]byte], b []byte, out Collector[WindowAggregate]) error {
			a, err := dec(b)
			if err != nil {
				return err
			}
			k, err := keyString(ctx.key)
			if err != nil {
				return err
			}
			out.Collect(WindowAggregate{Key: k, Start: ctx.window.Start, End: ctx.window.End, Count: a.n, Sum: a.sum, isSum: value != nil})
			return nil
		},
	}
	return newWindowOp(rt, c, next)
}

// numericField returns a function reading the numeric field of T named
// field ("." for T itself).
func numericField[T any](field string) (func(T) (float64, error), error) {
	t := reflect.TypeFor[T]()
	if field == "." {
		if !isNumeric(t.Kind()) {
			return nil, fmt.Errorf("weir.window.sum: records of type %v are not numbers; set params.field to a numeric field", t)
		}
		return func(v T) (float64, error) { return toFloat(reflect.ValueOf(v)), nil }, nil
	}
	st := t
	if st.Kind() == reflect.Pointer {
		st = st.Elem()
	}
	if st.Kind() != reflect.Struct {
		return nil, fmt.Errorf("weir.window.sum: params.field %q: records of type %v have no fields", field, t)
	}
	f, ok := st.FieldByName(field)
	if !ok || !f.IsExported() || !isNumeric(f.Type.Kind()) {
		return nil, fmt.Errorf("weir.window.sum: params.field %q: %v has no exported numeric field of that name", field, st)
	}
	idx := f.Index
	return func(v T) (float64, error) {
		rv := reflect.ValueOf(v)
		if rv.Kind() == reflect.Pointer {
			if rv.IsNil() {
				return 0, fmt.Errorf("weir.window.sum: nil record")
			}
			rv = rv.Elem()
		}
		return toFloat(rv.FieldByIndex(idx)), nil
	}, nil
}

func isNumeric(k reflect.Kind) bool {
	switch k {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		return true
	}
	return false
}

func toFloat(v reflect.Value) float64 {
	switch {
	case v.CanInt():
		return float64(v.Int())
	case v.CanUint():
		return float64(v.Uint())
	}
	return v.Float()
}
