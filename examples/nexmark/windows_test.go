package nexmark

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/weirstream/weir/connector/nexmark"
)

// windowStart is the start of the epoch-aligned window of size ms that
// holds t.
func windowStart(t, size int64) int64 { return t - t%size }

// q5Reference counts the bids per auction in every 10 s window sliding by
// 2 s and returns, per window, the auctions with the highest count.
func q5Reference(events []nexmark.Event) []string {
	counts := map[int64]map[int64]int64{} // window start -> auction -> bids
	for _, e := range events {
		if e.Type != nexmark.BidEvent {
			continue
		}
		t := e.Bid.DateTime
		for s := windowStart(t, 2000); s > t-10_000; s -= 2000 {
			if counts[s] == nil {
				counts[s] = map[int64]int64{}
			}
			counts[s][e.Bid.Auction]++
		}
	}
	var want []string
	for s, byAuction := range counts {
		var maxn int64
		for _, n := range byAuction {
			maxn = max(maxn, n)
		}
		for a, n := range byAuction {
			if n == maxn {
				want = append(want, fmt.Sprintf("%d,%d,%d", s, a, n))
			}
		}
	}
	return want
}

// q7Reference returns the bids with the highest price of their 10 s
// window.
func q7Reference(events []nexmark.Event) []string {
	maxPrice := map[int64]int64{}
	for _, e := range events {
		if e.Type == nexmark.BidEvent {
			s := windowStart(e.Bid.DateTime, 10_000)
			maxPrice[s] = max(maxPrice[s], e.Bid.Price)
		}
	}
	var want []string
	for _, e := range events {
		if b := e.Bid; e.Type == nexmark.BidEvent && b.Price == maxPrice[windowStart(b.DateTime, 10_000)] {
			want = append(want, fmt.Sprintf("%d,%d,%d,%d,%s", b.Auction, b.Price, b.Bidder, b.DateTime, csvQuote(b.Extra)))
		}
	}
	return want
}

// q8Reference returns the persons who opened an auction in the 10 s window
// in which they joined.
func q8Reference(events []nexmark.Event) []string {
	type idWindow struct{ id, start int64 }
	sellers := map[idWindow]bool{}
	for _, e := range events {
		if e.Type == nexmark.AuctionEvent {
			sellers[idWindow{e.Auction.Seller, windowStart(e.Auction.DateTime, 10_000)}] = true
		}
	}
	var want []string
	for _, e := range events {
		if p := e.Person; e.Type == nexmark.PersonEvent {
			s := windowStart(p.DateTime, 10_000)
			if sellers[idWindow{p.ID, s}] {
				want = append(want, fmt.Sprintf("%d,%s,%d", p.ID, p.Name, s))
			}
		}
	}
	return want
}

// windowRate spreads the test input over 30 s of event time per subtask:
// three to four 10 s windows, fifteen 2 s slides.
const windowRate = 2000

func TestWindowedQueries(t *testing.T) {
	cl := startCluster(t, 1, testP)
	src := testSource
	src.Rate = windowRate
	events := allEvents(src, testP)
	refs := map[string]func([]nexmark.Event) []string{"q5": q5Reference, "q7": q7Reference, "q8": q8Reference}
	for _, backend := range backends {
		for _, q := range []string{"q5", "q7", "q8"} {
			t.Run(q+"/"+backend, func(t *testing.T) {
				out := filepath.Join(t.TempDir(), "out")
				cl.run(t, graph(t, "nexmark-"+q, testP, map[string]string{"state.backend": backend}, append(fmtArgs(testEvents, testSeed, out), "--rate", fmt.Sprint(windowRate))...))
				want := refs[q](events)
				if len(want) < 3 { // q7: one bid per window
					t.Fatalf("the reference has %d lines; the test input is too small", len(want))
				}
				sameLines(t, readParts(t, out), want)
			})
		}
	}
}
