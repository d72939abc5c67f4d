package stream

import (
	"encoding"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"sync"
)

// Codec encodes values of type T to bytes and back. Records crossing a task
// boundary, keys, and state values all travel through codecs.
//
// Append must append the encoding of v to dst and return the extended
// slice; Decode must not retain src.
type Codec[T any] interface {
	Append(dst []byte, v T) []byte
	Decode(src []byte) (T, error)
}

var codecs struct {
	sync.RWMutex
	m map[reflect.Type]any // reflect.Type -> Codec[T]
}

// RegisterCodec makes c the codec for T. Register codecs in an init function,
// in a package the taskmanager binary imports, before any job uses T.
func RegisterCodec[T any](c Codec[T]) {
	codecs.Lock()
	defer codecs.Unlock()
	if codecs.m == nil {
		codecs.m = map[reflect.Type]any{}
	}
	codecs.m[reflect.TypeFor[T]()] = c
}

// CodecFor returns the codec for T: a registered one, a built-in one for
// strings, byte slices, booleans and numbers, T's own BinaryMarshaler
// methods, or JSON as the (slow) last resort.
func CodecFor[T any]() Codec[T] {
	t := reflect.TypeFor[T]()
	codecs.RLock()
	c, ok := codecs.m[t]
	codecs.RUnlock()
	if ok {
		return c.(Codec[T])
	}
	var zero T
	var b any
	switch any(zero).(type) {
	case string:
		b = StringCodec{}
	case []byte:
		b = BytesCodec{}
	case int64:
		b = Int64Codec{}
	case int:
		b = intCodec{}
	case uint64:
		b = uint64Codec{}
	case float64:
		b = float64Codec{}
	case bool:
		b = boolCodec{}
	}
	if b != nil {
		return b.(Codec[T])
	}
	if _, ok := any(&zero).(interface {
		encoding.BinaryMarshaler
		encoding.BinaryUnmarshaler
	}); ok {
		return binaryCodec[T]{}
	}
	return JSONCodec[T]{}
}

// ErrShortBuffer is returned by codecs whose input ends early.
var ErrShortBuffer = errors.New("stream: encoded value is truncated")

// StringCodec encodes a string as its bytes.
type StringCodec struct{}

func (StringCodec) Append(dst []byte, v string) []byte { return append(dst, v...) }
func (StringCodec) Decode(src []byte) (string, error)  { return string(src), nil }

// BytesCodec encodes a byte slice as itself.
type BytesCodec struct{}

func (BytesCodec) Append(dst []byte, v []byte) []byte { return append(dst, v...) }
func (BytesCodec) Decode(src []byte) ([]byte, error)  { return append([]byte(nil), src...), nil }

// Int64Codec encodes an int64 as a zig-zag varint.
type Int64Codec struct{}

func (Int64Codec) Append(dst []byte, v int64) []byte { return binary.AppendVarint(dst, v) }
func (Int64Codec) Decode(src []byte) (int64, error) {
	v, n := binary.Varint(src)
	if n <= 0 {
		return 0, ErrShortBuffer
	}
	return v, nil
}

type intCodec struct{}

func (intCodec) Append(dst []byte, v int) []byte { return binary.AppendVarint(dst, int64(v)) }
func (intCodec) Decode(src []byte) (int, error) {
	v, err := Int64Codec{}.Decode(src)
	return int(v), err
}

type uint64Codec struct{}

func (uint64Codec) Append(dst []byte, v uint64) []byte { return binary.AppendUvarint(dst, v) }
func (uint64Codec) Decode(src []byte) (uint64, error) {
	v, n := binary.Uvarint(src)
	if n <= 0 {
		return 0, ErrShortBuffer
	}
	return v, nil
}

type float64Codec struct{}

func (float64Codec) Append(dst []byte, v float64) []byte {
	return binary.LittleEndian.AppendUint64(dst, math.Float64bits(v))
}
func (float64Codec) Decode(src []byte) (float64, error) {
	if len(src) < 8 {
		return 0, ErrShortBuffer
	}
	return math.Float64frombits(binary.LittleEndian.Uint64(src)), nil
}

type boolCodec struct{}

func (boolCodec) Append(dst []byte, v bool) []byte {
	if v {
		return append(dst, 1)
	}
	return append(dst, 0)
}
func (boolCodec) Decode(src []byte) (bool, error) {
	if len(src) < 1 {
		return false, ErrShortBuffer
	}
	return src[0] != 0, nil
}

type binaryCodec[T any] struct{}

func (binaryCodec[T]) Append(dst []byte, v T) []byte {
	b, err := any(&v).(encoding.BinaryMarshaler).MarshalBinary()
	if err != nil {
		panic(fmt.Sprintf("stream: MarshalBinary of %T: %v", v, err))
	}
	return append(dst, b...)
}

func (binaryCodec[T]) Decode(src []byte) (T, error) {
	var v T
	err := any(&v).(encoding.BinaryUnmarshaler).UnmarshalBinary(src)
	return v, err
}

// JSONCodec encodes values as JSON. It is the fallback for types without a
// registered codec: correct, but slow on the data path.
type JSONCodec[T any] struct{}

func (JSONCodec[T]) Append(dst []byte, v T) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("stream: JSON encoding of %T: %v", v, err))
	}
	return append(dst, b...)
}

func (JSONCodec[T]) Decode(src []byte) (T, error) {
	var v T
	err := json.Unmarshal(src, &v)
	return v, err
}
