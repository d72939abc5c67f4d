package nexmark

import (
	"encoding/binary"

	"github.com/weirstream/weir/connector/nexmark"
	"github.com/weirstream/weir/stream"
)

// Weir's operators have one input, so a join of two of Nexmark's views
// reads the event stream once: a flat map keeps the events of both sides,
// a key selector keys each side by the join key, and a keyed process
// function holds both sides in keyed state.

// Q3Result is a seller near the auction site and one of their auctions.
type Q3Result struct {
	Name, City, State string
	ID                int64
}

func (r Q3Result) AppendCSV(dst []byte) []byte {
	dst = appendCSVString(dst, r.Name)
	dst = appendCSVString(append(dst, ','), r.City)
	dst = appendCSVString(append(dst, ','), r.State)
	return appendInt(append(dst, ','), r.ID)
}

// Q3Select keeps the persons in Oregon, Idaho and California and the
// auctions in category 10.
type Q3Select struct{}

func (Q3Select) FlatMap(e nexmark.Event, out stream.Collector[nexmark.Event]) error {
	switch e.Type {
	case nexmark.PersonEvent:
		if s := e.Person.State; s == "OR" || s == "ID" || s == "CA" {
			out.Collect(e)
		}
	case nexmark.AuctionEvent:
		if e.Auction.Category == 10 {
			out.Collect(e)
		}
	}
	return nil
}

// SellerKey keys persons by id and auctions by seller.
type SellerKey struct{}

func (SellerKey) Key(e nexmark.Event) int64 {
	if e.Type == nexmark.PersonEvent {
		return e.Person.ID
	}
	return e.Auction.Seller
}

// Q3Join is q3, local item suggestion, an unbounded inner join:
//
//	SELECT P.name, P.city, P.state, A.id
//	FROM auction AS A INNER JOIN person AS P on A.seller = P.id
//	WHERE A.category = 10 and (P.state = 'OR' OR P.state = 'ID' OR P.state = 'CA')
//
// Person ids are unique, so the person side is one value per key; an
// auction that arrives before its seller waits in a list until the seller
// does.
type Q3Join struct {
	person  *stream.ValueState[q3Person]
	pending *stream.ListState[int64] // ids of auctions waiting for their seller
}

// q3Person is what q3 keeps of a person.
type q3Person struct{ Name, City, State string }

type q3PersonCodec struct{}

func (q3PersonCodec) Append(dst []byte, p q3Person) []byte {
	for _, s := range [...]string{p.Name, p.City, p.State} {
		dst = binary.AppendUvarint(dst, uint64(len(s)))
		dst = append(dst, s...)
	}
	return dst
}

func (q3PersonCodec) Decode(src []byte) (q3Person, error) {
	all := string(src)
	var f [3]string
	off := 0
	for i := range f {
		n, w := binary.Uvarint(src[off:])
		if w <= 0 || n > uint64(len(src)-off-w) {
			return q3Person{}, stream.ErrShortBuffer
		}
		off += w
		f[i] = all[off : off+int(n)]
		off += int(n)
	}
	return q3Person{Name: f[0], City: f[1], State: f[2]}, nil
}

func (j *Q3Join) Open(ctx *stream.OpenContext) (err error) {
	if j.person, err = stream.NewValueState[q3Person](ctx, "person"); err != nil {
		return err
	}
	j.pending, err = stream.NewListState[int64](ctx, "pending-auctions")
	return err
}

func (j *Q3Join) ProcessElement(_ *stream.KeyedContext[int64], e nexmark.Event, out stream.Collector[Q3Result]) error {
	if e.Type == nexmark.PersonEvent {
		p := q3Person{Name: e.Person.Name, City: e.Person.City, State: e.Person.State}
		j.person.Update(p)
		ids, err := j.pending.Get()
		if err != nil {
			return err
		}
		for _, id := range ids {
			out.Collect(Q3Result{Name: p.Name, City: p.City, State: p.State, ID: id})
		}
		j.pending.Clear()
		return nil
	}
	p, ok, err := j.person.Value()
	if err != nil {
		return err
	}
	if !ok {
		j.pending.Add(e.Auction.ID)
		return nil
	}
	out.Collect(Q3Result{Name: p.Name, City: p.City, State: p.State, ID: e.Auction.ID})
	return nil
}

// AuctionsAndBids keeps the auctions and the bids.
type AuctionsAndBids struct{}

func (AuctionsAndBids) FlatMap(e nexmark.Event, out stream.Collector[nexmark.Event]) error {
	if e.Type != nexmark.PersonEvent {
		out.Collect(e)
	}
	return nil
}

// AuctionKey keys auctions by id and bids by their auction.
type AuctionKey struct{}

func (AuctionKey) Key(e nexmark.Event) int64 {
	if e.Type == nexmark.AuctionEvent {
		return e.Auction.ID
	}
	return e.Bid.Auction
}

