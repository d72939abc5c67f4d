package nexmark

import (
	"encoding/binary"
	"time"

	"github.com/weirstream/weir/connector/nexmark"
	"github.com/weirstream/weir/stream"
)

// The windowed queries take event time from the events' dateTime and
// generate watermarks 4 s behind the highest time seen, as nexmark-flink's
// DDL declares (WATERMARK FOR dateTime AS dateTime - INTERVAL '4' SECOND).
// Window starts are aligned to the epoch, as in Flink's TUMBLE and HOP.

// WatermarkDelay is how far the watermark trails the event time.
const WatermarkDelay = 4 * time.Second

// EventTime is an event's dateTime.
type EventTime struct{}

func (EventTime) ExtractTimestamp(e nexmark.Event, _ int64) int64 { return e.Time() }

func withEventTime(events stream.DataStream[nexmark.Event]) stream.DataStream[nexmark.Event] {
	return stream.AssignTimestampsAndWatermarks(events, stream.ForBoundedOutOfOrderness[nexmark.Event](EventTime{}, WatermarkDelay))
}

// BidAuction keys bids by auction.
type BidAuction struct{}

func (BidAuction) Key(b nexmark.Bid) int64 { return b.Auction }

// AuctionCount is the number of bids on an auction in the window that
// starts at Start.
type AuctionCount struct{ Start, Auction, Count int64 }

type auctionCountCodec struct{}

func (auctionCountCodec) Append(dst []byte, c AuctionCount) []byte {
	return appendVarints(dst, c.Start, c.Auction, c.Count)
}

func (auctionCountCodec) Decode(src []byte) (AuctionCount, error) {
	var v [3]int64
	err := readVarints(src, v[:])
	return AuctionCount{Start: v[0], Auction: v[1], Count: v[2]}, err
}

// CountBids counts the bids of an auction in a window.
type CountBids struct{}

func (CountBids) CreateAccumulator() int64         { return 0 }
func (CountBids) Add(_ nexmark.Bid, n int64) int64 { return n + 1 }
func (CountBids) GetResult(n int64) AuctionCount   { return AuctionCount{Count: n} }
func (CountBids) Merge(a, b int64) int64           { return a + b }
func (CountBids) WindowResult(ctx *stream.WindowContext[int64], n int64) (AuctionCount, error) {
	return AuctionCount{Start: ctx.Window().Start, Auction: ctx.Key(), Count: n}, nil
}

// WindowStart keys an AuctionCount by its window.
type WindowStart struct{}

func (WindowStart) Key(c AuctionCount) int64 { return c.Start }

// Q5Result is an auction with the most bids in the window starting at
// Start: the hot item.
type Q5Result struct{ Start, Auction, Num int64 }

func (r Q5Result) AppendCSV(dst []byte) []byte {
	dst = appendInt(dst, r.Start)
	dst = appendInt(append(dst, ','), r.Auction)
	return appendInt(append(dst, ','), r.Num)
}

// q5Max is the highest count of a window and the auctions that have it.
type q5Max struct {
	Start, Num int64
	Auctions   []int64
}

type q5MaxCodec struct{}

func (q5MaxCodec) Append(dst []byte, m q5Max) []byte {
	dst = appendVarints(dst, m.Start, m.Num, int64(len(m.Auctions)))
	return appendVarints(dst, m.Auctions...)
}

func (q5MaxCodec) Decode(src []byte) (q5Max, error) {
	var h [3]int64
	n, err := readVarintsN(src, h[:])
	if err != nil {
		return q5Max{}, err
	}
	if h[2] < 0 || h[2] > int64(len(src)) {
		return q5Max{}, stream.ErrShortBuffer
	}
	m := q5Max{Start: h[0], Num: h[1], Auctions: make([]int64, h[2])}
	return m, readVarints(src[n:], m.Auctions)
}

// Q5MaxBids is the second half of q5: of the counts of one window, it keeps
// the highest and the auctions that have it (MaxBids, and the join of
// AuctionBids with it on num >= maxn). The accumulator holds only the ties
// at the top, so it stays small however many auctions the window has.
type Q5MaxBids struct{}

