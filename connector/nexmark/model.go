package nexmark

import (
	"encoding/binary"
	"fmt"

	"github.com/weirstream/weir/stream"
)

// EventType says which of an Event's members is set.
type EventType uint8

const (
	PersonEvent EventType = iota + 1
	AuctionEvent
	BidEvent
)

func (t EventType) String() string {
	switch t {
	case PersonEvent:
		return "person"
	case AuctionEvent:
		return "auction"
	case BidEvent:
		return "bid"
	}
	return fmt.Sprintf("EventType(%d)", uint8(t))
}

// Event is one element of the Nexmark stream: a person, an auction or a
// bid, as nexmark-flink's Event. Only the member named by Type is set.
type Event struct {
	Type    EventType
	Person  Person
	Auction Auction
	Bid     Bid
}

// Time returns the event time of the event in milliseconds since the epoch.
func (e *Event) Time() int64 {
	switch e.Type {
	case PersonEvent:
		return e.Person.DateTime
	case AuctionEvent:
		return e.Auction.DateTime
	}
	return e.Bid.DateTime
}

// Person is a new user of the auction site. DateTime is in milliseconds
// since the epoch.
type Person struct {
	ID           int64
	Name         string
	EmailAddress string
	CreditCard   string
	City         string
	State        string
	DateTime     int64
	Extra        string
}

// Auction is a new item for sale. DateTime and Expires are in milliseconds
// since the epoch; InitialBid and Reserve are in cents.
type Auction struct {
	ID          int64
	ItemName    string
	Description string
	InitialBid  int64
	Reserve     int64
	DateTime    int64
	Expires     int64
	Seller      int64
	Category    int64
	Extra       string
}

// Bid is a bid on an auction. Price is in cents; DateTime in milliseconds
// since the epoch.
type Bid struct {
	Auction  int64
	Bidder   int64
	Price    int64
	Channel  string
	URL      string
	DateTime int64
	Extra    string
}

func init() {
	stream.RegisterCodec[Event](EventCodec{})
	stream.RegisterCodec[Person](PersonCodec{})
	stream.RegisterCodec[Auction](AuctionCodec{})
	stream.RegisterCodec[Bid](BidCodec{})
}

// The codecs write integers as varints and strings as a uvarint length and
// their bytes. Decoding converts the whole encoding to one string and
// slices every string field out of it, so a decoded record costs one
// allocation however many strings it has.

// EventCodec encodes an Event as its type byte and the encoding of its
// member.
type EventCodec struct{}

func (EventCodec) Append(dst []byte, e Event) []byte {
	dst = append(dst, byte(e.Type))
	switch e.Type {
	case PersonEvent:
		return PersonCodec{}.Append(dst, e.Person)
	case AuctionEvent:
		return AuctionCodec{}.Append(dst, e.Auction)
	case BidEvent:
		return BidCodec{}.Append(dst, e.Bid)
	}
	panic(fmt.Sprintf("nexmark: encoding an event of type %v", e.Type))
}

func (EventCodec) Decode(src []byte) (Event, error) {
	if len(src) == 0 {
		return Event{}, stream.ErrShortBuffer
	}
	d := decoder{s: string(src), off: 1}
	e := Event{Type: EventType(src[0])}
	switch e.Type {
	case PersonEvent:
		e.Person = d.person()
	case AuctionEvent:
		e.Auction = d.auction()
	case BidEvent:
		e.Bid = d.bid()
	default:
		return Event{}, fmt.Errorf("nexmark: event type %d is not person (1), auction (2) or bid (3)", src[0])
	}
	return e, d.finish()
}

// PersonCodec encodes a Person.
type PersonCodec struct{}

func (PersonCodec) Append(dst []byte, p Person) []byte {
	dst = binary.AppendVarint(dst, p.ID)
	dst = appendString(dst, p.Name)
	dst = appendString(dst, p.EmailAddress)
	dst = appendString(dst, p.CreditCard)
	dst = appendString(dst, p.City)
	dst = appendString(dst, p.State)
	dst = binary.AppendVarint(dst, p.DateTime)
	return appendString(dst, p.Extra)
}

