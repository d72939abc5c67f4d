package stream

import (
	"encoding/binary"
	"errors"
	"fmt"
	"reflect"
	"time"

	"google.golang.org/protobuf/proto"

	weirv1 "github.com/weirstream/weir/api/proto/weir/v1"
	"github.com/weirstream/weir/internal/statebackend"
)

// Windows group the records of each key by time, with Flink's semantics
// (WindowOperator with its default triggers): an event-time window fires
// once the watermark passes its end, and again for every late record that
// updates it within the allowed lateness; its state is dropped once the
// watermark passes end + allowed lateness, and records for windows already
// dropped are late: counted and dropped, or sent to the side output
// LateData. A processing-time window fires when the task's clock passes
// its end. Session windows merge when a record falls within the gap of
// two sessions.
//
// A window's contents are keyed state (a map from window, or slice:
// window_slice.go, to accumulator per key) and its firing is a timer, so
// windows are checkpointed, restored and rescaled with the rest of the
// keyed state.

// Window is the half-open interval [Start, End) of event or processing
// time, in milliseconds since the epoch.
type Window struct {
	Start, End int64
}

// MaxTimestamp is the last millisecond in the window: the timestamp of
// what the window emits, and when it fires.
func (w Window) MaxTimestamp() int64 { return w.End - 1 }

func (w Window) intersects(o Window) bool { return w.Start <= o.End && w.End >= o.Start }

// WindowAssigner assigns records to windows. Make one with
// TumblingEventTimeWindows and its kin.
type WindowAssigner struct {
	spec *weirv1.WindowSpec
}

// TumblingEventTimeWindows are consecutive windows of length size in event
// time, starting at multiples of size since the epoch.
func TumblingEventTimeWindows(size time.Duration) WindowAssigner {
	return WindowAssigner{&weirv1.WindowSpec{Kind: weirv1.WindowKind_WINDOW_KIND_TUMBLING, Time: weirv1.TimeDomain_TIME_DOMAIN_EVENT, SizeMillis: size.Milliseconds()}}
}

// TumblingProcessingTimeWindows are tumbling windows in processing time.
func TumblingProcessingTimeWindows(size time.Duration) WindowAssigner {
	a := TumblingEventTimeWindows(size)
	a.spec.Time = weirv1.TimeDomain_TIME_DOMAIN_PROCESSING
	return a
}

// SlidingEventTimeWindows are windows of length size starting every slide;
// a record belongs to size/slide of them.
func SlidingEventTimeWindows(size, slide time.Duration) WindowAssigner {
	return WindowAssigner{&weirv1.WindowSpec{Kind: weirv1.WindowKind_WINDOW_KIND_SLIDING, Time: weirv1.TimeDomain_TIME_DOMAIN_EVENT,
		SizeMillis: size.Milliseconds(), SlideMillis: slide.Milliseconds()}}
}

// SlidingProcessingTimeWindows are sliding windows in processing time.
func SlidingProcessingTimeWindows(size, slide time.Duration) WindowAssigner {
	a := SlidingEventTimeWindows(size, slide)
	a.spec.Time = weirv1.TimeDomain_TIME_DOMAIN_PROCESSING
	return a
}

// EventTimeSessionWindows put records of a key closer than gap to each
// other into one session window: [first, last+gap).
func EventTimeSessionWindows(gap time.Duration) WindowAssigner {
	return WindowAssigner{&weirv1.WindowSpec{Kind: weirv1.WindowKind_WINDOW_KIND_SESSION, Time: weirv1.TimeDomain_TIME_DOMAIN_EVENT, GapMillis: gap.Milliseconds()}}
}

// ProcessingTimeSessionWindows are session windows in processing time.
func ProcessingTimeSessionWindows(gap time.Duration) WindowAssigner {
	a := EventTimeSessionWindows(gap)
	a.spec.Time = weirv1.TimeDomain_TIME_DOMAIN_PROCESSING
	return a
}

// WithOffset shifts tumbling and sliding window starts by offset (for
// windows aligned to a time zone, say).
func (a WindowAssigner) WithOffset(offset time.Duration) WindowAssigner {
	s := proto.Clone(a.spec).(*weirv1.WindowSpec)
	s.OffsetMillis = offset.Milliseconds()
	return WindowAssigner{s}
}

