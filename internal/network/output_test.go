package network_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	weirv1 "github.com/weirstream/weir/api/proto/weir/v1"
	"github.com/weirstream/weir/internal/clock"
	"github.com/weirstream/weir/internal/keygroup"
	"github.com/weirstream/weir/internal/network"
)

// fakeChannel is a ChannelWriter that records what it is given. The output
// calls it from one goroutine, so it needs no lock.
type fakeChannel struct {
	sends    [][]byte // copies: the channel owns and may recycle what it is sent
	closed   int
	aborted  error
	sendErr  error
	closeErr error
	onSend   func()
	events   *[]string // shared log of Send and Close across channels
	name     string
}

var _ network.ChannelWriter = (*fakeChannel)(nil)

func (c *fakeChannel) Send(b []byte) error {
	if c.onSend != nil {
		c.onSend()
	}
	if c.events != nil {
		*c.events = append(*c.events, "send "+c.name)
	}
	if c.sendErr != nil {
		return c.sendErr
	}
	c.sends = append(c.sends, bytes.Clone(b))
	return nil
}

func (c *fakeChannel) Close() error {
	if c.events != nil {
		*c.events = append(*c.events, "close "+c.name)
	}
	c.closed++
	return c.closeErr
}

func (c *fakeChannel) Abort(err error) { c.aborted = err }

// records returns the record payloads the channel received, in order
// ("payload@kg" for a record that carries key group kg), and whether its
// last element was an end of partition (which must be last).
func (c *fakeChannel) records(t *testing.T) (recs []string, ended bool) {
	t.Helper()
	for i, b := range c.sends {
		r := network.NewReader(b)
		for {
			k, p, ok, err := r.Next()
			if err != nil {
				t.Fatalf("channel %s, buffer %d: %v", c.name, i, err)
			}
			if !ok {
				break
			}
			if ended {
				t.Fatalf("channel %s: element after the end of partition", c.name)
			}
			switch k {
			case network.KindRecord, network.KindTimedRecord, network.KindKeyedRecord, network.KindKeyedTimedRecord:
				kg, _, rec, err := network.SplitRecord(k, p)
				if err != nil {
					t.Fatalf("channel %s, buffer %d: %v", c.name, i, err)
				}
				if kg != network.NoKeyGroup {
					rec = fmt.Appendf(rec[:len(rec):len(rec)], "@%d", kg)
				}
				recs = append(recs, string(rec))
			case network.KindEndOfPartition:
				ended = true
			}
		}
	}
	return recs, ended
}

func fakeChannels(n int) ([]*fakeChannel, []network.ChannelWriter) {
	fakes := make([]*fakeChannel, n)
	ws := make([]network.ChannelWriter, n)
	for i := range fakes {
		fakes[i] = &fakeChannel{name: fmt.Sprint(i)}
		ws[i] = fakes[i]
	}
	return fakes, ws
}

func manualClock() *clock.Manual { return clock.NewManual(time.Unix(1_700_000_000, 0)) }

func TestOutputKeyGroupPartitioning(t *testing.T) {
	for _, tc := range []struct{ n, maxP int }{{1, 128}, {2, 128}, {3, 128}, {5, 7}, {4, 4}} {
		t.Run(fmt.Sprintf("p%d_max%d", tc.n, tc.maxP), func(t *testing.T) {
			fakes, ws := fakeChannels(tc.n)
			o := network.NewOutput(weirv1.Partitioning_PARTITIONING_KEY_GROUP, tc.maxP, ws, manualClock(), 0)
			want := make([][]string, tc.n)
			for i := range 2000 {
				key := binary.AppendUvarint(nil, uint64(i))
				h := keygroup.Hash(key)
				rec := fmt.Sprintf("r%d", i)
				if err := o.WriteRecord([]byte(rec), network.NoTimestamp, h); err != nil {
					t.Fatal(err)
				}
				kg := keygroup.Of(h, tc.maxP)
				c := keygroup.Subtask(kg, tc.n, tc.maxP)
				want[c] = append(want[c], fmt.Sprintf("%s@%d", rec, kg)) // it carries its key group
			}
			if err := o.Flush(); err != nil {
				t.Fatal(err)
			}
			for c, f := range fakes {
				got, _ := f.records(t)
				if !slices.Equal(got, want[c]) {
					t.Errorf("channel %d got %d records, want %d (in write order)", c, len(got), len(want[c]))
				}
			}
		})
	}
}