func (PersonCodec) Decode(src []byte) (Person, error) {
	d := decoder{s: string(src)}
	p := d.person()
	return p, d.finish()
}

// AuctionCodec encodes an Auction.
type AuctionCodec struct{}

func (AuctionCodec) Append(dst []byte, a Auction) []byte {
	dst = binary.AppendVarint(dst, a.ID)
	dst = appendString(dst, a.ItemName)
	dst = appendString(dst, a.Description)
	dst = binary.AppendVarint(dst, a.InitialBid)
	dst = binary.AppendVarint(dst, a.Reserve)
	dst = binary.AppendVarint(dst, a.DateTime)
	dst = binary.AppendVarint(dst, a.Expires)
	dst = binary.AppendVarint(dst, a.Seller)
	dst = binary.AppendVarint(dst, a.Category)
	return appendString(dst, a.Extra)
}

func (AuctionCodec) Decode(src []byte) (Auction, error) {
	d := decoder{s: string(src)}
	a := d.auction()
	return a, d.finish()
}

// BidCodec encodes a Bid.
type BidCodec struct{}

func (BidCodec) Append(dst []byte, b Bid) []byte {
	dst = binary.AppendVarint(dst, b.Auction)
	dst = binary.AppendVarint(dst, b.Bidder)
	dst = binary.AppendVarint(dst, b.Price)
	dst = appendString(dst, b.Channel)
	dst = appendString(dst, b.URL)
	dst = binary.AppendVarint(dst, b.DateTime)
	return appendString(dst, b.Extra)
}

func (BidCodec) Decode(src []byte) (Bid, error) {
	d := decoder{s: string(src)}
	b := d.bid()
	return b, d.finish()
}

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

// decoder reads fields from an encoding held as a string; the first error
// sticks and later reads return zero values.
type decoder struct {
	s   string
	off int
	err error
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	var x uint64
	var shift uint
	for i := d.off; i < len(d.s) && i-d.off < binary.MaxVarintLen64; i++ {
		b := d.s[i]
		x |= uint64(b&0x7f) << shift
		if b < 0x80 {
			d.off = i + 1
			v := int64(x >> 1)
			if x&1 != 0 {
				v = ^v
			}
			return v
		}
		shift += 7
	}
	d.err = stream.ErrShortBuffer
	return 0
}

func (d *decoder) string() string {
	if d.err != nil {
		return ""
	}
	var n uint64
	var shift uint
	i := d.off
	for ; ; i++ {
		if i >= len(d.s) || i-d.off >= binary.MaxVarintLen64 {
			d.err = stream.ErrShortBuffer
			return ""
		}
		b := d.s[i]
		n |= uint64(b&0x7f) << shift
		if b < 0x80 {
			break
		}
		shift += 7
	}
	i++
	if n > uint64(len(d.s)-i) {
		d.err = stream.ErrShortBuffer
		return ""
	}
	d.off = i + int(n)
	return d.s[i:d.off]
}

func (d *decoder) finish() error {
	if d.err == nil && d.off != len(d.s) {
		d.err = fmt.Errorf("nexmark: %d bytes after the end of a record", len(d.s)-d.off)
	}
	return d.err
}

func (d *decoder) person() Person {
	return Person{ID: d.varint(), Name: d.string(), EmailAddress: d.string(), CreditCard: d.string(),
		City: d.string(), State: d.string(), DateTime: d.varint(), Extra: d.string()}
}

func (d *decoder) auction() Auction {
	return Auction{ID: d.varint(), ItemName: d.string(), Description: d.string(), InitialBid: d.varint(),
		Reserve: d.varint(), DateTime: d.varint(), Expires: d.varint(), Seller: d.varint(),
		Category: d.varint(), Extra: d.string()}
}

func (d *decoder) bid() Bid {
	return Bid{Auction: d.varint(), Bidder: d.varint(), Price: d.varint(), Channel: d.string(),
		URL: d.string(), DateTime: d.varint(), Extra: d.string()}
}
