package stream

import (
	"fmt"
	"math"
	"reflect"
	"time"

	weirv1 "github.com/weirstream/weir/api/proto/weir/v1"
)

// Event time. Every record in a chain carries an event timestamp in
// milliseconds since the epoch, or NoTimestamp. Timestamps travel with the
// records over the network (internal/network's KindTimedRecord), are set by
// a TimestampAssigner or by a source that knows them
// (TimestampCollector), are kept through map, flat-map and filter, and are
// the window's last millisecond for what a window emits.
//
// A watermark t says that no record with a timestamp at or before t is
// expected any more. Watermarks are generated after the timestamp
// assigner, flow in-band with the records, and a task's watermark is the
// minimum over its input channels, leaving out the idle and the ended
// ones; it never goes back, also not across a restore (keyed operators
// keep it with their state). Sources send MaxWatermark at the end of their
// input, so every event-time window fires.

// NoTimestamp is the timestamp of a record that has none.
const NoTimestamp int64 = math.MinInt64

// MaxWatermark is the watermark at the end of input: every event-time timer
// fires.
const MaxWatermark int64 = math.MaxInt64

// TimestampAssigner extracts the event timestamp of a record, in
// milliseconds since the epoch. recordTimestamp is the timestamp the record
// already has (from its source), or NoTimestamp.
type TimestampAssigner[T any] interface {
	ExtractTimestamp(v T, recordTimestamp int64) int64
}

// TimestampCollector is implemented by the Collector that a source reader
// emits into: a reader whose input has timestamps (Kafka record
// timestamps) emits them with the record.
type TimestampCollector[T any] interface {
	Collector[T]
	CollectWithTimestamp(v T, ts int64)
}

// WatermarkStrategy says how records get their timestamps and how
// watermarks follow them (Flink's WatermarkStrategy).
type WatermarkStrategy[T any] struct {
	// Timestamps extracts each record's timestamp; a registered function.
	Timestamps TimestampAssigner[T]
	// OutOfOrderness bounds how late a record may come after a record with
	// a higher timestamp: the watermark trails the highest timestamp seen
	// by this much (plus one millisecond). 0 is for monotonous timestamps.
	OutOfOrderness time.Duration
	// Idleness marks the input idle once it has had no record for this
	// long (processing time), so it does not hold back the watermark
	// downstream; 0 never marks it idle.
	Idleness time.Duration
}

// ForBoundedOutOfOrderness is the strategy for timestamps that arrive at
// most d out of order.
func ForBoundedOutOfOrderness[T any](ts TimestampAssigner[T], d time.Duration) WatermarkStrategy[T] {
	return WatermarkStrategy[T]{Timestamps: ts, OutOfOrderness: d}
}

// ForMonotonousTimestamps is the strategy for timestamps that never
// decrease.
func ForMonotonousTimestamps[T any](ts TimestampAssigner[T]) WatermarkStrategy[T] {
	return WatermarkStrategy[T]{Timestamps: ts}
}

// WithIdleness returns the strategy with idleness timeout d.
func (s WatermarkStrategy[T]) WithIdleness(d time.Duration) WatermarkStrategy[T] {
	s.Idleness = d
	return s
}

// AssignTimestampsAndWatermarks gives each record the timestamp s extracts
// and generates watermarks after it. Put it right after the source (it is
// chained to it), so that watermarks are generated per source subtask.
func AssignTimestampsAndWatermarks[T any](in DataStream[T], s WatermarkStrategy[T]) DataStream[T] {
	e := in.env
	if s.Timestamps == nil {
		e.Fail(fmt.Errorf("stream: a watermark strategy needs a timestamp assigner"))
	}
	if s.OutOfOrderness < 0 || s.Idleness < 0 {
		e.Fail(fmt.Errorf("stream: watermark strategy: out-of-orderness %v and idleness %v must not be negative", s.OutOfOrderness, s.Idleness))
	}
	op := e.add(weirv1.OperatorKind_OPERATOR_KIND_TIMESTAMPS, "Timestamps/Watermarks", s.Timestamps, in.forward())
	op.Watermarks = &weirv1.WatermarkSpec{OutOfOrdernessMillis: s.OutOfOrderness.Milliseconds(), IdlenessMillis: s.Idleness.Milliseconds()}
	return DataStream[T]{env: e, op: op}
}

// RegisterTimestampAssigner registers a timestamp assigner under name.
func RegisterTimestampAssigner[T any](name string, f TimestampAssigner[T]) {
	ops := opsFor[T]()
	register(&entry{name: name, kind: weirv1.OperatorKind_OPERATOR_KIND_TIMESTAMPS, typ: reflect.TypeOf(f),
		in: ops, out: ops,
		build: func(rt *buildContext, fn, next any) (any, error) {
			spec := rt.op.GetWatermarks()
			if spec.GetOutOfOrdernessMillis() < 0 || spec.GetIdlenessMillis() < 0 {
				return nil, fmt.Errorf("watermarks: out_of_orderness_millis and idleness_millis must not be negative")
			}
			g := &watermarkGenerator{ooo: spec.GetOutOfOrdernessMillis(), idleness: time.Duration(spec.GetIdlenessMillis()) * time.Millisecond,
				split: &rt.chain.split}
			rt.chain.generators = append(rt.chain.generators, g)
			return &timestampsOp[T]{f: fn.(TimestampAssigner[T]), ts: &rt.chain.ts, gen: g, next: next.(Collector[T])}, nil
		}})
}