func TestOutputRebalanceCycles(t *testing.T) {
	for subtask := range 4 {
		fakes, ws := fakeChannels(3)
		o := network.NewOutput(weirv1.Partitioning_PARTITIONING_REBALANCE, 128, ws, manualClock(), subtask)
		want := make([][]string, 3)
		for i := range 10 {
			rec := fmt.Sprint(i)
			if err := o.WriteRecord([]byte(rec), network.NoTimestamp, 12345); err != nil { // the hash is ignored
				t.Fatal(err)
			}
			c := (subtask + i) % 3 // producers start at different channels
			want[c] = append(want[c], rec)
		}
		if err := o.Flush(); err != nil {
			t.Fatal(err)
		}
		for c, f := range fakes {
			if got, _ := f.records(t); !slices.Equal(got, want[c]) {
				t.Errorf("subtask %d: channel %d got %v, want %v", subtask, c, got, want[c])
			}
		}
	}
}

func TestOutputForwardUsesItsOneChannel(t *testing.T) {
	fakes, ws := fakeChannels(1)
	o := network.NewOutput(weirv1.Partitioning_PARTITIONING_FORWARD, 128, ws, manualClock(), 3)
	for i := range 5 {
		if err := o.WriteRecord([]byte(fmt.Sprint(i)), network.NoTimestamp, uint64(i)*977); err != nil {
			t.Fatal(err)
		}
	}
	if err := o.Flush(); err != nil {
		t.Fatal(err)
	}
	if got, _ := fakes[0].records(t); !slices.Equal(got, []string{"0", "1", "2", "3", "4"}) {
		t.Errorf("forward channel got %v", got)
	}
}

// TestOutputSendsFullBuffersOrOnFlush: a buffer holds as many whole
// records as fit in BufferSize bytes and goes when the next record does
// not fit, or on Flush.
func TestOutputSendsFullBuffersOrOnFlush(t *testing.T) {
	fakes, ws := fakeChannels(2)
	o := network.NewOutput(weirv1.Partitioning_PARTITIONING_REBALANCE, 128, ws, manualClock(), 0)
	rec := bytes.Repeat([]byte{'x'}, 1000)
	elem := len(network.AppendElement(nil, network.KindRecord, rec))
	for _, ts := range []int64{network.NoTimestamp, 42} {
		if got, want := network.RecordSize(network.NoKeyGroup, ts, len(rec)), len(network.AppendRecord(nil, network.NoKeyGroup, ts, rec)); got != want {
			t.Fatalf("RecordSize(%d, %d) = %d, want the %d bytes appended", ts, len(rec), got, want)
		}
	}
	perBuffer := network.BufferSize / elem

	// Every other record goes to channel 0.
	for i := range 2 * perBuffer {
		if err := o.WriteRecord(rec, network.NoTimestamp, 0); err != nil {
			t.Fatal(err)
		}
		if !o.Pending() {
			t.Fatalf("record %d: nothing pending", i)
		}
	}
	if len(fakes[0].sends)+len(fakes[1].sends) != 0 {
		t.Fatalf("sent before any buffer was full")
	}
	if err := o.WriteRecord(rec, network.NoTimestamp, 0); err != nil { // does not fit in channel 0's buffer
		t.Fatal(err)
	}
	if len(fakes[0].sends) != 1 || len(fakes[1].sends) != 0 {
		t.Fatalf("sends = %d, %d; want channel 0's full buffer only", len(fakes[0].sends), len(fakes[1].sends))
	}
	if n := len(fakes[0].sends[0]); n > network.BufferSize || n+elem <= network.BufferSize {
		t.Errorf("full buffer is %d bytes, want at most %d with no room for another record", n, network.BufferSize)
	}
	if got, _ := fakes[0].records(t); len(got) != perBuffer {
		t.Errorf("full buffer holds %d records, want %d", len(got), perBuffer)
	}
	if !o.Pending() {
		t.Fatal("the partial buffers are not pending")
	}

	if err := o.Flush(); err != nil {
		t.Fatal(err)
	}
	if o.Pending() {
		t.Error("pending after Flush")
	}
	if len(fakes[0].sends) != 2 || len(fakes[1].sends) != 1 {
		t.Fatalf("after Flush sends = %d, %d; want 2, 1", len(fakes[0].sends), len(fakes[1].sends))
	}
	if got, _ := fakes[1].records(t); len(got) != perBuffer {
		t.Errorf("flushed buffer holds %d records, want %d", len(got), perBuffer)
	}

	// Flushing with nothing pending sends nothing.
	if err := o.Flush(); err != nil {
		t.Fatal(err)
	}
	if len(fakes[0].sends) != 2 || len(fakes[1].sends) != 1 {
		t.Errorf("an empty Flush sent: %d, %d", len(fakes[0].sends), len(fakes[1].sends))
	}
}

