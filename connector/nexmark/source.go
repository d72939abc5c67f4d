package nexmark

import (
	"encoding/binary"
	"fmt"
	"math"
	"time"

	"github.com/weirstream/weir/connector/internal/pace"
	"github.com/weirstream/weir/stream"
)

// maxBatch bounds the events one PollNext emits.
const maxBatch = 1024

func init() { stream.RegisterSource[Event]("weir.nexmark", Source{}) }

// Source generates the Nexmark event stream. Its fields are the job
// parameters.
type Source struct {
	// Events is the number of events across all subtasks; 0 is unbounded.
	Events int64 `json:"events,omitempty"`
	// Rate is the event-time rate in events per second across all
	// subtasks (nexmark-flink's first-event-rate); 0 means DefaultRate.
	// Event times follow it whether or not the source is throttled.
	Rate float64 `json:"rate,omitempty"`
	// BaseTime is the event time of every subtask's first event, in
	// milliseconds since the epoch.
	BaseTime int64 `json:"base_time,omitempty"`
	// Seed selects the random fields.
	Seed int64 `json:"seed,omitempty"`
	// Throttle emits events at Rate in wall-clock time; otherwise they are
	// emitted as fast as the job takes them (nexmark-flink's max emit
	// speed), and only their event times follow Rate.
	Throttle bool `json:"throttle,omitempty"`
}

var (
	_ stream.Checkpointed        = (*reader)(nil)
	_ stream.Source[Event]       = Source{}
	_ stream.Validator           = Source{}
	_ stream.SourceReader[Event] = (*reader)(nil)
)

// Validate checks the parameters.
func (s Source) Validate() error {
	switch {
	case s.Events < 0:
		return fmt.Errorf("nexmark: events %d must be >= 0", s.Events)
	case math.IsNaN(s.Rate) || math.IsInf(s.Rate, 0):
		return fmt.Errorf("nexmark: rate %v must be a finite number", s.Rate)
	case s.Rate < 0:
		return fmt.Errorf("nexmark: rate %v must be >= 0", s.Rate)
	case s.BaseTime < 0:
		return fmt.Errorf("nexmark: base_time %d must be >= 0", s.BaseTime)
	}
	return nil
}

func (s Source) rate() float64 {
	if s.Rate == 0 {
		return DefaultRate
	}
	return s.Rate
}

// Split is the part of the event stream that one subtask generates, as
// nexmark-flink's GeneratorConfig.split: subtask i of p generates the
// event ids [FirstID, FirstID+Count), numbering its events from 0, so the
// subtasks run on parallel event-time timelines, each at Rate/p.
type Split struct {
	FirstID int64
	Count   int64
	base    int64
	delayUs float64 // event time between two events of the split
	p       *pools
}

// Split returns the split of subtask of parallelism.
func (s Source) Split(subtask, parallelism int) Split {
	total := s.Events
	if total == 0 {
		total = maxEventsUnbounded
	}
	n := int64(parallelism)
	sub := total / n
	count := sub
	if int64(subtask) == n-1 {
		count = total - sub*(n-1)
	}
	return Split{FirstID: int64(subtask) * sub, Count: count, base: s.BaseTime,
		delayUs: 1e6 / s.rate() * float64(parallelism), p: poolsFor(s.Seed)}
}

// timestamp is the event time of event number k of the split
// (GeneratorConfig.timestampForEvent).
func (sp *Split) timestamp(k int64) int64 {
	return sp.base + int64(float64(k)*sp.delayUs)/1000
}

// Event returns event number k of the split, 0 <= k < Count.
func (sp *Split) Event(k int64) Event {
	id := sp.FirstID + k
	ts := sp.timestamp(k)
	g := gen{p: sp.p, r: rng{s: mix(uint64(id)+golden) ^ sp.p.seed}}
	switch Kind(id) {
	case PersonEvent:
		return Event{Type: PersonEvent, Person: g.person(id, ts)}
	case AuctionEvent:
		return Event{Type: AuctionEvent, Auction: g.auction(sp, k, id, ts)}
	}
	return Event{Type: BidEvent, Bid: g.bid(id, ts)}
}