// timestampsOp assigns timestamps and feeds the chain's watermark
// generator.
type timestampsOp[T any] struct {
	f    TimestampAssigner[T]
	ts   *int64
	gen  *watermarkGenerator
	next Collector[T]
}

func (o *timestampsOp[T]) Collect(v T) {
	t := o.f.ExtractTimestamp(v, *o.ts)
	*o.ts = t
	o.gen.observe(t)
	o.next.Collect(v)
}

// watermarkGenerator is Flink's BoundedOutOfOrdernessWatermarks with
// idleness: the watermark is the highest timestamp seen minus the
// out-of-orderness minus 1. A source whose reader reads several splits
// (partitions) and says which record came from which
// (SplitCollector) gets a watermark per split, combined as the minimum
// over the splits that are not idle, as Flink's per-split watermarks. The
// task asks for the watermark after every batch, not per record.
type watermarkGenerator struct {
	ooo      int64
	idleness time.Duration
	split    *int // the split of the record being collected; nil or -1: none
	splits   []splitState
	idle     bool
}

type splitState struct {
	maxTs      int64
	records    int64     // records seen
	seen       int64     // records at the last check
	lastActive time.Time // processing time of the last check that saw records
	idle       bool
}

func (g *watermarkGenerator) observe(t int64) {
	i := 0
	if g.split != nil && *g.split >= 0 {
		i = *g.split + 1 // 0 is for records without a split
	}
	for len(g.splits) <= i {
		g.splits = append(g.splits, splitState{maxTs: NoTimestamp})
	}
	s := &g.splits[i]
	s.maxTs = max(s.maxTs, t)
	s.records++
}

// watermark returns the minimum over the splits that are not idle, and
// NoTimestamp while there is none.
func (g *watermarkGenerator) watermark() int64 {
	wm, any := MaxWatermark, false
	for _, s := range g.splits {
		if s.records == 0 || s.idle {
			continue
		}
		any = true
		w := NoTimestamp
		if s.maxTs != NoTimestamp && s.maxTs >= math.MinInt64+g.ooo+1 {
			w = s.maxTs - g.ooo - 1
		}
		wm = min(wm, w)
	}
	if !any {
		return NoTimestamp
	}
	return wm
}

// check updates idleness at processing time now: a split without records
// for the idleness timeout is idle, and the generator is idle when every
// split is (or none has had a record yet).
func (g *watermarkGenerator) check(now time.Time) {
	g.idle = true
	for i := range g.splits {
		s := &g.splits[i]
		if s.records != s.seen || s.lastActive.IsZero() {
			s.seen, s.lastActive, s.idle = s.records, now, false
		} else if g.idleness > 0 && now.Sub(s.lastActive) >= g.idleness {
			s.idle = true
		}
		g.idle = g.idle && s.idle
	}
	if len(g.splits) == 0 {
		g.idle = false // idleness counts from the first record
	}
}

// idleDeadline returns when the next split turns idle if no record comes.
func (g *watermarkGenerator) idleDeadline() (time.Time, bool) {
	var at time.Time
	ok := false
	if g.idleness <= 0 {
		return at, false
	}
	for _, s := range g.splits {
		if s.idle || s.lastActive.IsZero() {
			continue
		}
		if d := s.lastActive.Add(g.idleness); !ok || d.Before(at) {
			at, ok = d, true
		}
	}
	return at, ok
}

// SplitCollector is implemented by the Collector that a source reader
// emits into. A reader that reads several splits (Kafka partitions, files)
// says which split each record comes from, so that a timestamp assigner
// chained to the source keeps a watermark per split and combines them as
// the minimum over the splits that are not idle: a split that is behind
// holds the watermark back, one that is idle does not.
type SplitCollector[T any] interface {
	Collector[T]
	// CollectFromSplit emits v, read from split (0, 1, ...), with event
	// timestamp ts (NoTimestamp if the reader knows none).
	CollectFromSplit(split int, v T, ts int64)
}

// sourceOutput is the Collector a source reader emits into: records
// without a timestamp, or with one the reader knows, from a split or not.
type sourceOutput[T any] struct {
	next  Collector[T]
	ts    *int64
	split *int
}

var _ SplitCollector[int] = (*sourceOutput[int])(nil)
var _ TimestampCollector[int] = (*sourceOutput[int])(nil)

func (o *sourceOutput[T]) Collect(v T) {
	*o.ts, *o.split = NoTimestamp, -1
	o.next.Collect(v)
}

func (o *sourceOutput[T]) CollectWithTimestamp(v T, ts int64) {
	*o.ts, *o.split = ts, -1
	o.next.Collect(v)
}

func (o *sourceOutput[T]) CollectFromSplit(split int, v T, ts int64) {
	*o.ts, *o.split = ts, split
	o.next.Collect(v)
}

// TimeDomain says which clock a timer or window follows.
type TimeDomain int

const (
	// EventTime follows the records' timestamps through watermarks.
	EventTime TimeDomain = iota + 1
	// ProcessingTime follows the taskmanager's clock.
	ProcessingTime
)

func (d TimeDomain) String() string {
	switch d {
	case EventTime:
		return "event time"
	case ProcessingTime:
		return "processing time"
	}
	return fmt.Sprintf("TimeDomain(%d)", int(d))
}
