package nexmark

import (
	"math"
	"math/bits"
	"strconv"
	"strings"
	"sync"
)

// The generator is a port of nexmark-flink's (github.com/nexmark/nexmark,
// nexmark-flink/src/main/java/com/github/nexmark/flink/generator): the
// same event kinds by event id, id formulas, hot-item ratios, price and
// string distributions, and timestamps from the event number. Its
// randomness differs: nexmark-flink draws from an unseeded
// java.util.Random, so its fields are not reproducible; here every event's
// random fields come from a splitmix64 stream seeded by (Seed, event id),
// so an event is a pure function of its id and the generator's
// configuration. docs/nexmark.md lists the constants and their sources.

// The defaults of nexmark-flink's NexmarkConfiguration.
const (
	personProportion  = 1
	auctionProportion = 3
	bidProportion     = 46
	totalProportion   = personProportion + auctionProportion + bidProportion

	// FirstPersonID and FirstAuctionID offset the base-0 ids, so queries
	// find matches even on small inputs.
	FirstPersonID   = 1000
	FirstAuctionID  = 1000
	FirstCategoryID = 10
	numCategories   = 5

	hotAuctionRatio = 2 // P(bid on the hot auction) = 1 - 1/2
	hotBidderRatio  = 4 // P(bid by the hot bidder) = 1 - 1/4
	hotSellerRatio  = 4 // P(auction by the hot seller) = 1 - 1/4
	hotBucket       = 100

	numActivePeople     = 1000
	numInFlightAuctions = 100
	personIDLead        = 10
	auctionIDLead       = 10

	avgPersonBytes  = 200
	avgAuctionBytes = 500
	avgBidBytes     = 100

	hotChannelRatio = 2
	numChannels     = 10_000
	minStringLength = 3

	// DefaultRate is the event-time rate of a Source whose Rate is 0, in
	// events per second: the V2 suite's 100,000, which gives windows of
	// seconds something to hold.
	DefaultRate = 100_000
)

// maxEventsUnbounded is nexmark-flink's event count of an unbounded
// generator, scaled down to avoid overflow in size estimates.
const maxEventsUnbounded = math.MaxInt64 / (totalProportion * avgAuctionBytes)

// Kind returns the kind of event that event id is: 1 in 50 is a person,
// 3 in 50 an auction, the rest bids.
func Kind(id int64) EventType {
	switch rem := id % totalProportion; {
	case rem < personProportion:
		return PersonEvent
	case rem < personProportion+auctionProportion:
		return AuctionEvent
	}
	return BidEvent
}

// lastBase0PersonID is the id (without FirstPersonID) of the last person
// generated at or before event id.
func lastBase0PersonID(id int64) int64 {
	epoch, offset := id/totalProportion, id%totalProportion
	if offset >= personProportion {
		offset = personProportion - 1
	}
	return epoch*personProportion + offset
}

// lastBase0AuctionID is the id (without FirstAuctionID) of the last auction
// generated at or before event id.
func lastBase0AuctionID(id int64) int64 {
	epoch, offset := id/totalProportion, id%totalProportion
	switch {
	case offset < personProportion:
		epoch--
		offset = auctionProportion - 1
	case offset >= personProportion+auctionProportion:
		offset = auctionProportion - 1
	default:
		offset -= personProportion
	}
	return epoch*auctionProportion + offset
}

// rng is splitmix64.
type rng struct{ s uint64 }

const golden = 0x9e3779b97f4a7c15

func (r *rng) next() uint64 {
	r.s += golden
	return mix(r.s)
}

func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// intn returns a uniform int64 in [0, n), n > 0.
func (r *rng) intn(n int64) int64 {
	hi, _ := bits.Mul64(r.next(), uint64(n))
	return int64(hi)
}

// float returns a uniform float64 in [0, 1).
func (r *rng) float() float64 { return float64(r.next()>>11) / (1 << 53) }

// price is nexmark's nextPrice: log-uniform cents from 100 to 10^8.
func (r *rng) price() int64 { return int64(math.Round(math.Pow(10, r.float()*6) * 100)) }