// MaxChange is a change of an auction's highest bid within its run: New
// replaces Old, or is the first maximum if !HasOld. It is the retraction
// and insertion that Flink's first aggregation of q4 sends its second.
type MaxChange struct {
	Category, Old, New int64
	HasOld             bool
}

type maxChangeCodec struct{}

func (maxChangeCodec) Append(dst []byte, c MaxChange) []byte {
	dst = binary.AppendVarint(dst, c.Category)
	dst = binary.AppendVarint(dst, c.Old)
	dst = binary.AppendVarint(dst, c.New)
	if c.HasOld {
		return append(dst, 1)
	}
	return append(dst, 0)
}

func (maxChangeCodec) Decode(src []byte) (MaxChange, error) {
	var v [3]int64
	for i := range v {
		x, n := binary.Varint(src)
		if n <= 0 {
			return MaxChange{}, stream.ErrShortBuffer
		}
		v[i], src = x, src[n:]
	}
	if len(src) != 1 {
		return MaxChange{}, stream.ErrShortBuffer
	}
	return MaxChange{Category: v[0], Old: v[1], New: v[2], HasOld: src[0] == 1}, nil
}

// q4Auction is what q4 keeps of an auction.
type q4Auction struct{ DateTime, Expires, Category int64 }

type q4AuctionCodec struct{}

func (q4AuctionCodec) Append(dst []byte, a q4Auction) []byte {
	dst = binary.AppendVarint(dst, a.DateTime)
	dst = binary.AppendVarint(dst, a.Expires)
	return binary.AppendVarint(dst, a.Category)
}

func (q4AuctionCodec) Decode(src []byte) (q4Auction, error) {
	var v [3]int64
	for i := range v {
		x, n := binary.Varint(src)
		if n <= 0 {
			return q4Auction{}, stream.ErrShortBuffer
		}
		v[i], src = x, src[n:]
	}
	return q4Auction{DateTime: v[0], Expires: v[1], Category: v[2]}, nil
}

// q4Bid is what q4 keeps of a bid that arrived before its auction.
type q4Bid struct{ Price, DateTime int64 }

type q4BidCodec struct{}

func (q4BidCodec) Append(dst []byte, b q4Bid) []byte {
	return binary.AppendVarint(binary.AppendVarint(dst, b.Price), b.DateTime)
}

func (q4BidCodec) Decode(src []byte) (q4Bid, error) {
	p, n := binary.Varint(src)
	if n <= 0 {
		return q4Bid{}, stream.ErrShortBuffer
	}
	t, m := binary.Varint(src[n:])
	if m <= 0 {
		return q4Bid{}, stream.ErrShortBuffer
	}
	return q4Bid{Price: p, DateTime: t}, nil
}

// Q4MaxPrice is the first half of q4: the join of auctions and bids and the
// highest bid of each auction,
//
//	SELECT MAX(B.price) AS final, A.category
//	FROM auction A, bid B
//	WHERE A.id = B.auction AND B.dateTime BETWEEN A.dateTime AND A.expires
//	GROUP BY A.id, A.category
//
// emitting a MaxChange whenever an auction's maximum rises. Bids that
// arrive before their auction wait in a list.
type Q4MaxPrice struct {
	auction *stream.ValueState[q4Auction]
	max     *stream.ValueState[int64]
	pending *stream.ListState[q4Bid]
}

func (q *Q4MaxPrice) Open(ctx *stream.OpenContext) (err error) {
	if q.auction, err = stream.NewValueState[q4Auction](ctx, "auction"); err != nil {
		return err
	}
	if q.max, err = stream.NewValueState[int64](ctx, "max-price"); err != nil {
		return err
	}
	q.pending, err = stream.NewListState[q4Bid](ctx, "pending-bids")
	return err
}

func (q *Q4MaxPrice) ProcessElement(_ *stream.KeyedContext[int64], e nexmark.Event, out stream.Collector[MaxChange]) error {
	if e.Type == nexmark.AuctionEvent {
		a := q4Auction{DateTime: e.Auction.DateTime, Expires: e.Auction.Expires, Category: e.Auction.Category}
		q.auction.Update(a)
		bids, err := q.pending.Get()
		if err != nil {
			return err
		}
		q.pending.Clear()
		for _, b := range bids {
			if err := q.bid(a, b, out); err != nil {
				return err
			}
		}
		return nil
	}
	b := q4Bid{Price: e.Bid.Price, DateTime: e.Bid.DateTime}
	a, ok, err := q.auction.Value()
	if err != nil {
		return err
	}
	if !ok {
		q.pending.Add(b)
		return nil
	}
	return q.bid(a, b, out)
}