// TestOutputSendsLargeRecordsAlone: a record larger than a buffer goes
// at once in a buffer of its own, after the records written before it.
func TestOutputSendsLargeRecordsAlone(t *testing.T) {
	fakes, ws := fakeChannels(1)
	o := network.NewOutput(weirv1.Partitioning_PARTITIONING_FORWARD, 128, ws, manualClock(), 0)
	big := bytes.Repeat([]byte{'b'}, network.BufferSize)
	for _, rec := range [][]byte{[]byte("small"), big} {
		if err := o.WriteRecord(rec, network.NoTimestamp, 0); err != nil {
			t.Fatal(err)
		}
	}
	if o.Pending() || len(fakes[0].sends) != 2 {
		t.Fatalf("pending %v, %d sends; want the small record's buffer, then the large record's, sent", o.Pending(), len(fakes[0].sends))
	}
	if got, _ := fakes[0].records(t); len(got) != 2 || got[0] != "small" || got[1] != string(big) {
		t.Fatalf("records %d, want the small one, then the large one", len(got))
	}
}

func TestOutputFinish(t *testing.T) {
	fakes, ws := fakeChannels(3)
	var events []string
	for _, f := range fakes {
		f.events = &events
	}
	o := network.NewOutput(weirv1.Partitioning_PARTITIONING_REBALANCE, 128, ws, manualClock(), 0)
	for _, r := range []string{"a", "b", "c", "d"} { // channels 0, 1, 2, 0
		if err := o.WriteRecord([]byte(r), network.NoTimestamp, 0); err != nil {
			t.Fatal(err)
		}
	}
	if err := o.Finish(); err != nil {
		t.Fatal(err)
	}
	want := [][]string{{"a", "d"}, {"b"}, {"c"}}
	for c, f := range fakes {
		got, ended := f.records(t)
		if !ended {
			t.Errorf("channel %d got no end of partition", c)
		}
		if !slices.Equal(got, want[c]) {
			t.Errorf("channel %d got %v, want %v", c, got, want[c])
		}
		if len(f.sends) != 1 {
			t.Errorf("channel %d: %d sends, want the pending records and the end in one buffer", c, len(f.sends))
		}
		if f.closed != 1 {
			t.Errorf("channel %d closed %d times, want once", c, f.closed)
		}
	}
	// Every channel gets its end of partition before any is closed: Close
	// waits for the consumer, which may be waiting for another channel's end.
	if want := []string{"send 0", "send 1", "send 2", "close 0", "close 1", "close 2"}; !slices.Equal(events, want) {
		t.Errorf("Finish did %v, want %v", events, want)
	}
	if o.Pending() {
		t.Error("pending after Finish")
	}
}

func TestOutputFinishErrors(t *testing.T) {
	fakes, ws := fakeChannels(2)
	closeErr := errors.New("consumer never confirmed")
	fakes[1].closeErr = closeErr
	o := network.NewOutput(weirv1.Partitioning_PARTITIONING_FORWARD, 128, ws[:1], manualClock(), 0)
	if err := o.Finish(); err != nil {
		t.Fatalf("Finish: %v", err)
	}
	o = network.NewOutput(weirv1.Partitioning_PARTITIONING_REBALANCE, 128, ws, manualClock(), 0)
	if err := o.Finish(); !errors.Is(err, closeErr) {
		t.Errorf("Finish = %v, want the Close error", err)
	}

	sendErr := errors.New("gate closed")
	fakes, ws = fakeChannels(2)
	fakes[0].sendErr = sendErr
	o = network.NewOutput(weirv1.Partitioning_PARTITIONING_REBALANCE, 128, ws, manualClock(), 0)
	if err := o.Finish(); !errors.Is(err, sendErr) {
		t.Errorf("Finish = %v, want the Send error", err)
	}
}