// ValidateWindowSpec checks a window spec; the error names the field.
func ValidateWindowSpec(s *weirv1.WindowSpec) error {
	if s == nil {
		return errors.New("window: missing")
	}
	switch s.GetTime() {
	case weirv1.TimeDomain_TIME_DOMAIN_EVENT, weirv1.TimeDomain_TIME_DOMAIN_PROCESSING:
	default:
		return fmt.Errorf("window.time: %v is not a time domain (event or processing)", s.GetTime())
	}
	switch s.GetKind() {
	case weirv1.WindowKind_WINDOW_KIND_TUMBLING:
		if s.GetSizeMillis() <= 0 {
			return fmt.Errorf("window.size_millis: %d, must be at least 1 ms", s.GetSizeMillis())
		}
	case weirv1.WindowKind_WINDOW_KIND_SLIDING:
		if s.GetSizeMillis() <= 0 {
			return fmt.Errorf("window.size_millis: %d, must be at least 1 ms", s.GetSizeMillis())
		}
		if s.GetSlideMillis() <= 0 || s.GetSlideMillis() > s.GetSizeMillis() {
			return fmt.Errorf("window.slide_millis: %d, must be between 1 ms and the size (%d ms)", s.GetSlideMillis(), s.GetSizeMillis())
		}
	case weirv1.WindowKind_WINDOW_KIND_SESSION:
		if s.GetGapMillis() <= 0 {
			return fmt.Errorf("window.gap_millis: %d, must be at least 1 ms", s.GetGapMillis())
		}
	default:
		return fmt.Errorf("window.kind: %v is not a window kind (tumbling, sliding or session)", s.GetKind())
	}
	if s.GetAllowedLatenessMillis() < 0 {
		return fmt.Errorf("window.allowed_lateness_millis: %d, must not be negative", s.GetAllowedLatenessMillis())
	}
	if s.GetAllowedLatenessMillis() > 0 && s.GetTime() != weirv1.TimeDomain_TIME_DOMAIN_EVENT {
		return errors.New("window.allowed_lateness_millis: only event-time windows have late records")
	}
	return nil
}

// WindowedStream is a keyed stream grouped into windows; a window function
// (Reduce, AggregateWindow, ProcessWindow) turns each window into output.
type WindowedStream[K, T any] struct {
	ks   KeyedStream[K, T]
	spec *weirv1.WindowSpec
}

// Window groups the keyed stream into the windows a assigns.
func (ks KeyedStream[K, T]) Window(a WindowAssigner) WindowedStream[K, T] {
	s := proto.Clone(a.spec).(*weirv1.WindowSpec)
	return WindowedStream[K, T]{ks: ks, spec: s}
}

// AllowedLateness keeps each event-time window's state for d past its end:
// a record arriving within it updates the window, which fires again.
func (w WindowedStream[K, T]) AllowedLateness(d time.Duration) WindowedStream[K, T] {
	s := proto.Clone(w.spec).(*weirv1.WindowSpec)
	s.AllowedLatenessMillis = d.Milliseconds()
	w.spec = s
	return w
}

// SideOutputLateData sends late records (for windows whose state is
// already dropped) to the side output that LateData reads, instead of
// dropping them.
func (w WindowedStream[K, T]) SideOutputLateData() WindowedStream[K, T] {
	s := proto.Clone(w.spec).(*weirv1.WindowSpec)
	s.LateSideOutput = true
	w.spec = s
	return w
}

func (w WindowedStream[K, T]) add(f any) *weirv1.Operator {
	e := w.ks.env
	if err := ValidateWindowSpec(w.spec); err != nil {
		e.Fail(err)
	}
	op := e.add(weirv1.OperatorKind_OPERATOR_KIND_WINDOW, "", f, w.ks.in)
	op.Window = w.spec
	return op
}

// Reduce combines the records of each window and key with f and emits the
// result when the window fires. f is registered with RegisterReduce.
func (w WindowedStream[K, T]) Reduce(f ReduceFunction[T]) DataStream[T] {
	return DataStream[T]{env: w.ks.env, op: w.add(f)}
}

// AggregateWindow aggregates the records of each window and key with f and
// emits its result when the window fires. f is registered with
// RegisterWindowAggregate.
func AggregateWindow[Out, K, In, Acc any](w WindowedStream[K, In], f AggregateFunction[In, Acc, Out]) DataStream[Out] {
	return DataStream[Out]{env: w.ks.env, op: w.add(f)}
}