func (Q5MaxBids) CreateAccumulator() q5Max { return q5Max{} }
func (Q5MaxBids) Add(c AuctionCount, m q5Max) q5Max {
	switch {
	case len(m.Auctions) == 0 || c.Count > m.Num:
		m.Start, m.Num, m.Auctions = c.Start, c.Count, append(m.Auctions[:0], c.Auction)
	case c.Count == m.Num:
		m.Auctions = append(m.Auctions, c.Auction)
	}
	return m
}
func (Q5MaxBids) GetResult(m q5Max) q5Max { return m }
func (f Q5MaxBids) Merge(a, b q5Max) q5Max {
	for _, x := range b.Auctions {
		a = f.Add(AuctionCount{Start: b.Start, Auction: x, Count: b.Num}, a)
	}
	return a
}

// Q5HotItems emits each auction of a window's maximum.
type Q5HotItems struct{}

func (Q5HotItems) FlatMap(m q5Max, out stream.Collector[Q5Result]) error {
	for _, a := range m.Auctions {
		out.Collect(Q5Result{Start: m.Start, Auction: a, Num: m.Num})
	}
	return nil
}

// Q7Result is a bid with the highest price of its window. The columns are
// in q7's SELECT order.
type Q7Result struct {
	Auction, Price, Bidder, DateTime int64
	Extra                            string
}

func (r Q7Result) AppendCSV(dst []byte) []byte {
	dst = appendInt(dst, r.Auction)
	dst = appendInt(append(dst, ','), r.Price)
	dst = appendInt(append(dst, ','), r.Bidder)
	dst = appendInt(append(dst, ','), r.DateTime)
	return appendCSVString(append(dst, ','), r.Extra)
}

// q7Top is the highest price of a window (of part of its bids, before the
// final merge) and the bids that offered it.
type q7Top struct {
	Start, Max int64
	Bids       []Q7Result
}

type q7TopCodec struct{}

func (q7TopCodec) Append(dst []byte, t q7Top) []byte {
	dst = appendVarints(dst, t.Start, t.Max, int64(len(t.Bids)))
	for _, b := range t.Bids {
		dst = appendVarints(dst, b.Auction, b.Price, b.Bidder, b.DateTime)
		dst = binary.AppendUvarint(dst, uint64(len(b.Extra)))
		dst = append(dst, b.Extra...)
	}
	return dst
}

func (q7TopCodec) Decode(src []byte) (q7Top, error) {
	all := string(src)
	var h [3]int64
	n, err := readVarintsN(src, h[:])
	if err != nil {
		return q7Top{}, err
	}
	t := q7Top{Start: h[0], Max: h[1]}
	if h[2] < 0 || h[2] > int64(len(src)) {
		return q7Top{}, stream.ErrShortBuffer
	}
	t.Bids = make([]Q7Result, h[2])
	for i := range t.Bids {
		var v [4]int64
		m, err := readVarintsN(src[n:], v[:])
		if err != nil {
			return q7Top{}, err
		}
		n += m
		l, w := binary.Uvarint(src[n:])
		if w <= 0 || l > uint64(len(src)-n-w) {
			return q7Top{}, stream.ErrShortBuffer
		}
		n += w
		t.Bids[i] = Q7Result{Auction: v[0], Price: v[1], Bidder: v[2], DateTime: v[3], Extra: all[n : n+int(l)]}
		n += int(l)
	}
	return t, nil
}

func (t q7Top) add(b Q7Result) q7Top {
	switch {
	case len(t.Bids) == 0 || b.Price > t.Max:
		t.Max, t.Bids = b.Price, append(t.Bids[:0], b)
	case b.Price == t.Max:
		t.Bids = append(t.Bids, b)
	}
	return t
}

// Q7Spread spreads the bids over the subtasks for the first phase of q7's
// maximum (by price, so the hot auction and bidder do not all land on one
// subtask).
type Q7Spread struct{}

func (Q7Spread) Key(b nexmark.Bid) int64 { return b.Price % 64 }

// Q7PartialMax is the first phase of q7's window maximum: the highest bids
// of the window among the bids of one key.
type Q7PartialMax struct{}

func (Q7PartialMax) CreateAccumulator() q7Top { return q7Top{} }
func (Q7PartialMax) Add(b nexmark.Bid, t q7Top) q7Top {
	return t.add(Q7Result{Auction: b.Auction, Price: b.Price, Bidder: b.Bidder, DateTime: b.DateTime, Extra: b.Extra})
}
func (Q7PartialMax) GetResult(t q7Top) q7Top { return t }
func (Q7PartialMax) Merge(a, b q7Top) q7Top {
	for _, x := range b.Bids {
		a = a.add(x)
	}
	return a
}
func (Q7PartialMax) WindowResult(ctx *stream.WindowContext[int64], t q7Top) (q7Top, error) {
	t.Start = ctx.Window().Start
	return t, nil
}

