package stream

import (
	"container/heap"
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/weirstream/weir/internal/keygroup"
	"github.com/weirstream/weir/internal/statebackend"
)

// Timers live in the keyed state backend, in a reserved state of a reserved
// key per key group, so they are checkpointed, restored and redistributed
// by key group like any other keyed state, on every backend, without a
// change to the KeyedBackend interface (Flink keeps them in its state
// backend too: InternalTimerService). The reserved state holds one map
// entry per timer:
//
//	user key = domain:1 | timestamp:8 big-endian, sign bit flipped | key
//
// so a timer is unique per (domain, key, timestamp): registering it again
// changes nothing. The task goroutine also keeps every timer in a
// min-heap per domain, rebuilt from the backend on restore, to find the
// due ones; a deleted timer stays in the heap and is skipped when it comes
// up, as the backend no longer has it.
//
// The reserved key also holds the operator's watermark, written before
// every snapshot, so a restored operator resumes at the watermark of its
// checkpoint instead of going back to the start of time.

// reservedPrefix starts the names of the states Weir keeps in a keyed
// backend for itself; user state names may not start with it.
const reservedPrefix = "__weir."

var reservedKey = []byte{}

type timer struct {
	ts  int64
	kg  int
	key string
}

type timerHeap []timer

func (h timerHeap) Len() int           { return len(h) }
func (h timerHeap) Less(i, j int) bool { return h[i].ts < h[j].ts }
func (h timerHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *timerHeap) Push(x any)        { *h = append(*h, x.(timer)) }
func (h *timerHeap) Pop() any {
	old := *h
	t := old[len(old)-1]
	*h = old[:len(old)-1]
	return t
}

// timerService holds the timers and the watermark of a keyed operator.
// onTimer is called with the backend scoped to the timer's key.
type timerService struct {
	b         statebackend.KeyedBackend
	timers    statebackend.StateID
	wmState   statebackend.StateID
	kgs       keygroup.Range
	queues    [3]timerHeap // by TimeDomain
	watermark int64
	procTime  func() int64
	onTimer   func(d TimeDomain, ts int64, key []byte, kg int) error

	uk, kb []byte
}

func newTimerService(rt *buildContext) (*timerService, error) {
	b := rt.backend
	tid, err := b.Register(reservedPrefix+"timers", statebackend.KindMap)
	if err != nil {
		return nil, err
	}
	wid, err := b.Register(reservedPrefix+"watermark", statebackend.KindValue)
	if err != nil {
		return nil, err
	}
	info := rt.info
	s := &timerService{b: b, timers: tid, wmState: wid, watermark: NoTimestamp,
		kgs: keygroup.RangeOf(info.SubtaskIndex, info.Parallelism, info.MaxParallelism)}
	last := NoTimestamp
	s.procTime = func() int64 {
		// Processing time never goes back, even if the wall clock does.
		if info.Clock != nil {
			last = max(last, info.Clock.Now().UnixMilli())
		}
		return last
	}
	if err := s.load(); err != nil {
		return nil, err
	}
	rt.chain.timers = s
	return s, nil
}

// load rebuilds the heaps and the watermark from the backend: empty on a
// fresh start, the checkpoint's after a restore.
func (s *timerService) load() error {
	restored := false
	wm := MaxWatermark
	for kg := s.kgs.Start; kg < s.kgs.End; kg++ {
		s.b.SetCurrentKey(reservedKey, kg)
		if v, ok := s.b.Get(s.wmState); ok {
			if len(v) != 8 {
				return fmt.Errorf("restoring timers: watermark of key group %d has %d bytes", kg, len(v))
			}
			restored = true
			wm = min(wm, int64(binary.BigEndian.Uint64(v)))
		}
		var bad error
		s.b.MapRange(s.timers, func(uk, _ []byte) bool {
			if len(uk) < 9 || (uk[0] != byte(EventTime) && uk[0] != byte(ProcessingTime)) {
				bad = fmt.Errorf("restoring timers: malformed timer entry in key group %d", kg)
				return false
			}
			ts := int64(binary.BigEndian.Uint64(uk[1:9]) ^ (1 << 63))
			s.queues[uk[0]] = append(s.queues[uk[0]], timer{ts: ts, kg: kg, key: string(uk[9:])})
			return true
		})
		if bad != nil {
			return bad
		}
	}
	if restored {
		s.watermark = wm
	}
	heap.Init(&s.queues[EventTime])
	heap.Init(&s.queues[ProcessingTime])
	return nil
}

func (s *timerService) userKey(d TimeDomain, ts int64, key []byte) []byte {
	s.uk = append(s.uk[:0], byte(d))
	s.uk = binary.BigEndian.AppendUint64(s.uk, uint64(ts)^(1<<63))
	return append(s.uk, key...)
}

var timerPresent = []byte{1}

