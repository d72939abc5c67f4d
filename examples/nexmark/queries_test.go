package nexmark

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/weirstream/weir/connector/nexmark"
	"github.com/weirstream/weir/stream"
)

// The result tests run each program on a minicluster at parallelism 2,
// with the keyed exchanges between the two subtasks, and compare its
// output with a reference computed here from the generator's events by
// plain loops and maps.

const (
	testEvents   = 60_000
	testSeed     = 7
	testBaseTime = 1_700_000_000_000
	testP        = 2
)

var testSource = nexmark.Source{Events: testEvents, Seed: testSeed, BaseTime: testBaseTime, Rate: nexmark.DefaultRate}

// allEvents returns the events of every subtask of src at parallelism p.
func allEvents(src nexmark.Source, p int) []nexmark.Event {
	var events []nexmark.Event
	for i := range p {
		sp := src.Split(i, p)
		for k := range sp.Count {
			events = append(events, sp.Event(k))
		}
	}
	return events
}

func allBids(src nexmark.Source, p int) []nexmark.Bid {
	var bids []nexmark.Bid
	for _, e := range allEvents(src, p) {
		if e.Type == nexmark.BidEvent {
			bids = append(bids, e.Bid)
		}
	}
	return bids
}

func csvQuote(s string) string {
	if strings.ContainsAny(s, ",\"\n") {
		return fmt.Sprintf("%q", s)
	}
	return s
}

// backends are the state backends the stateful queries run on.
var backends = []string{"heap", "pebble"}

func TestStatelessQueries(t *testing.T) {
	cl := startCluster(t, 1, testP)
	bids := allBids(testSource, testP)
	refs := map[string]func() []string{
		"q0": func() (want []string) {
			for _, b := range bids {
				want = append(want, fmt.Sprintf("%d,%d,%d,%d,%s", b.Auction, b.Bidder, b.Price, b.DateTime, csvQuote(b.Extra)))
			}
			return want
		},
		"q1": func() (want []string) {
			for _, b := range bids {
				milli := b.Price * 908 // 0.908 × price, three decimals
				want = append(want, fmt.Sprintf("%d,%d,%d.%03d,%d,%s", b.Auction, b.Bidder, milli/1000, milli%1000, b.DateTime, csvQuote(b.Extra)))
			}
			return want
		},
		"q2": func() (want []string) {
			for _, b := range bids {
				if b.Auction%123 == 0 {
					want = append(want, fmt.Sprintf("%d,%d", b.Auction, b.Price))
				}
			}
			return want
		},
	}
	for _, q := range []string{"q0", "q1", "q2"} {
		t.Run(q, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			cl.run(t, graph(t, "nexmark-"+q, testP, nil, fmtArgs(testEvents, testSeed, out)...))
			want := refs[q]()
			if len(want) == 0 {
				t.Fatal("the reference is empty; the test input is too small")
			}
			sameLines(t, readParts(t, out), want)
		})
	}
}

// q3Reference joins the persons of OR, ID and CA with the auctions of
// category 10 they sell.
func q3Reference(events []nexmark.Event) []string {
	persons := map[int64]nexmark.Person{}
	for _, e := range events {
		if e.Type == nexmark.PersonEvent {
			persons[e.Person.ID] = e.Person
		}
	}
	var want []string
	for _, e := range events {
		if e.Type != nexmark.AuctionEvent || e.Auction.Category != 10 {
			continue
		}
		p, ok := persons[e.Auction.Seller]
		if ok && (p.State == "OR" || p.State == "ID" || p.State == "CA") {
			want = append(want, fmt.Sprintf("%s,%s,%s,%d", p.Name, p.City, p.State, e.Auction.ID))
		}
	}
	return want
}

// q4Reference is the average, per category, of the highest bid of every
// auction among its bids between its start and its expiry; auctions
// without such bids do not count. It returns `category,avg` lines.
func q4Reference(events []nexmark.Event) map[int64]string {
	auctions := map[int64]nexmark.Auction{}
	for _, e := range events {
		if e.Type == nexmark.AuctionEvent {
			auctions[e.Auction.ID] = e.Auction
		}
	}
	maxPrice := map[int64]int64{}
	for _, e := range events {
		if e.Type != nexmark.BidEvent {
			continue
		}
		a, ok := auctions[e.Bid.Auction]
		if ok && e.Bid.DateTime >= a.DateTime && e.Bid.DateTime <= a.Expires {
			maxPrice[a.ID] = max(maxPrice[a.ID], e.Bid.Price)
		}
	}
	sum, count := map[int64]int64{}, map[int64]int64{}
	for id, m := range maxPrice {
		c := auctions[id].Category
		sum[c] += m
		count[c]++
	}
	want := map[int64]string{}
	for c := range sum {
		want[c] = fmt.Sprintf("%d,%d", c, sum[c]/count[c])
	}
	return want
}

func TestStatefulQueries(t *testing.T) {
	cl := startCluster(t, 1, testP)
	events := allEvents(testSource, testP)
	for _, backend := range backends {
		t.Run("q3/"+backend, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			cl.run(t, graph(t, "nexmark-q3", testP, map[string]string{"state.backend": backend}, fmtArgs(testEvents, testSeed, out)...))
			want := q3Reference(events)
			if len(want) < 10 {
				t.Fatalf("the reference has %d lines; the test input is too small", len(want))
			}
			sameLines(t, readParts(t, out), want)
		})
		t.Run("q4/"+backend, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			cl.run(t, graph(t, "nexmark-q4", testP, map[string]string{"state.backend": backend}, fmtArgs(testEvents, testSeed, out)...))
			want := q4Reference(events)
			if len(want) != 5 {
				t.Fatalf("the reference has %d categories, want 5", len(want))
			}
			// q4 emits the category's new average with every change of
			// an auction's maximum; the last line of a category is its
			// final average. A category's lines all come from one
			// subtask, in order.
			last := map[string]string{}
			for _, l := range readParts(t, out) {
				c, _, _ := strings.Cut(l, ",")
				last[c] = l
			}
			var got, wantLines []string
			for _, l := range last {
				got = append(got, l)
			}
			for _, l := range want {
				wantLines = append(wantLines, l)
			}
			sameLines(t, got, wantLines)
		})
	}
}

func TestBadFlagsRejected(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--events", "-1"}, "nexmark-q0: nexmark: events -1 must be >= 0"},
		{[]string{"--rate", "0"}, "nexmark-q0: --rate must be positive"},
		{[]string{"--speed", "3"}, "nexmark-q0: flag provided but not defined: -speed"},
		{[]string{"extra"}, `nexmark-q0: unexpected argument "extra"`},
	} {
		_, err := stream.BuildProgram("nexmark-q0", tc.args, 1)
		if err == nil || err.Error() != tc.want {
			t.Errorf("nexmark-q0 %v: %v, want %q", tc.args, err, tc.want)
		}
	}
}

func TestProgramsRegistered(t *testing.T) {
	var names []string
	for _, p := range stream.Programs() {
		names = append(names, p.Name)
	}
	for _, q := range []string{"q0", "q1", "q2", "q3", "q4", "q5", "q7", "q8"} {
		if !slices.Contains(names, "nexmark-"+q) {
			t.Errorf("nexmark-%s is not registered", q)
		}
	}
}