func TestOutputSendErrorsReturn(t *testing.T) {
	fakes, ws := fakeChannels(1)
	sendErr := errors.New("consumer has ended")
	fakes[0].sendErr = sendErr
	o := network.NewOutput(weirv1.Partitioning_PARTITIONING_FORWARD, 128, ws, manualClock(), 0)
	if err := o.WriteRecord([]byte("a"), network.NoTimestamp, 0); err != nil {
		t.Fatalf("a buffered record failed: %v", err)
	}
	if err := o.Flush(); !errors.Is(err, sendErr) {
		t.Errorf("Flush = %v, want %v", err, sendErr)
	}
	big := make([]byte, network.BufferSize)
	if err := o.WriteRecord(big, network.NoTimestamp, 0); !errors.Is(err, sendErr) {
		t.Errorf("WriteRecord of a full buffer = %v, want %v", err, sendErr)
	}
}

func TestOutputAbortReachesEveryChannel(t *testing.T) {
	fakes, ws := fakeChannels(4)
	o := network.NewOutput(weirv1.Partitioning_PARTITIONING_KEY_GROUP, 128, ws, manualClock(), 0)
	boom := errors.New("task failed")
	o.Abort(boom)
	for c, f := range fakes {
		if !errors.Is(f.aborted, boom) {
			t.Errorf("channel %d aborted with %v, want %v", c, f.aborted, boom)
		}
		if f.closed != 0 {
			t.Errorf("channel %d closed by Abort", c)
		}
	}
}

func TestOutputCountsBackpressure(t *testing.T) {
	clk := manualClock()
	fakes, ws := fakeChannels(2)
	for _, f := range fakes {
		f.onSend = func() { clk.Advance(7 * time.Millisecond) } // Send blocks for 7ms
	}
	o := network.NewOutput(weirv1.Partitioning_PARTITIONING_REBALANCE, 128, ws, clk, 0)
	if err := o.WriteRecord([]byte("a"), network.NoTimestamp, 0); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Second) // time outside Send is not backpressure
	if err := o.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := o.Finish(); err != nil {
		t.Fatal(err)
	}
	// One flushed buffer and two ends of partition.
	if want := 21 * time.Millisecond; o.Backpressured != want {
		t.Errorf("Backpressured = %v, want %v", o.Backpressured, want)
	}
}

// TestOutputBroadcastKeepsBuffersWithinBufferSize: an event that does not
// fit in a channel's pending buffer goes in a buffer of its own, after it,
// so that no buffer is over BufferSize (and no gRPC message over the
// 32 KiB pool class) however full the buffer a watermark or barrier
// follows.
func TestOutputBroadcastKeepsBuffersWithinBufferSize(t *testing.T) {
	fakes, ws := fakeChannels(1)
	o := network.NewOutput(weirv1.Partitioning_PARTITIONING_FORWARD, 128, ws, manualClock(), 0)
	// Records that leave less room than a watermark element takes.
	wm := network.EncodeTimestamp(42)
	rec := make([]byte, network.BufferSize-network.RecordSize(network.NoKeyGroup, network.NoTimestamp, 0)-2)
	if err := o.WriteRecord(rec, network.NoTimestamp, 0); err != nil {
		t.Fatal(err)
	}
	if err := o.Broadcast(network.KindWatermark, wm); err != nil {
		t.Fatal(err)
	}
	var kinds []network.Kind
	for i, b := range fakes[0].sends {
		if len(b) > network.BufferSize {
			t.Errorf("buffer %d is %d bytes, over BufferSize (%d)", i, len(b), network.BufferSize)
		}
		for r := network.NewReader(b); ; {
			k, _, ok, err := r.Next()
			if err != nil {
				t.Fatal(err)
			}
			if !ok {
				break
			}
			kinds = append(kinds, k)
		}
	}
	if want := []network.Kind{network.KindRecord, network.KindWatermark}; !slices.Equal(kinds, want) {
		t.Errorf("elements sent %v, want %v", kinds, want)
	}
	// An event that fits travels with the records before it, in one buffer.
	fakes[0].sends = nil
	if err := o.WriteRecord([]byte("a"), network.NoTimestamp, 0); err != nil {
		t.Fatal(err)
	}
	if err := o.Broadcast(network.KindWatermark, wm); err != nil {
		t.Fatal(err)
	}
	if len(fakes[0].sends) != 1 {
		t.Errorf("a record and a watermark went in %d buffers, want 1", len(fakes[0].sends))
	}
}