// register adds a timer for key (in key group kg) unless it exists, and
// leaves the backend scoped to key.
func (s *timerService) register(d TimeDomain, ts int64, key []byte, kg int) {
	uk := s.userKey(d, ts, key)
	s.b.SetCurrentKey(reservedKey, kg)
	if _, ok := s.b.MapGet(s.timers, uk); !ok {
		s.b.MapPut(s.timers, uk, timerPresent)
		heap.Push(&s.queues[d], timer{ts: ts, kg: kg, key: string(key)})
	}
	s.b.SetCurrentKey(key, kg)
}

// remove deletes a timer and leaves the backend scoped to key.
func (s *timerService) remove(d TimeDomain, ts int64, key []byte, kg int) {
	uk := s.userKey(d, ts, key)
	s.b.SetCurrentKey(reservedKey, kg)
	s.b.MapDelete(s.timers, uk)
	s.b.SetCurrentKey(key, kg)
}

// fire runs every timer of domain d due at t, in timestamp order,
// including those that firing timers register for t or earlier.
func (s *timerService) fire(d TimeDomain, t int64) error {
	q := &s.queues[d]
	for len(*q) > 0 && (*q)[0].ts <= t {
		tm := heap.Pop(q).(timer)
		s.kb = append(s.kb[:0], tm.key...)
		uk := s.userKey(d, tm.ts, s.kb)
		s.b.SetCurrentKey(reservedKey, tm.kg)
		if _, ok := s.b.MapGet(s.timers, uk); !ok {
			continue // deleted
		}
		s.b.MapDelete(s.timers, uk)
		s.b.SetCurrentKey(s.kb, tm.kg)
		if err := s.onTimer(d, tm.ts, s.kb, tm.kg); err != nil {
			return err
		}
	}
	return nil
}

// advanceWatermark moves the watermark to wm, firing the event-time timers
// it passes. A lower watermark changes nothing.
func (s *timerService) advanceWatermark(wm int64) error {
	if wm <= s.watermark {
		return nil
	}
	s.watermark = wm
	return s.fire(EventTime, wm)
}

// nextProcessingTimer returns the earliest processing-time timer.
func (s *timerService) nextProcessingTimer() (int64, bool) {
	q := s.queues[ProcessingTime]
	if len(q) == 0 {
		return 0, false
	}
	return q[0].ts, true
}

// persist writes the watermark into every key group of the backend, ahead
// of a snapshot.
func (s *timerService) persist() {
	if s.watermark == NoTimestamp {
		return
	}
	v := binary.BigEndian.AppendUint64(nil, uint64(s.watermark))
	for kg := s.kgs.Start; kg < s.kgs.End; kg++ {
		s.b.SetCurrentKey(reservedKey, kg)
		s.b.Put(s.wmState, v)
	}
}

func checkStateName(name string) error {
	if strings.HasPrefix(name, reservedPrefix) {
		return fmt.Errorf("stream: state name %q: names starting with %q are reserved", name, reservedPrefix)
	}
	return nil
}

// TimerService registers timers for the current key (Flink's
// TimerService). Timestamps are milliseconds since the epoch.
type TimerService struct {
	s   *timerService
	key *[]byte
	kg  *int
}

// CurrentProcessingTime returns the processing time in milliseconds since
// the epoch, from the task's clock. It never goes back.
func (t TimerService) CurrentProcessingTime() int64 { return t.s.procTime() }

// CurrentWatermark returns the operator's event-time watermark.
func (t TimerService) CurrentWatermark() int64 { return t.s.watermark }

// RegisterEventTimeTimer makes OnTimer run for the current key once the
// watermark reaches ts. A timer exists once per key and timestamp.
func (t TimerService) RegisterEventTimeTimer(ts int64) {
	t.s.register(EventTime, ts, *t.key, *t.kg)
}

// RegisterProcessingTimeTimer makes OnTimer run for the current key once
// processing time reaches ts.
func (t TimerService) RegisterProcessingTimeTimer(ts int64) {
	t.s.register(ProcessingTime, ts, *t.key, *t.kg)
}

// DeleteEventTimeTimer removes the current key's event-time timer at ts.
func (t TimerService) DeleteEventTimeTimer(ts int64) { t.s.remove(EventTime, ts, *t.key, *t.kg) }

// DeleteProcessingTimeTimer removes the current key's processing-time timer
// at ts.
func (t TimerService) DeleteProcessingTimeTimer(ts int64) {
	t.s.remove(ProcessingTime, ts, *t.key, *t.kg)
}

// TimerFunction is implemented by keyed process functions that use timers:
// OnTimer runs when a timer of the current key fires, with state scoped to
// that key. ctx.Timestamp is the timer's timestamp, which is also the
// timestamp of what OnTimer emits.
type TimerFunction[K, Out any] interface {
	OnTimer(ctx *KeyedContext[K], ts int64, out Collector[Out]) error
}
