package nexmark

import (
	"log/slog"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/weirstream/weir/internal/clock"
	"github.com/weirstream/weir/stream"
)

type collector []Event

func (c *collector) Collect(e Event) { *c = append(*c, e) }

func newReader(t *testing.T, s Source, subtask, parallelism int, clk clock.Clock) *reader {
	t.Helper()
	r, err := s.CreateReader(&stream.SourceContext{TaskInfo: stream.TaskInfo{
		SubtaskIndex: subtask, Parallelism: parallelism, MaxParallelism: 128, Clock: clk, Logger: slog.Default(),
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := r.Close(); err != nil {
			t.Error(err)
		}
	})
	return r.(*reader)
}

// drain polls r until PollEnd.
func drain(t *testing.T, r stream.SourceReader[Event]) []Event {
	t.Helper()
	var out collector
	for {
		before := len(out)
		st, err := r.PollNext(&out)
		if err != nil {
			t.Fatal(err)
		}
		if len(out)-before > maxBatch {
			t.Fatalf("one PollNext emitted %d events, more than a batch", len(out)-before)
		}
		switch st {
		case stream.PollEnd:
			return out
		case stream.PollIdle:
			t.Fatal("unthrottled source went idle")
		}
	}
}

func TestKindsAndIDs(t *testing.T) {
	const n = 50_000
	events := drain(t, newReader(t, Source{Events: n, Seed: 3}, 0, 1, clock.Real{}))
	if len(events) != n {
		t.Fatalf("%d events, want %d", len(events), n)
	}
	counts := map[EventType]int{}
	nextPerson, nextAuction := int64(FirstPersonID), int64(FirstAuctionID)
	for i, e := range events {
		counts[e.Type]++
		if want := Kind(int64(i)); e.Type != want {
			t.Fatalf("event %d is a %v, want a %v", i, e.Type, want)
		}
		switch e.Type {
		case PersonEvent:
			if e.Person.ID != nextPerson {
				t.Fatalf("event %d: person id %d, want %d", i, e.Person.ID, nextPerson)
			}
			nextPerson++
		case AuctionEvent:
			if e.Auction.ID != nextAuction {
				t.Fatalf("event %d: auction id %d, want %d", i, e.Auction.ID, nextAuction)
			}
			nextAuction++
		}
	}
	if counts[PersonEvent] != n/50 || counts[AuctionEvent] != 3*n/50 || counts[BidEvent] != 46*n/50 {
		t.Fatalf("persons/auctions/bids = %d/%d/%d, want 1:3:46 of %d", counts[PersonEvent], counts[AuctionEvent], counts[BidEvent], n)
	}
	// The first ids of nexmark-flink: event 0 is person 1000, events 1-3
	// auctions 1000-1002, event 50 person 1001.
	if events[0].Person.ID != 1000 || events[3].Auction.ID != 1002 || events[50].Person.ID != 1001 || events[51].Auction.ID != 1003 {
		t.Fatal("ids differ from nexmark-flink's")
	}
}

func TestTimestamps(t *testing.T) {
	src := Source{Events: 10_000, Rate: 1000, BaseTime: 1_000_000}
	// p=1: event k at BaseTime + k ms.
	for k, e := range drain(t, newReader(t, src, 0, 1, clock.Real{})) {
		if got, want := e.Time(), src.BaseTime+int64(k); got != want {
			t.Fatalf("p=1 event %d at %d, want %d", k, got, want)
		}
	}
	// p=2: each subtask at 500 events/s of event time, both from BaseTime.
	for i := range 2 {
		events := drain(t, newReader(t, src, i, 2, clock.Real{}))
		if len(events) != 5000 {
			t.Fatalf("subtask %d: %d events, want 5000", i, len(events))
		}
		for k, e := range events {
			if got, want := e.Time(), src.BaseTime+2*int64(k); got != want {
				t.Fatalf("p=2 subtask %d event %d at %d, want %d", i, k, got, want)
			}
		}
	}
}

func TestSplitsCoverEveryID(t *testing.T) {
	const n = 20_011
	src := Source{Events: n, Seed: 11}
	one := src.Split(0, 1)
	for p := 1; p <= 4; p++ {
		var ids []int64
		for i := range p {
			sp := src.Split(i, p)
			for k := range sp.Count {
				ids = append(ids, sp.FirstID+k)
				// Apart from times, an event depends on its id only.
				a, b := sp.Event(k), one.Event(sp.FirstID+k)
				if a.Type == BidEvent {
					a.Bid.DateTime, b.Bid.DateTime = 0, 0
				}
				if a.Type == PersonEvent {
					a.Person.DateTime, b.Person.DateTime = 0, 0
				}
				if a.Type == AuctionEvent {
					if a.Auction.Expires-a.Auction.DateTime < 1 {
						t.Fatalf("auction %d expires before it starts", a.Auction.ID)
					}
					a.Auction.DateTime, b.Auction.DateTime, a.Auction.Expires, b.Auction.Expires = 0, 0, 0, 0
				}
				if a != b {
					t.Fatalf("p=%d: event id %d differs from p=1's:\n%+v\n%+v", p, sp.FirstID+k, a, b)
				}
			}
		}
		slices.Sort(ids)
		for i, id := range ids {
			if id != int64(i) {
				t.Fatalf("p=%d: the splits cover ids %v..., want 0..%d once each", p, ids[:i+1], n-1)
			}
		}
		if len(ids) != n {
			t.Fatalf("p=%d: %d ids, want %d", p, len(ids), n)
		}
	}
}

func TestDeterministicBySeed(t *testing.T) {
	a := Source{Events: 1000, Seed: 5}.Split(0, 1)
	b := Source{Events: 1000, Seed: 5}.Split(0, 1)
	c := Source{Events: 1000, Seed: 6}.Split(0, 1)
	same := 0
	for k := range int64(1000) {
		if a.Event(k) != b.Event(k) {
			t.Fatalf("event %d differs between two generators with seed 5", k)
		}
		if a.Event(k) == c.Event(k) {
			same++
		}
	}
	if same > 10 {
		t.Fatalf("seeds 5 and 6 generate %d identical events of 1000", same)
	}
}

// TestDistributions checks the field distributions of nexmark-flink's
// generator on 500,000 events.
func TestDistributions(t *testing.T) {
	const n = 500_000
	sp := Source{Events: n, Seed: 1}.Split(0, 1)
	var bids, hotAuction, hotBidder, auctions, hotSeller, persons float64
	var bidBytes, auctionBytes, personBytes, log10Price float64
	categories := map[int64]int{}
	states := map[string]int{}
	hotChannel := 0.0
	for k := range int64(n) {
		e := sp.Event(k)
		switch e.Type {
		case BidEvent:
			b := e.Bid
			bids++
			if b.Auction == lastBase0AuctionID(k)/100*100+FirstAuctionID {
				hotAuction++
			}
			if b.Bidder == lastBase0PersonID(k)/100*100+1+2*FirstPersonID {
				hotBidder++
			}
			if b.Price < 100 || b.Price > 100_000_000 {
				t.Fatalf("bid price %d outside 100..10^8", b.Price)
			}
			log10Price += math.Log10(float64(b.Price))
			if slices.Contains(hotChannels[:], b.Channel) {
				hotChannel++
			} else if !strings.HasPrefix(b.Channel, "channel-") || !strings.HasPrefix(b.URL, "https://www.nexmark.com/") {
				t.Fatalf("bid channel %q url %q", b.Channel, b.URL)
			}
			bidBytes += float64(32 + len(b.Extra))
		case AuctionEvent:
			a := e.Auction
			auctions++
			if a.Seller == lastBase0PersonID(k)/100*100+FirstPersonID {
				hotSeller++
			}
			categories[a.Category]++
			if a.Reserve <= a.InitialBid {
				t.Fatalf("auction %d: reserve %d <= initial bid %d", a.ID, a.Reserve, a.InitialBid)
			}
			if len(a.ItemName) > 19 || len(a.Description) > 99 {
				t.Fatalf("auction %d: name %q or description too long", a.ID, a.ItemName)
			}
			auctionBytes += float64(8 + len(a.ItemName) + len(a.Description) + 40 + len(a.Extra))
		case PersonEvent:
			p := e.Person
			persons++
			states[p.State]++
			if len(p.CreditCard) != 19 || !strings.Contains(p.EmailAddress, "@") || !strings.HasSuffix(p.EmailAddress, ".com") {
				t.Fatalf("person %+v", p)
			}
			personBytes += float64(8 + len(p.Name) + len(p.EmailAddress) + len(p.CreditCard) + len(p.City) + len(p.State) + len(p.Extra))
		}
	}
	near := func(name string, got, want, tol float64) {
		t.Helper()
		if math.Abs(got-want) > tol {
			t.Errorf("%s = %.3f, want %.3f ± %.3f", name, got, want, tol)
		}
	}
	// The hot auction is chosen 1/2 of the time and the hot bidder 3/4;
	// random picks add a little.
	near("hot auction share", hotAuction/bids, 0.5, 0.02)
	near("hot bidder share", hotBidder/bids, 0.75, 0.02)
	near("hot seller share", hotSeller/auctions, 0.75, 0.02)
	near("hot channel share", hotChannel/bids, 0.5, 0.01)
	near("mean log10(price)", log10Price/bids, 5, 0.02) // 2 + 6·U(0,1)
	near("mean bid bytes", bidBytes/bids, avgBidBytes, 1)
	near("mean auction bytes", auctionBytes/auctions, avgAuctionBytes, 3)
	near("mean person bytes", personBytes/persons, avgPersonBytes, 3)
	if len(categories) != 5 || categories[10] == 0 || categories[14] == 0 {
		t.Errorf("categories %v, want 10..14", categories)
	}
	if len(states) != 6 {
		t.Errorf("states %v, want the six of nexmark", states)
	}
}

func TestCheckpointRestoreNeitherLosesNorRepeats(t *testing.T) {
	src := Source{Events: 30_000, Seed: 2}
	for _, p := range []int{1, 3} {
		for i := range p {
			want := drain(t, newReader(t, src, i, p, clock.Real{}))

			r := newReader(t, src, i, p, clock.Real{})
			var got collector
			for range 5 {
				if _, err := r.PollNext(&got); err != nil {
					t.Fatal(err)
				}
			}
			state, err := r.SnapshotState(1)
			if err != nil {
				t.Fatal(err)
			}
			// Events after the checkpoint are lost with the failed attempt.
			var lost collector
			r.PollNext(&lost)

			restored := newReader(t, src, i, p, clock.Real{})
			if err := restored.RestoreState(state); err != nil {
				t.Fatal(err)
			}
			got = append(got, drain(t, restored)...)
			if len(got) != len(want) {
				t.Fatalf("p=%d subtask %d: %d events after restore, want %d", p, i, len(got), len(want))
			}
			for k := range want {
				if got[k] != want[k] {
					t.Fatalf("p=%d subtask %d: event %d differs after restore", p, i, k)
				}
			}
		}
	}
}

func TestRestoreRejectsAnotherSplit(t *testing.T) {
	src := Source{Events: 1000}
	r := newReader(t, src, 0, 2, clock.Real{})
	state, err := r.SnapshotState(1)
	if err != nil {
		t.Fatal(err)
	}
	other := newReader(t, src, 1, 2, clock.Real{})
	err = other.RestoreState(state)
	if err == nil || !strings.Contains(err.Error(), "is not this subtask's") {
		t.Fatalf("restoring subtask 0's state into subtask 1: %v", err)
	}
	if err := other.RestoreState([][]byte{{0xff}}); err == nil || !strings.Contains(err.Error(), "corrupt") {
		t.Fatalf("restoring garbage: %v", err)
	}
	if err := other.RestoreState(nil); err == nil {
		t.Fatal("restoring no elements succeeded")
	}
}

func TestUnbounded(t *testing.T) {
	r := newReader(t, Source{}, 1, 2, clock.Real{})
	var out collector
	for range 3 {
		if st, err := r.PollNext(&out); st != stream.PollMore || err != nil {
			t.Fatalf("PollNext = %v, %v; want PollMore", st, err)
		}
	}
	if len(out) != 3*maxBatch {
		t.Fatalf("3 polls emitted %d events, want %d", len(out), 3*maxBatch)
	}
	if r.split.FirstID != maxEventsUnbounded/2 {
		t.Fatalf("subtask 1 of 2 starts at id %d, want %d", r.split.FirstID, maxEventsUnbounded/2)
	}
}

func TestThrottle(t *testing.T) {
	clk := clock.NewManual(time.Unix(1_000_000, 0))
	// 20 events/s over 2 subtasks: each is due every 100 ms.
	r := newReader(t, Source{Rate: 20, Throttle: true}, 0, 2, clk)
	var out collector
	if st, _ := r.PollNext(&out); st != stream.PollIdle || len(out) != 1 {
		t.Fatalf("first poll: %v with %d events, want idle after 1", st, len(out))
	}
	clk.Advance(time.Second)
	select {
	case <-r.Available():
	case <-time.After(10 * time.Second):
		t.Fatal("Available did not fire")
	}
	if st, _ := r.PollNext(&out); st != stream.PollIdle || len(out) != 11 {
		t.Fatalf("after 1 s: %v with %d events, want idle after 11", st, len(out))
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		src  Source
		want string
	}{
		{Source{Events: -1}, "nexmark: events -1 must be >= 0"},
		{Source{Rate: -2}, "nexmark: rate -2 must be >= 0"},
		{Source{Rate: math.Inf(1)}, "nexmark: rate +Inf must be a finite number"},
		{Source{BaseTime: -5}, "nexmark: base_time -5 must be >= 0"},
	} {
		if err := tc.src.Validate(); err == nil || err.Error() != tc.want {
			t.Errorf("%+v.Validate() = %v, want %q", tc.src, err, tc.want)
		}
	}
}

func TestCodecs(t *testing.T) {
	sp := Source{Events: 200, Seed: 8}.Split(0, 1)
	c := stream.CodecFor[Event]()
	var buf []byte
	for k := range int64(200) {
		e := sp.Event(k)
		buf = c.Append(buf[:0], e)
		got, err := c.Decode(buf)
		if err != nil || got != e {
			t.Fatalf("event %d: round trip gave %+v, %v", k, got, err)
		}
		for cut := range len(buf) {
			if _, err := c.Decode(buf[:cut]); err == nil {
				t.Fatalf("event %d: decoding %d of %d bytes succeeded", k, cut, len(buf))
			}
		}
	}
	if _, err := c.Decode([]byte{9}); err == nil || !strings.Contains(err.Error(), "event type 9") {
		t.Fatalf("decoding type 9: %v", err)
	}
	bid := sp.Event(10).Bid
	buf = BidCodec{}.Append(buf[:0], bid)
	if _, err := (BidCodec{}).Decode(append(buf, 0)); err == nil || !strings.Contains(err.Error(), "after the end") {
		t.Fatalf("decoding a bid with a trailing byte: %v", err)
	}
	// A bid costs no allocation to generate or encode and one to decode.
	if n := testing.AllocsPerRun(100, func() { buf = BidCodec{}.Append(buf[:0], sp.Event(10).Bid) }); n != 0 {
		t.Errorf("generating and encoding a bid: %v allocations", n)
	}
	if n := testing.AllocsPerRun(100, func() { BidCodec{}.Decode(buf) }); n != 1 {
		t.Errorf("decoding a bid: %v allocations, want 1", n)
	}
}

func TestRegistered(t *testing.T) {
	if !slices.Contains(stream.RegisteredFunctions(), "weir.nexmark") {
		t.Fatal(`"weir.nexmark" is not registered`)
	}
}