// ProcessWindow hands all records of each window and key to f when the
// window fires. f is registered with RegisterProcessWindow. It keeps every
// record until its window fires; prefer Reduce or AggregateWindow.
func ProcessWindow[Out, K, In any](w WindowedStream[K, In], f ProcessWindowFunction[K, In, Out]) DataStream[Out] {
	return DataStream[Out]{env: w.ks.env, op: w.add(f)}
}

// LateSideOutput names the side output of a window operator's late records.
const LateSideOutput = "late"

// LateData returns the late records of the window operator that produced
// s, which must have SideOutputLateData. T is the window's input type.
func LateData[T, Out any](s DataStream[Out]) DataStream[T] {
	e := s.env
	if s.op.GetKind() != weirv1.OperatorKind_OPERATOR_KIND_WINDOW || !s.op.GetWindow().GetLateSideOutput() {
		e.Fail(fmt.Errorf("stream: LateData of %q, which is not a window operator with SideOutputLateData", s.op.GetName()))
	}
	return DataStream[T]{env: e, op: s.op, side: LateSideOutput}
}

// WindowContext describes the window being emitted.
type WindowContext[K any] struct {
	key       []byte
	keyCodec  Codec[K]
	window    Window
	watermark int64
}

// Key returns the key of the window.
func (c *WindowContext[K]) Key() K {
	k, err := c.keyCodec.Decode(c.key)
	if err != nil {
		panic(fmt.Sprintf("stream: decoding the current key: %v", err))
	}
	return k
}

// Window returns the window.
func (c *WindowContext[K]) Window() Window { return c.window }

// CurrentWatermark returns the operator's watermark.
func (c *WindowContext[K]) CurrentWatermark() int64 { return c.watermark }

// ProcessWindowFunction turns all records of a window and key into output.
type ProcessWindowFunction[K, In, Out any] interface {
	Process(ctx *WindowContext[K], elements []In, out Collector[Out]) error
}

// WindowResultFunction is implemented by window aggregate functions whose
// result depends on the key or the window: it replaces GetResult.
type WindowResultFunction[K, Acc, Out any] interface {
	WindowResult(ctx *WindowContext[K], acc Acc) (Out, error)
}

// RegisterWindowAggregate registers an aggregate function for
// AggregateWindow under name.
func RegisterWindowAggregate[K, In, Acc, Out any](name string, f AggregateFunction[In, Acc, Out]) {
	register(&entry{name: name, kind: weirv1.OperatorKind_OPERATOR_KIND_WINDOW, typ: reflect.TypeOf(f),
		in: opsFor[In](), out: opsFor[Out](), key: opsFor[K](),
		build: func(rt *buildContext, fn, next any) (any, error) {
			f := fn.(AggregateFunction[In, Acc, Out])
			res, _ := fn.(WindowResultFunction[K, Acc, Out])
			ac := CodecFor[Acc]()
			var buf []byte
			c := windowContents[K, In, Out]{
				add: func(acc []byte, v In) ([]byte, error) {
					a := f.CreateAccumulator()
					if acc != nil {
						var err error
						if a, err = ac.Decode(acc); err != nil {
							return nil, err
						}
					}
					buf = ac.Append(buf[:0], f.Add(v, a))
					return buf, nil
				},
				merge: func(x, y []byte) ([]byte, error) {
					a, err := ac.Decode(x)
					if err != nil {
						return nil, err
					}
					b, err := ac.Decode(y)
					if err != nil {
						return nil, err
					}
					return ac.Append(nil, f.Merge(a, b)), nil
				},
				merges: true,
				emit: func(ctx *WindowContext[K], acc []byte, out Collector[Out]) error {
					a, err := ac.Decode(acc)
					if err != nil {
						return err
					}
					if res != nil {
						o, err := res.WindowResult(ctx, a)
						if err != nil {
							return err
						}
						out.Collect(o)
						return nil
					}
					out.Collect(f.GetResult(a))
					return nil
				},
			}
			return newWindowOp(rt, c, next.(Collector[Out]))
		}})
}