// pools are the strings events are cut from, per seed: substrings of them
// cost no allocation.
type pools struct {
	seed    uint64 // mixed into every event's random stream
	letters string // lowercase letters: extra fields (nextExactString)
	text    string // lowercase letters, 1 in 13 a space: names (nextString)
	hotURLs [4]string
	channel [numChannels]string
	url     [numChannels]string
}

const poolSize = 1 << 20

var hotChannels = [4]string{"Google", "Facebook", "Baidu", "Apple"}

var poolCache sync.Map // seed -> *pools

func poolsFor(seed int64) *pools {
	if p, ok := poolCache.Load(seed); ok {
		return p.(*pools)
	}
	r := rng{s: mix(uint64(seed) ^ 0x6e65786d61726b)}
	p := &pools{seed: mix(uint64(seed))}
	var b strings.Builder
	b.Grow(poolSize)
	for range poolSize {
		b.WriteByte(byte('a' + r.intn(26)))
	}
	p.letters = b.String()
	b = strings.Builder{}
	b.Grow(poolSize)
	for range poolSize {
		if r.intn(13) == 0 {
			b.WriteByte(' ')
		} else {
			b.WriteByte(byte('a' + r.intn(26)))
		}
	}
	p.text = b.String()
	for i := range p.hotURLs {
		p.hotURLs[i] = baseURL(&r)
	}
	for i := range numChannels {
		p.channel[i] = "channel-" + strconv.Itoa(i)
		u := baseURL(&r)
		if r.intn(10) > 0 {
			// Java's Math.abs(Integer.reverse(i)), overflow included.
			id := int32(bits.Reverse32(uint32(i)))
			if id < 0 {
				id = -id
			}
			u += "&channel_id=" + strconv.Itoa(int(id))
		}
		p.url[i] = u
	}
	actual, _ := poolCache.LoadOrStore(seed, p)
	return actual.(*pools)
}

// baseURL is BidGenerator.getBaseUrl: three random path segments of 3-4
// characters, 1 in 13 an underscore.
func baseURL(r *rng) string {
	var b strings.Builder
	b.WriteString("https://www.nexmark.com/")
	for range 3 {
		n := minStringLength + r.intn(5-minStringLength)
		for range n {
			if r.intn(13) == 0 {
				b.WriteByte('_')
			} else {
				b.WriteByte(byte('a' + r.intn(26)))
			}
		}
		b.WriteByte('/')
	}
	b.WriteString("item.htm?query=1")
	return b.String()
}

// nextString is StringsGenerator.nextString: 3 to maxLength-1 characters,
// each a space with probability 1/13, trimmed.
func (g *gen) nextString(maxLength int64) string {
	n := minStringLength + g.r.intn(maxLength-minStringLength)
	off := g.r.intn(poolSize - n)
	return strings.Trim(g.p.text[off:off+n], " ")
}

// nextExtra is StringsGenerator.nextExtra: letters padding a record of
// currentSize bytes towards an average of avg, uniform in ±20%.
func (g *gen) nextExtra(currentSize, avg int64) string {
	if currentSize > avg {
		return ""
	}
	avg -= currentSize
	delta := int64(math.Round(float64(avg) * 0.2))
	size := avg - delta
	if delta != 0 {
		size += g.r.intn(2 * delta)
	}
	off := g.r.intn(poolSize - size)
	return g.p.letters[off : off+size]
}

// nextLong is LongGenerator.nextLong.
func (g *gen) nextLong(n int64) int64 { return g.r.intn(n) }

var (
	usStates   = [...]string{"AZ", "CA", "ID", "OR", "WA", "WY"}
	usCities   = [...]string{"Phoenix", "Los Angeles", "San Francisco", "Boise", "Portland", "Bend", "Redmond", "Seattle", "Kent", "Cheyenne"}
	firstNames = [...]string{"Peter", "Paul", "Luke", "John", "Saul", "Vicky", "Kate", "Julie", "Sarah", "Deiter", "Walter"}
	lastNames  = [...]string{"Shultz", "Abrams", "Spencer", "White", "Bartels", "Walton", "Smith", "Jones", "Noris"}
	fullNames  = func() (n [len(firstNames) * len(lastNames)]string) {
		for i, f := range firstNames {
			for j, l := range lastNames {
				n[i*len(lastNames)+j] = f + " " + l
			}
		}
		return n
	}()
)