func (q *Q4MaxPrice) bid(a q4Auction, b q4Bid, out stream.Collector[MaxChange]) error {
	if b.DateTime < a.DateTime || b.DateTime > a.Expires {
		return nil
	}
	old, ok, err := q.max.Value()
	if err != nil {
		return err
	}
	if ok && b.Price <= old {
		return nil
	}
	q.max.Update(b.Price)
	out.Collect(MaxChange{Category: a.Category, Old: old, New: b.Price, HasOld: ok})
	return nil
}

// CategoryKey keys a MaxChange by category.
type CategoryKey struct{}

func (CategoryKey) Key(c MaxChange) int64 { return c.Category }

// Q4Result is the average winning price in a category, as of the latest
// change.
type Q4Result struct{ Category, Avg int64 }

func (r Q4Result) AppendCSV(dst []byte) []byte {
	dst = appendInt(dst, r.Category)
	return appendInt(append(dst, ','), r.Avg)
}

// q4Sum is the running sum and count of the maxima of a category.
type q4Sum struct{ Sum, Count int64 }

type q4SumCodec struct{}

func (q4SumCodec) Append(dst []byte, s q4Sum) []byte {
	return binary.AppendVarint(binary.AppendVarint(dst, s.Sum), s.Count)
}

func (q4SumCodec) Decode(src []byte) (q4Sum, error) {
	s, n := binary.Varint(src)
	if n <= 0 {
		return q4Sum{}, stream.ErrShortBuffer
	}
	c, m := binary.Varint(src[n:])
	if m <= 0 {
		return q4Sum{}, stream.ErrShortBuffer
	}
	return q4Sum{Sum: s, Count: c}, nil
}

// Q4Average is the second half of q4, the average of the maxima per
// category, updated with every change of a maximum:
//
//	SELECT Q.category, AVG(Q.final) FROM (...) Q GROUP BY Q.category
//
// AVG of a BIGINT is a BIGINT in Flink SQL: the quotient is truncated.
type Q4Average struct{ sum *stream.ValueState[q4Sum] }

func (q *Q4Average) Open(ctx *stream.OpenContext) (err error) {
	q.sum, err = stream.NewValueState[q4Sum](ctx, "sum")
	return err
}

func (q *Q4Average) ProcessElement(_ *stream.KeyedContext[int64], c MaxChange, out stream.Collector[Q4Result]) error {
	s, _, err := q.sum.Value()
	if err != nil {
		return err
	}
	if c.HasOld {
		s.Sum += c.New - c.Old
	} else {
		s.Sum += c.New
		s.Count++
	}
	q.sum.Update(s)
	out.Collect(Q4Result{Category: c.Category, Avg: s.Sum / s.Count})
	return nil
}

func init() {
	stream.RegisterCodec[q3Person](q3PersonCodec{})
	stream.RegisterCodec[MaxChange](maxChangeCodec{})
	stream.RegisterCodec[q4Auction](q4AuctionCodec{})
	stream.RegisterCodec[q4Bid](q4BidCodec{})
	stream.RegisterCodec[q4Sum](q4SumCodec{})
	stream.RegisterFlatMap[nexmark.Event, nexmark.Event]("nexmark.q3.select", Q3Select{})
	stream.RegisterKeySelector[nexmark.Event, int64]("nexmark.seller", SellerKey{})
	stream.RegisterProcess[int64, nexmark.Event, Q3Result]("nexmark.q3.join", &Q3Join{})
	stream.RegisterFlatMap[nexmark.Event, nexmark.Event]("nexmark.auctions-and-bids", AuctionsAndBids{})
	stream.RegisterKeySelector[nexmark.Event, int64]("nexmark.auction", AuctionKey{})
	stream.RegisterProcess[int64, nexmark.Event, MaxChange]("nexmark.q4.max-price", &Q4MaxPrice{})
	stream.RegisterKeySelector[MaxChange, int64]("nexmark.category", CategoryKey{})
	stream.RegisterProcess[int64, MaxChange, Q4Result]("nexmark.q4.average", &Q4Average{})
	registerOutput[Q3Result]("q3")
	registerOutput[Q4Result]("q4")
	register(query{name: "q3", description: "Nexmark q3: sellers in OR, ID and CA joined with their auctions in category 10",
		build: func(events stream.DataStream[nexmark.Event], o *options) {
			sel := stream.FlatMap[nexmark.Event](events, Q3Select{})
			sinkTo(stream.Process[Q3Result](stream.KeyBy[int64](sel, SellerKey{}), &Q3Join{}), o)
		}})
	register(query{name: "q4", description: "Nexmark q4: the average winning bid per category",
		build: func(events stream.DataStream[nexmark.Event], o *options) {
			ab := stream.FlatMap[nexmark.Event](events, AuctionsAndBids{})
			maxes := stream.Process[MaxChange](stream.KeyBy[int64](ab, AuctionKey{}), &Q4MaxPrice{})
			sinkTo(stream.Process[Q4Result](stream.KeyBy[int64](maxes, CategoryKey{}), &Q4Average{}), o)
		}})
}