// RegisterProcessWindow registers a process window function under name.
func RegisterProcessWindow[K, In, Out any](name string, f ProcessWindowFunction[K, In, Out]) {
	register(&entry{name: name, kind: weirv1.OperatorKind_OPERATOR_KIND_WINDOW, typ: reflect.TypeOf(f),
		in: opsFor[In](), out: opsFor[Out](), key: opsFor[K](),
		build: func(rt *buildContext, fn, next any) (any, error) {
			f := fn.(ProcessWindowFunction[K, In, Out])
			vc := CodecFor[In]()
			var buf, elem []byte
			var elems []In
			c := windowContents[K, In, Out]{
				add: func(acc []byte, v In) ([]byte, error) {
					elem = vc.Append(elem[:0], v)
					buf = statebackend.AppendListElement(append(buf[:0], acc...), elem)
					return buf, nil
				},
				merge: func(x, y []byte) ([]byte, error) {
					return append(append([]byte(nil), x...), y...), nil
				},
				emit: func(ctx *WindowContext[K], acc []byte, out Collector[Out]) error {
					elems = elems[:0]
					var derr error
					err := statebackend.RangeList(acc, func(e []byte) bool {
						v, err := vc.Decode(e)
						if err != nil {
							derr = err
							return false
						}
						elems = append(elems, v)
						return true
					})
					if err = errors.Join(err, derr); err != nil {
						return err
					}
					return f.Process(ctx, elems, out)
				},
			}
			return newWindowOp(rt, c, next.(Collector[Out]))
		}})
}

// windowReduce builds the window operator of a reduce function registered
// with RegisterReduce.
func windowReduce[T any](rt *buildContext, fn any, next Collector[T]) (any, error) {
	f := fn.(ReduceFunction[T])
	vc := CodecFor[T]()
	var buf []byte
	c := windowContents[[]byte, T, T]{
		add: func(acc []byte, v T) ([]byte, error) {
			if acc != nil {
				a, err := vc.Decode(acc)
				if err != nil {
					return nil, err
				}
				if v, err = f.Reduce(a, v); err != nil {
					return nil, err
				}
			}
			buf = vc.Append(buf[:0], v)
			return buf, nil
		},
		merge: func(x, y []byte) ([]byte, error) {
			a, err := vc.Decode(x)
			if err != nil {
				return nil, err
			}
			b, err := vc.Decode(y)
			if err != nil {
				return nil, err
			}
			r, err := f.Reduce(a, b)
			if err != nil {
				return nil, err
			}
			return vc.Append(nil, r), nil
		},
		emit: func(_ *WindowContext[[]byte], acc []byte, out Collector[T]) error {
			v, err := vc.Decode(acc)
			if err != nil {
				return err
			}
			out.Collect(v)
			return nil
		},
	}
	return newWindowOp(rt, c, next)
}

// windowContents is what a window function keeps per window, as encoded
// accumulators: add folds a record in (acc is nil for a new window; the
// result may be reused by the next call), merge joins two sessions, emit
// produces the window's output. merges says that merge joins any two
// accumulators as if one had seen the records of both, in any order, so
// that sliding windows may keep slices (window_slice.go).
type windowContents[K, In, Out any] struct {
	add    func(acc []byte, v In) ([]byte, error)
	merge  func(a, b []byte) ([]byte, error)
	emit   func(ctx *WindowContext[K], acc []byte, out Collector[Out]) error
	merges bool
}

// windowOp is Flink's WindowOperator with the default trigger of its
// assigner.
type windowOp[K, In, Out any] struct {
	spec     *weirv1.WindowSpec
	event    bool // event time, else processing time
	lateness int64
	c        windowContents[K, In, Out]
	key      func(In) ([]byte, int)
	b        statebackend.KeyedBackend
	contents statebackend.StateID // map: window (or slice) -> accumulator, per key
	slice    int64                // a slice's length; 0 keeps one accumulator per window
	timers   *timerService
	ts       *int64
	next     Collector[Out]
	late     Collector[In] // side output; nil drops late records
	fail     *failure
	ctx      WindowContext[K]

	windows []Window // scratch
	slices  []slice  // scratch
	wk      []byte
	// LateDropped counts the late records dropped.
	lateDropped int64
}