// TopStart keys a q7Top by its window.
type TopStart struct{}

func (TopStart) Key(t q7Top) int64 { return t.Start }

// Q7HighestBids is the second phase of q7: the bids with the window's
// highest price, the join of the bids with the window's MAX(price).
type Q7HighestBids struct{}

func (Q7HighestBids) Process(_ *stream.WindowContext[int64], tops []q7Top, out stream.Collector[Q7Result]) error {
	var all q7Top
	for _, t := range tops {
		all = Q7PartialMax{}.Merge(all, t)
	}
	for _, b := range all.Bids {
		out.Collect(b)
	}
	return nil
}

// Q8Result is a person who opened an auction in the window they joined.
type Q8Result struct {
	ID    int64
	Name  string
	Start int64
}

func (r Q8Result) AppendCSV(dst []byte) []byte {
	dst = appendInt(dst, r.ID)
	dst = appendCSVString(append(dst, ','), r.Name)
	return appendInt(append(dst, ','), r.Start)
}

// q8Seen is what a window of q8 saw of a person id: the person's name
// when the person joined in it, and whether they opened an auction.
type q8Seen struct {
	Name              string
	Person, Auctioned bool
}

type q8SeenCodec struct{}

func (q8SeenCodec) Append(dst []byte, s q8Seen) []byte {
	var flags byte
	if s.Person {
		flags |= 1
	}
	if s.Auctioned {
		flags |= 2
	}
	dst = append(dst, flags)
	return append(dst, s.Name...)
}

func (q8SeenCodec) Decode(src []byte) (q8Seen, error) {
	if len(src) == 0 {
		return q8Seen{}, stream.ErrShortBuffer
	}
	return q8Seen{Person: src[0]&1 != 0, Auctioned: src[0]&2 != 0, Name: string(src[1:])}, nil
}

// Q8Match is q8's window join of new persons with new sellers, per id and
// tumbling window.
type Q8Match struct{}

func (Q8Match) CreateAccumulator() q8Seen { return q8Seen{} }
func (Q8Match) Add(e nexmark.Event, s q8Seen) q8Seen {
	if e.Type == nexmark.PersonEvent {
		s.Person, s.Name = true, e.Person.Name
	} else {
		s.Auctioned = true
	}
	return s
}
func (Q8Match) GetResult(s q8Seen) q8Match { return q8Match{Seen: s} }
func (Q8Match) Merge(a, b q8Seen) q8Seen {
	if b.Person {
		a.Person, a.Name = true, b.Name
	}
	a.Auctioned = a.Auctioned || b.Auctioned
	return a
}
func (Q8Match) WindowResult(ctx *stream.WindowContext[int64], s q8Seen) (q8Match, error) {
	return q8Match{ID: ctx.Key(), Start: ctx.Window().Start, Seen: s}, nil
}

// q8Match is the outcome of one id and window.
type q8Match struct {
	ID, Start int64
	Seen      q8Seen
}

// Q8Joined keeps the ids and windows with both a person and an auction.
type Q8Joined struct{}

func (Q8Joined) FlatMap(m q8Match, out stream.Collector[Q8Result]) error {
	if m.Seen.Person && m.Seen.Auctioned {
		out.Collect(Q8Result{ID: m.ID, Name: m.Seen.Name, Start: m.Start})
	}
	return nil
}

// PersonsAndAuctions keeps the persons and the auctions.
type PersonsAndAuctions struct{}

func (PersonsAndAuctions) FlatMap(e nexmark.Event, out stream.Collector[nexmark.Event]) error {
	if e.Type != nexmark.BidEvent {
		out.Collect(e)
	}
	return nil
}

func appendVarints(dst []byte, vs ...int64) []byte {
	for _, v := range vs {
		dst = binary.AppendVarint(dst, v)
	}
	return dst
}

// readVarints reads exactly len(vs) varints from src.
func readVarints(src []byte, vs []int64) error {
	n, err := readVarintsN(src, vs)
	if err == nil && n != len(src) {
		err = stream.ErrShortBuffer
	}
	return err
}

// readVarintsN reads len(vs) varints from the start of src and returns the
// bytes read.
func readVarintsN(src []byte, vs []int64) (int, error) {
	off := 0
	for i := range vs {
		v, n := binary.Varint(src[off:])
		if n <= 0 {
			return 0, stream.ErrShortBuffer
		}
		vs[i], off = v, off+n
	}
	return off, nil
}

