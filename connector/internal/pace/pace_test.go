package pace

import (
	"testing"
	"time"

	"github.com/weirstream/weir/internal/clock"
)

func TestPacer(t *testing.T) {
	clk := clock.NewManual(time.Unix(1_000_000, 0))
	p := New(clk, 4) // record k is due at k*250ms
	defer p.Close()
	notAvailable := func() {
		t.Helper()
		select {
		case <-p.Available():
			t.Fatal("Available fired early")
		default:
		}
	}
	if !p.Ready(0, p.Now()) {
		t.Fatal("record 0 is not due at the start")
	}
	if p.Ready(1, p.Now()) {
		t.Fatal("record 1 is due at the start")
	}
	if p.Ready(1, p.Now()) { // asking again arms no second timer
		t.Fatal("record 1 is due at the start")
	}
	clk.Advance(249 * time.Millisecond)
	notAvailable()
	clk.Advance(time.Millisecond)
	select {
	case <-p.Available():
	case <-time.After(10 * time.Second): // only against hangs
		t.Fatal("Available did not fire when record 1 was due")
	}
	if !p.Ready(1, p.Now()) {
		t.Fatal("record 1 is not due after 250ms")
	}
	if got, want := p.Due(10), time.Unix(1_000_000, 0).Add(2500*time.Millisecond); !got.Equal(want) {
		t.Fatalf("Due(10) = %v, want %v", got, want)
	}
}

func TestDueSaturates(t *testing.T) {
	p := New(clock.NewManual(time.Unix(0, 0)), 1e-300)
	defer p.Close()
	if d := p.Due(1); !d.After(time.Unix(0, 0).Add(100 * 365 * 24 * time.Hour)) {
		t.Fatalf("Due(1) at 1e-300 records/s = %v, want the far future", d)
	}
}

func TestCloseStopsWaitingTimer(t *testing.T) {
	p := New(clock.NewManual(time.Unix(0, 0)), 1)
	if p.Ready(1, p.Now()) {
		t.Fatal("record 1 is due at the start")
	}
	p.Close() // the timer goroutine waits for a second that never comes
	p.Close()
}