func newWindowOp[K, In, Out any](rt *buildContext, c windowContents[K, In, Out], next Collector[Out]) (*windowOp[K, In, Out], error) {
	spec := rt.op.GetWindow()
	if err := ValidateWindowSpec(spec); err != nil {
		return nil, err
	}
	key, err := keyerFor[In](rt)
	if err != nil {
		return nil, err
	}
	name, slice := "window-contents", int64(0)
	if sliced(spec, c.merges) {
		// Another state than the windows', so that neither layout is read as the other.
		name, slice = "window-slices", gcd(spec.GetSizeMillis(), spec.GetSlideMillis())
	}
	id, err := rt.backend.Register(reservedPrefix+name, statebackend.KindMap)
	if err != nil {
		return nil, err
	}
	ts, err := newTimerService(rt)
	if err != nil {
		return nil, err
	}
	o := &windowOp[K, In, Out]{spec: spec, event: spec.GetTime() == weirv1.TimeDomain_TIME_DOMAIN_EVENT,
		lateness: spec.GetAllowedLatenessMillis(), c: c, key: key, b: rt.backend, contents: id, slice: slice, timers: ts,
		ts: &rt.chain.ts, next: next, fail: rt.fail, ctx: WindowContext[K]{keyCodec: CodecFor[K]()}}
	if spec.GetLateSideOutput() {
		if rt.late != nil {
			o.late = rt.late.(Collector[In])
		}
	}
	ts.onTimer = o.onTimer
	return o, nil
}

func windowKey(dst []byte, w Window) []byte {
	dst = binary.BigEndian.AppendUint64(dst, uint64(w.Start)^(1<<63))
	return binary.BigEndian.AppendUint64(dst, uint64(w.End)^(1<<63))
}

func parseWindowKey(b []byte) (Window, bool) {
	if len(b) != 16 {
		return Window{}, false
	}
	return Window{Start: int64(binary.BigEndian.Uint64(b) ^ (1 << 63)), End: int64(binary.BigEndian.Uint64(b[8:]) ^ (1 << 63))}, true
}

// assign returns the windows of a record at time t (Flink's assigners).
func (o *windowOp[K, In, Out]) assign(t int64) []Window {
	s := o.spec
	o.windows = o.windows[:0]
	switch s.GetKind() {
	case weirv1.WindowKind_WINDOW_KIND_TUMBLING:
		start := windowStart(t, s.GetOffsetMillis(), s.GetSizeMillis())
		o.windows = append(o.windows, Window{start, start + s.GetSizeMillis()})
	case weirv1.WindowKind_WINDOW_KIND_SLIDING:
		last := windowStart(t, s.GetOffsetMillis(), s.GetSlideMillis())
		for start := last; start > t-s.GetSizeMillis(); start -= s.GetSlideMillis() {
			o.windows = append(o.windows, Window{start, start + s.GetSizeMillis()})
		}
	case weirv1.WindowKind_WINDOW_KIND_SESSION:
		o.windows = append(o.windows, Window{t, t + s.GetGapMillis()})
	}
	return o.windows
}

// windowStart is Flink's TimeWindow.getWindowStartWithOffset.
func windowStart(t, offset, size int64) int64 {
	r := (t - offset + size) % size
	if r < 0 {
		r += size
	}
	return t - r
}

func (o *windowOp[K, In, Out]) cleanupTime(w Window) int64 {
	if !o.event {
		return w.MaxTimestamp()
	}
	if w.MaxTimestamp() > MaxWatermark-o.lateness {
		return MaxWatermark
	}
	return w.MaxTimestamp() + o.lateness
}

func (o *windowOp[K, In, Out]) domain() TimeDomain {
	if o.event {
		return EventTime
	}
	return ProcessingTime
}

func (o *windowOp[K, In, Out]) Collect(v In) {
	if err := o.collect(v); err != nil {
		o.fail.set(err)
	}
}

func (o *windowOp[K, In, Out]) collect(v In) error {
	key, kg := o.key(v)
	t := *o.ts
	wm := o.timers.watermark
	if o.event {
		if t == NoTimestamp {
			return errors.New("window: a record has no event timestamp; assign timestamps (AssignTimestampsAndWatermarks) before an event-time window")
		}
	} else {
		t = o.timers.procTime()
	}
	windows := o.assign(t)
	if o.slice != 0 {
		return o.collectSliced(v, t, windows, key, kg)
	}
	if o.spec.GetKind() == weirv1.WindowKind_WINDOW_KIND_SESSION {
		w, err := o.mergeSessions(windows[0], key, kg, wm)
		if err != nil {
			return err
		}
		windows[0] = w
	}
	late := true
	for _, w := range windows {
		if o.event && o.cleanupTime(w) <= wm {
			continue
		}
		late = false
		acc, _, err := o.accumulate(w, v)
		if err != nil {
			return err
		}
		if o.event && w.MaxTimestamp() <= wm {
			// A late record within the allowed lateness: fire again.
			if err := o.emit(key, w, acc); err != nil {
				return err
			}
		} else {
			o.timers.register(o.domain(), w.MaxTimestamp(), key, kg)
		}
		if c := o.cleanupTime(w); c != w.MaxTimestamp() {
			o.timers.register(o.domain(), c, key, kg)
		}
	}
	if late {
		if o.late != nil {
			o.late.Collect(v)
		} else {
			o.lateDropped++
		}
	}
	return nil
}