func init() {
	stream.RegisterCodec[AuctionCount](auctionCountCodec{})
	stream.RegisterCodec[q7Top](q7TopCodec{})
	stream.RegisterCodec[q8Seen](q8SeenCodec{})
	stream.RegisterTimestampAssigner[nexmark.Event]("nexmark.event-time", EventTime{})
	stream.RegisterKeySelector[nexmark.Bid, int64]("nexmark.bid-auction", BidAuction{})
	stream.RegisterWindowAggregate[int64, nexmark.Bid, int64, AuctionCount]("nexmark.q5.count", CountBids{})
	stream.RegisterKeySelector[AuctionCount, int64]("nexmark.q5.window", WindowStart{})
	stream.RegisterCodec[q5Max](q5MaxCodec{})
	stream.RegisterWindowAggregate[int64, AuctionCount, q5Max, q5Max]("nexmark.q5.max-bids", Q5MaxBids{})
	stream.RegisterFlatMap[q5Max, Q5Result]("nexmark.q5.hot-items", Q5HotItems{})
	stream.RegisterKeySelector[nexmark.Bid, int64]("nexmark.q7.spread", Q7Spread{})
	stream.RegisterWindowAggregate[int64, nexmark.Bid, q7Top, q7Top]("nexmark.q7.partial-max", Q7PartialMax{})
	stream.RegisterKeySelector[q7Top, int64]("nexmark.q7.window", TopStart{})
	stream.RegisterProcessWindow[int64, q7Top, Q7Result]("nexmark.q7.highest-bids", Q7HighestBids{})
	stream.RegisterFlatMap[nexmark.Event, nexmark.Event]("nexmark.persons-and-auctions", PersonsAndAuctions{})
	stream.RegisterWindowAggregate[int64, nexmark.Event, q8Seen, q8Match]("nexmark.q8.match", Q8Match{})
	stream.RegisterFlatMap[q8Match, Q8Result]("nexmark.q8.joined", Q8Joined{})
	registerOutput[Q5Result]("q5")
	registerOutput[Q7Result]("q7")
	registerOutput[Q8Result]("q8")
	register(query{name: "q5", description: "Nexmark q5: the auctions with the most bids in each 10 s window sliding by 2 s",
		build: func(events stream.DataStream[nexmark.Event], o *options) {
			bids := stream.FlatMap[nexmark.Bid](withEventTime(events), Bids{})
			counts := stream.AggregateWindow[AuctionCount](stream.KeyBy[int64](bids, BidAuction{}).
				Window(stream.SlidingEventTimeWindows(10*time.Second, 2*time.Second)), CountBids{})
			// Every count of a window has its end as timestamp, so a
			// tumbling window of the slide holds exactly one HOP window.
			maxes := stream.AggregateWindow[q5Max](stream.KeyBy[int64](counts, WindowStart{}).
				Window(stream.TumblingEventTimeWindows(2*time.Second)), Q5MaxBids{})
			sinkTo(stream.FlatMap[Q5Result](maxes, Q5HotItems{}), o)
		}})
	register(query{name: "q7", description: "Nexmark q7: the bids with the highest price in each 10 s window",
		build: func(events stream.DataStream[nexmark.Event], o *options) {
			bids := stream.FlatMap[nexmark.Bid](withEventTime(events), Bids{})
			tops := stream.AggregateWindow[q7Top](stream.KeyBy[int64](bids, Q7Spread{}).
				Window(stream.TumblingEventTimeWindows(10*time.Second)), Q7PartialMax{})
			highest := stream.ProcessWindow[Q7Result](stream.KeyBy[int64](tops, TopStart{}).
				Window(stream.TumblingEventTimeWindows(10*time.Second)), Q7HighestBids{})
			sinkTo(highest, o)
		}})
	register(query{name: "q8", description: "Nexmark q8: persons who opened an auction in the 10 s window they joined",
		build: func(events stream.DataStream[nexmark.Event], o *options) {
			pa := stream.FlatMap[nexmark.Event](withEventTime(events), PersonsAndAuctions{})
			matches := stream.AggregateWindow[q8Match](stream.KeyBy[int64](pa, SellerKey{}).
				Window(stream.TumblingEventTimeWindows(10*time.Second)), Q8Match{})
			sinkTo(stream.FlatMap[Q8Result](matches, Q8Joined{}), o)
		}})
}