// CreateReader returns the reader of subtask ctx.SubtaskIndex.
func (s Source) CreateReader(ctx *stream.SourceContext) (stream.SourceReader[Event], error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	p := max(ctx.Parallelism, 1)
	if ctx.SubtaskIndex < 0 || ctx.SubtaskIndex >= p {
		return nil, fmt.Errorf("nexmark: subtask %d out of range for parallelism %d", ctx.SubtaskIndex, p)
	}
	r := &reader{src: s, split: s.Split(ctx.SubtaskIndex, p), parallelism: p, idle: make(chan struct{})}
	if s.Throttle {
		if ctx.Clock == nil {
			return nil, fmt.Errorf("nexmark: throttle needs a clock in the task info")
		}
		r.pacer = pace.New(ctx.Clock, s.rate()/float64(p))
	}
	return r, nil
}

// reader is one subtask's generator. Only the task goroutine uses it.
type reader struct {
	src         Source
	split       Split
	parallelism int
	next        int64 // number of the next event of the split
	base        int64 // event number the pacer counts from
	pacer       *pace.Pacer
	idle        chan struct{} // Available of an unthrottled reader, never ready
}

func (r *reader) PollNext(out stream.Collector[Event]) (stream.PollStatus, error) {
	var now time.Time
	if r.pacer != nil {
		now = r.pacer.Now()
	}
	for range maxBatch {
		if r.next >= r.split.Count {
			return stream.PollEnd, nil
		}
		if r.pacer != nil && !r.pacer.Ready(r.next-r.base, now) {
			return stream.PollIdle, nil
		}
		out.Collect(r.split.Event(r.next))
		r.next++
	}
	if r.next >= r.split.Count {
		return stream.PollEnd, nil
	}
	return stream.PollMore, nil
}

func (r *reader) Available() <-chan struct{} {
	if r.pacer != nil {
		return r.pacer.Available()
	}
	return r.idle
}

// SnapshotState saves the split and the number of its next event.
func (r *reader) SnapshotState(int64) ([][]byte, error) {
	b := binary.AppendUvarint(nil, uint64(r.split.FirstID))
	b = binary.AppendUvarint(b, uint64(r.split.Count))
	b = binary.AppendUvarint(b, uint64(r.next))
	return [][]byte{b}, nil
}

// RestoreState resumes the split at the saved event. Splits depend on the
// parallelism, so a source resumes only at the parallelism it was saved at.
func (r *reader) RestoreState(elems [][]byte) error {
	if len(elems) != 1 {
		return fmt.Errorf("nexmark: restoring %d state elements, want 1 (resuming at another parallelism is not supported)", len(elems))
	}
	b := elems[0]
	var v [3]uint64
	for i := range v {
		x, n := binary.Uvarint(b)
		if n <= 0 {
			return fmt.Errorf("nexmark: corrupt source state for subtask split at %d", r.split.FirstID)
		}
		v[i], b = x, b[n:]
	}
	first, count, next := int64(v[0]), int64(v[1]), int64(v[2])
	if first != r.split.FirstID || count != r.split.Count || next > count || len(b) != 0 {
		return fmt.Errorf("nexmark: the saved split (events %d..%d, next %d) is not this subtask's (events %d..%d of parallelism %d)",
			first, first+count, next, r.split.FirstID, r.split.FirstID+r.split.Count, r.parallelism)
	}
	r.next, r.base = next, next
	if r.pacer != nil {
		clk := r.pacer.Clock()
		r.pacer.Close()
		r.pacer = pace.New(clk, r.src.rate()/float64(r.parallelism))
	}
	return nil
}

// Close stops the pacer's timers.
func (r *reader) Close() error {
	if r.pacer != nil {
		r.pacer.Close()
	}
	return nil
}
