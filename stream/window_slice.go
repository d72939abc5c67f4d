package stream

import (
	"cmp"
	"errors"
	"slices"

	weirv1 "github.com/weirstream/weir/api/proto/weir/v1"
)

// Sliding event-time windows whose function merges accumulators
// (AggregateWindow and the built-in count and sum) are cut into slices, as
// Flink SQL's slice-shared windows and Arroyo do: a slice is
// gcd(size, slide) long and aligned like the windows, so every window is a
// run of whole slices and every record belongs to exactly one slice. The
// keyed state holds one accumulator per key and slice, so a record costs
// one read and one write of it where one per window would cost size/slide
// of each; a window's firing merges the accumulators of its slices, in
// order of their start.
//
// A slice is created by its first record, which registers the timers of
// the slice's windows that have not fired yet and, with allowed lateness,
// the slice's cleanup timer; later records of the slice register nothing,
// as the slice's existence says its timers are there. A timer fires the
// window that ends with it, if the key has slices in it, and drops the
// slices whose last window's cleanup time (its end + allowed lateness) has
// come. A record for a window that has fired but is within the allowed
// lateness updates its slice and fires that window again at once, as the
// per-window path does. The emitted windows, their contents and their
// timestamps are those of one accumulator per window, provided Merge
// combines two accumulators as if one had seen both inputs.
//
// Reduce and ProcessWindow keep one accumulator per window: a reduce
// function or a process function sees its records in arrival order, which
// merging slices would change. So do processing-time sliding windows: a
// processing-time window drops its state as it fires, which a slice that
// later windows share cannot.

// sliced reports whether the operator keeps slices rather than windows.
func sliced(spec *weirv1.WindowSpec, merges bool) bool {
	return merges && spec.GetKind() == weirv1.WindowKind_WINDOW_KIND_SLIDING && spec.GetTime() == weirv1.TimeDomain_TIME_DOMAIN_EVENT
}

func gcd(a, b int64) int64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// slice is a slice's window and accumulator, read from state.
type slice struct {
	w   Window
	acc []byte
}

// collectSliced adds the record v at time t to its slice, for the windows
// windows (the record's, latest first).
func (o *windowOp[K, In, Out]) collectSliced(v In, t int64, windows []Window, key []byte, kg int) error {
	wm := o.timers.watermark
	cleanup := o.cleanupTime(windows[0]) // the slice's last window
	if cleanup <= wm {
		if o.late != nil {
			o.late.Collect(v)
		} else {
			o.lateDropped++
		}
		return nil
	}
	start := windowStart(t, o.spec.GetOffsetMillis(), o.slice)
	_, exists, err := o.accumulate(Window{start, start + o.slice}, v)
	if err != nil {
		return err
	}
	for _, w := range windows {
		switch {
		case o.cleanupTime(w) <= wm:
			// Dropped: it fires no more.
		case w.MaxTimestamp() <= wm:
			// A late record within the allowed lateness: fire again.
			if err := o.fireSliced(key, kg, w); err != nil {
				return err
			}
		case !exists:
			o.timers.register(EventTime, w.MaxTimestamp(), key, kg)
		}
	}
	if !exists && cleanup != windows[0].MaxTimestamp() {
		o.timers.register(EventTime, cleanup, key, kg)
	}
	return nil
}

// loadSlices reads the current key's slices into o.slices, in order of
// start, and returns them. One range over the key's map costs less on
// Pebble than a point read per slice of the window, most of which are
// absent: Nexmark q5 ran a third faster with the range.
func (o *windowOp[K, In, Out]) loadSlices() ([]slice, error) {
	o.slices = o.slices[:0]
	var bad bool
	o.b.MapRange(o.contents, func(k, v []byte) bool {
		w, ok := parseWindowKey(k)
		if !ok {
			bad = true
			return false
		}
		o.slices = append(o.slices, slice{w, append([]byte(nil), v...)})
		return true
	})
	if bad {
		return nil, errors.New("window: malformed slice in state")
	}
	slices.SortFunc(o.slices, func(a, b slice) int { return cmp.Compare(a.w.Start, b.w.Start) })
	return o.slices, nil
}

// emitSlices emits window w, merging the accumulators of the slices in ss
// that it contains; it emits nothing if there are none.
func (o *windowOp[K, In, Out]) emitSlices(key []byte, kg int, w Window, ss []slice) error {
	var acc []byte
	for _, s := range ss {
		if s.w.Start < w.Start || s.w.End > w.End {
			continue
		}
		if acc == nil {
			acc = s.acc
			continue
		}
		var err error
		if acc, err = o.c.merge(acc, s.acc); err != nil {
			return err
		}
	}
	if acc == nil {
		return nil
	}
	if err := o.emit(key, w, acc); err != nil {
		return err
	}
	o.b.SetCurrentKey(key, kg) // emit may touch the backend
	return nil
}

// fireSliced emits window w of the current key from its slices.
func (o *windowOp[K, In, Out]) fireSliced(key []byte, kg int, w Window) error {
	ss, err := o.loadSlices()
	if err != nil {
		return err
	}
	return o.emitSlices(key, kg, w, ss)
}

// onTimerSliced fires the key's window that ends at ts, if ts is a
// window's last millisecond, and drops the slices whose cleanup time has
// come.
func (o *windowOp[K, In, Out]) onTimerSliced(ts int64, key []byte, kg int) error {
	ss, err := o.loadSlices()
	if err != nil {
		return err
	}
	size := o.spec.GetSizeMillis()
	if w := (Window{ts + 1 - size, ts + 1}); windowStart(w.Start, o.spec.GetOffsetMillis(), o.spec.GetSlideMillis()) == w.Start {
		if err := o.emitSlices(key, kg, w, ss); err != nil {
			return err
		}
	}
	for _, s := range ss {
		// The last window containing slice s starts at the last window
		// start at or before s's start.
		last := windowStart(s.w.Start, o.spec.GetOffsetMillis(), o.spec.GetSlideMillis())
		if o.cleanupTime(Window{last, last + size}) <= ts {
			o.wk = windowKey(o.wk[:0], s.w)
			o.b.MapDelete(o.contents, o.wk)
		}
	}
	return nil
}