// gen generates one event; it is reused for every event of a split.
type gen struct {
	p *pools
	r rng
}

func (g *gen) nextBase0PersonID(id int64) int64 {
	numPeople := lastBase0PersonID(id) + 1
	active := min(numPeople, numActivePeople)
	return numPeople - active + g.nextLong(active+personIDLead)
}

func (g *gen) nextBase0AuctionID(id int64) int64 {
	maxAuction := lastBase0AuctionID(id)
	minAuction := max(maxAuction-numInFlightAuctions, 0)
	return minAuction + g.nextLong(maxAuction-minAuction+1+auctionIDLead)
}

func (g *gen) person(id, ts int64) Person {
	name := fullNames[g.r.intn(int64(len(fullNames)))]
	email := g.nextString(7) + "@" + g.nextString(5) + ".com"
	var cc [19]byte
	for i := range 4 {
		n := g.r.intn(10_000)
		o := i * 5
		if i > 0 {
			cc[o-1] = ' '
		}
		cc[o], cc[o+1], cc[o+2], cc[o+3] = byte('0'+n/1000), byte('0'+n/100%10), byte('0'+n/10%10), byte('0'+n%10)
	}
	city := usCities[g.r.intn(int64(len(usCities)))]
	state := usStates[g.r.intn(int64(len(usStates)))]
	size := int64(8 + len(name) + len(email) + len(cc) + len(city) + len(state))
	return Person{ID: lastBase0PersonID(id) + FirstPersonID, Name: name, EmailAddress: email,
		CreditCard: string(cc[:]), City: city, State: state, DateTime: ts, Extra: g.nextExtra(size, avgPersonBytes)}
}

func (g *gen) auction(s *Split, number, id, ts int64) Auction {
	var seller int64
	if g.r.intn(hotSellerRatio) > 0 {
		seller = lastBase0PersonID(id) / hotBucket * hotBucket
	} else {
		seller = g.nextBase0PersonID(id)
	}
	category := FirstCategoryID + g.r.intn(numCategories)
	initialBid := g.r.price()
	// The auction runs for 1 ms to twice the event time it takes to
	// generate numInFlightAuctions more auctions.
	horizon := s.timestamp(number+numInFlightAuctions*totalProportion/auctionProportion) - ts
	expires := ts + 1 + g.nextLong(max(horizon*2, 1))
	name := g.nextString(20)
	desc := g.nextString(100)
	reserve := initialBid + g.r.price()
	size := int64(8 + len(name) + len(desc) + 8 + 8 + 8 + 8 + 8)
	return Auction{ID: lastBase0AuctionID(id) + FirstAuctionID, ItemName: name, Description: desc,
		InitialBid: initialBid, Reserve: reserve, DateTime: ts, Expires: expires,
		Seller: seller + FirstPersonID, Category: category, Extra: g.nextExtra(size, avgAuctionBytes)}
}

func (g *gen) bid(id, ts int64) Bid {
	var auction, bidder int64
	if g.r.intn(hotAuctionRatio) > 0 {
		auction = lastBase0AuctionID(id) / hotBucket * hotBucket
	} else {
		auction = g.nextBase0AuctionID(id)
	}
	if g.r.intn(hotBidderRatio) > 0 {
		// The second person of the bucket, so hot bidders and hot
		// sellers differ.
		bidder = lastBase0PersonID(id)/hotBucket*hotBucket + 1
	} else {
		bidder = g.nextBase0PersonID(id)
	}
	price := g.r.price()
	var channel, url string
	if g.r.intn(hotChannelRatio) > 0 {
		i := g.r.intn(int64(len(hotChannels)))
		channel, url = hotChannels[i], g.p.hotURLs[i]
	} else {
		i := g.r.intn(numChannels)
		channel, url = g.p.channel[i], g.p.url[i]
	}
	// nexmark-flink adds FirstPersonID to the bidder twice
	// (BidGenerator.nextBid); so does this port.
	bidder += 2 * FirstPersonID
	return Bid{Auction: auction + FirstAuctionID, Bidder: bidder, Price: price, Channel: channel, URL: url,
		DateTime: ts, Extra: g.nextExtra(8+8+8+8, avgBidBytes)}
}