// mergeSessions merges the new session w with the key's sessions it
// intersects and returns the merged window, whose state then holds the
// merged accumulator. A merged window that is already late changes
// nothing: the record is late.
func (o *windowOp[K, In, Out]) mergeSessions(w Window, key []byte, kg int, wm int64) (Window, error) {
	merged := w
	var parts []Window
	var bad bool
	o.b.MapRange(o.contents, func(k, _ []byte) bool {
		ew, ok := parseWindowKey(k)
		if !ok {
			bad = true
			return false
		}
		if ew.intersects(w) {
			parts = append(parts, ew)
			merged.Start, merged.End = min(merged.Start, ew.Start), max(merged.End, ew.End)
		}
		return true
	})
	if bad {
		return w, errors.New("window: malformed window in state")
	}
	if len(parts) == 0 || (len(parts) == 1 && parts[0] == merged) {
		return merged, nil
	}
	if o.event && o.cleanupTime(merged) <= wm {
		return merged, nil
	}
	var acc []byte
	for _, p := range parts {
		o.wk = windowKey(o.wk[:0], p)
		a, _ := o.b.MapGet(o.contents, o.wk)
		if acc == nil {
			acc = append([]byte(nil), a...)
		} else {
			var err error
			if acc, err = o.c.merge(acc, a); err != nil {
				return w, err
			}
		}
		o.b.MapDelete(o.contents, o.wk)
		o.timers.remove(o.domain(), p.MaxTimestamp(), key, kg)
		if c := o.cleanupTime(p); c != p.MaxTimestamp() {
			o.timers.remove(o.domain(), c, key, kg)
		}
	}
	o.wk = windowKey(o.wk[:0], merged)
	o.b.MapPut(o.contents, o.wk, acc)
	return merged, nil
}

func (o *windowOp[K, In, Out]) emit(key []byte, w Window, acc []byte) error {
	o.ctx.key, o.ctx.window, o.ctx.watermark = key, w, o.timers.watermark
	*o.ts = w.MaxTimestamp()
	return o.c.emit(&o.ctx, acc, o.next)
}

// accumulate adds v to the accumulator of window w (a slice, for sliced
// windows) of the current key. It returns the accumulator as stored and
// whether w had one before.
func (o *windowOp[K, In, Out]) accumulate(w Window, v In) (acc []byte, existed bool, err error) {
	o.wk = windowKey(o.wk[:0], w)
	acc, existed = o.b.MapGet(o.contents, o.wk)
	if !existed {
		acc = nil
	}
	if acc, err = o.c.add(acc, v); err != nil {
		return nil, false, err
	}
	o.b.MapPut(o.contents, o.wk, acc)
	return acc, existed, nil
}

type firing struct {
	w     Window
	fire  bool
	clear bool
}

// onTimer fires the key's windows that end at ts and drops those whose
// cleanup time is ts.
func (o *windowOp[K, In, Out]) onTimer(d TimeDomain, ts int64, key []byte, kg int) error {
	if d != o.domain() {
		return nil
	}
	if o.slice != 0 {
		return o.onTimerSliced(ts, key, kg)
	}
	var due []firing
	var bad bool
	o.b.MapRange(o.contents, func(k, _ []byte) bool {
		w, ok := parseWindowKey(k)
		if !ok {
			bad = true
			return false
		}
		f := firing{w: w, fire: w.MaxTimestamp() == ts, clear: o.cleanupTime(w) == ts}
		if f.fire || f.clear {
			due = append(due, f)
		}
		return true
	})
	if bad {
		return errors.New("window: malformed window in state")
	}
	for _, f := range due {
		o.b.SetCurrentKey(key, kg)
		o.wk = windowKey(o.wk[:0], f.w)
		if f.fire {
			acc, ok := o.b.MapGet(o.contents, o.wk)
			if ok {
				acc = append([]byte(nil), acc...) // emit may touch the backend
				if err := o.emit(key, f.w, acc); err != nil {
					return err
				}
				o.b.SetCurrentKey(key, kg)
			}
		}
		if f.clear {
			o.b.MapDelete(o.contents, o.wk)
		}
	}
	return nil
}
