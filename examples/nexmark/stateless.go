package nexmark

import (
	"github.com/weirstream/weir/connector/nexmark"
	"github.com/weirstream/weir/stream"
)

// Bids keeps the bids of the event stream: nexmark-flink's bid view.
type Bids struct{}

func (Bids) FlatMap(e nexmark.Event, out stream.Collector[nexmark.Bid]) error {
	if e.Type == nexmark.BidEvent {
		out.Collect(e.Bid)
	}
	return nil
}

// Q0Result is a bid as q0 passes it through.
type Q0Result struct {
	Auction, Bidder, Price, DateTime int64
	Extra                            string
}

func (r Q0Result) AppendCSV(dst []byte) []byte {
	dst = appendInt(dst, r.Auction)
	dst = appendInt(append(dst, ','), r.Bidder)
	dst = appendInt(append(dst, ','), r.Price)
	dst = appendInt(append(dst, ','), r.DateTime)
	return appendCSVString(append(dst, ','), r.Extra)
}

// Q0Project is q0, pass-through:
//
//	SELECT auction, bidder, price, dateTime, extra FROM bid
type Q0Project struct{}

func (Q0Project) Map(b nexmark.Bid) (Q0Result, error) {
	return Q0Result{Auction: b.Auction, Bidder: b.Bidder, Price: b.Price, DateTime: b.DateTime, Extra: b.Extra}, nil
}

// Q1Result is a bid with its price in euros: PriceMilli is the price in
// thousandths of a cent (q1's DECIMAL(23, 3)).
type Q1Result struct {
	Auction, Bidder, PriceMilli, DateTime int64
	Extra                                 string
}

func (r Q1Result) AppendCSV(dst []byte) []byte {
	dst = appendInt(dst, r.Auction)
	dst = appendInt(append(dst, ','), r.Bidder)
	dst = appendInt(append(dst, ','), r.PriceMilli/1000)
	dst = append(dst, '.', byte('0'+r.PriceMilli/100%10), byte('0'+r.PriceMilli/10%10), byte('0'+r.PriceMilli%10))
	dst = appendInt(append(dst, ','), r.DateTime)
	return appendCSVString(append(dst, ','), r.Extra)
}

// Q1Convert is q1, currency conversion:
//
//	SELECT auction, bidder, 0.908 * price as price, dateTime, extra FROM bid
type Q1Convert struct{}

func (Q1Convert) Map(b nexmark.Bid) (Q1Result, error) {
	return Q1Result{Auction: b.Auction, Bidder: b.Bidder, PriceMilli: 908 * b.Price, DateTime: b.DateTime, Extra: b.Extra}, nil
}

// Q2Result is an auction and a bid's price.
type Q2Result struct{ Auction, Price int64 }

func (r Q2Result) AppendCSV(dst []byte) []byte {
	dst = appendInt(dst, r.Auction)
	return appendInt(append(dst, ','), r.Price)
}

// Q2Select is q2, selection:
//
//	SELECT auction, price FROM bid WHERE MOD(auction, 123) = 0
type Q2Select struct{}

func (Q2Select) FlatMap(b nexmark.Bid, out stream.Collector[Q2Result]) error {
	if b.Auction%123 == 0 {
		out.Collect(Q2Result{Auction: b.Auction, Price: b.Price})
	}
	return nil
}

func init() {
	stream.RegisterFlatMap[nexmark.Event, nexmark.Bid]("nexmark.bids", Bids{})
	stream.RegisterMap[nexmark.Bid, Q0Result]("nexmark.q0.project", Q0Project{})
	stream.RegisterMap[nexmark.Bid, Q1Result]("nexmark.q1.convert", Q1Convert{})
	stream.RegisterFlatMap[nexmark.Bid, Q2Result]("nexmark.q2.select", Q2Select{})
	registerOutput[Q0Result]("q0")
	registerOutput[Q1Result]("q1")
	registerOutput[Q2Result]("q2")
	register(query{name: "q0", description: "Nexmark q0: pass the bids through",
		build: func(events stream.DataStream[nexmark.Event], o *options) {
			sinkTo(stream.Map[Q0Result](stream.FlatMap[nexmark.Bid](events, Bids{}), Q0Project{}), o)
		}})
	register(query{name: "q1", description: "Nexmark q1: bids with their price converted to euros",
		build: func(events stream.DataStream[nexmark.Event], o *options) {
			sinkTo(stream.Map[Q1Result](stream.FlatMap[nexmark.Bid](events, Bids{}), Q1Convert{}), o)
		}})
	register(query{name: "q2", description: "Nexmark q2: the bids on auctions whose id is a multiple of 123",
		build: func(events stream.DataStream[nexmark.Event], o *options) {
			sinkTo(stream.FlatMap[Q2Result](stream.FlatMap[nexmark.Bid](events, Bids{}), Q2Select{}), o)
		}})
}
