package socket

import (
	"bytes"
	"io"
	"log/slog"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/weirstream/weir/internal/clock"
	"github.com/weirstream/weir/stream"
)

type collector []string

func (c *collector) Collect(v string) { *c = append(*c, v) }

func newReader(t *testing.T, s Source, subtask, parallelism int) stream.SourceReader[string] {
	t.Helper()
	r, err := s.CreateReader(&stream.SourceContext{TaskInfo: stream.TaskInfo{
		SubtaskIndex: subtask, Parallelism: parallelism, MaxParallelism: 128,
		Clock: clock.Real{}, Logger: slog.Default(),
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := r.Close(); err != nil {
			t.Error(err)
		}
	})
	return r
}

// serve accepts one connection on a fresh listener and hands it to handle,
// in a goroutine the test waits for.
func serve(t *testing.T, handle func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer ln.Close()
		conn, err := ln.Accept()
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close()
		handle(conn)
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
	})
	return ln.Addr().String()
}

// poll polls r until it reports PollEnd, waiting on Available when idle, and
// returns the records and the error PollNext ended with.
func poll(t *testing.T, r stream.SourceReader[string]) ([]string, error) {
	t.Helper()
	var out collector
	for {
		st, err := r.PollNext(&out)
		if err != nil {
			return out, err
		}
		switch st {
		case stream.PollEnd:
			return out, nil
		case stream.PollIdle:
			select {
			case <-r.Available():
			case <-time.After(10 * time.Second): // only against hangs
				t.Fatal("idle reader never became available")
			}
		}
	}
}

func TestReadsLinesUntilPeerCloses(t *testing.T) {
	long := strings.Repeat("x", 200_000) // longer than the read buffer
	addr := serve(t, func(c net.Conn) {
		io.WriteString(c, "hello world\nsecond\r\n\n"+long+"\nlast without newline")
	})
	got, err := poll(t, newReader(t, Source{Address: addr}, 0, 1))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"hello world", "second", "", long, "last without newline"}
	if !slices.Equal(got, want) {
		t.Fatalf("got %.40q, want %.40q", got, want)
	}
}

func TestCustomDelimiter(t *testing.T) {
	addr := serve(t, func(c net.Conn) {
		// Write byte by byte so delimiters straddle reads.
		for _, b := range []byte("a||bb|c||||d\n||") {
			c.Write([]byte{b})
		}
	})
	got, err := poll(t, newReader(t, Source{Address: addr, Delimiter: "||"}, 0, 1))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"a", "bb|c", "", "d\n"}; !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestManyRecordsInOrder(t *testing.T) {
	const n = 100_000
	var buf bytes.Buffer
	want := make([]string, n)
	for i := range want {
		want[i] = strings.Repeat("r", i%50) + string(rune('a'+i%26))
		buf.WriteString(want[i] + "\n")
	}
	addr := serve(t, func(c net.Conn) { c.Write(buf.Bytes()) })
	r := newReader(t, Source{Address: addr}, 0, 1)
	var out collector
	for {
		before := len(out)
		st, err := r.PollNext(&out)
		if err != nil {
			t.Fatal(err)
		}
		if len(out)-before > maxBatch {
			t.Fatalf("one PollNext emitted %d records", len(out)-before)
		}
		if st == stream.PollEnd {
			break
		}
		if st == stream.PollIdle {
			<-r.Available()
		}
	}
	if !slices.Equal(out, want) {
		t.Fatalf("got %d records, want %d, or in another order", len(out), n)
	}
}

func TestOtherSubtasksEndAtOnce(t *testing.T) {
	// No server: a subtask other than 0 must not connect.
	r := newReader(t, Source{Address: "127.0.0.1:1"}, 1, 2)
	var out collector
	if st, err := r.PollNext(&out); st != stream.PollEnd || err != nil {
		t.Fatalf("PollNext = %v, %v; want PollEnd", st, err)
	}
}

func TestConnectError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // now nothing listens there
	_, err = poll(t, newReader(t, Source{Address: addr}, 0, 1))
	if err == nil || !strings.Contains(err.Error(), addr) {
		t.Fatalf("got error %v, want a connection error naming %s", err, addr)
	}
}

func TestCloseWhileServerIsSilent(t *testing.T) {
	connected := make(chan struct{})
	release := make(chan struct{})
	addr := serve(t, func(c net.Conn) {
		close(connected)
		<-release
	})
	defer close(release)
	r := newReader(t, Source{Address: addr}, 0, 1)
	<-connected
	var out collector
	if st, err := r.PollNext(&out); st != stream.PollIdle || err != nil {
		t.Fatalf("PollNext = %v, %v; want PollIdle", st, err)
	}
	// The read goroutine is blocked reading; Close must end it.
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestCloseWhileBackpressured(t *testing.T) {
	stopWriting := make(chan struct{})
	addr := serve(t, func(c net.Conn) {
		line := []byte(strings.Repeat("y", 100) + "\n")
		for {
			select {
			case <-stopWriting:
				return
			default:
			}
			if _, err := c.Write(line); err != nil {
				return // the reader closed the connection
			}
		}
	})
	defer close(stopWriting)
	r := newReader(t, Source{Address: addr}, 0, 1)
	// Take one batch, then stop polling: the read goroutine fills the
	// channel and blocks sending the next batch.
	var out collector
	for len(out) == 0 {
		st, err := r.PollNext(&out)
		if err != nil {
			t.Fatal(err)
		}
		if st == stream.PollIdle {
			<-r.Available()
		}
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		addr, want string
	}{
		{"localhost", `socket source: address "localhost": missing port in address`},
		{"localhost:http", `socket source: address "localhost:http": port "http" must be a number in 1..65535`},
		{"localhost:70000", `socket source: address "localhost:70000": port "70000" must be a number in 1..65535`},
		{"localhost:0", `socket source: address "localhost:0": port "0" must be a number in 1..65535`},
		{"", `socket source: address "": missing port in address`},
	} {
		err := Source{Address: tc.addr}.Validate()
		if err == nil || err.Error() != tc.want {
			t.Errorf("Validate(%q) = %v, want %q", tc.addr, err, tc.want)
		}
	}
	for _, addr := range []string{"localhost:9999", "127.0.0.1:1", "[::1]:65535", ":9999"} {
		if err := (Source{Address: addr}).Validate(); err != nil {
			t.Errorf("Validate(%q) = %v", addr, err)
		}
	}
}

func TestRegistered(t *testing.T) {
	if !slices.Contains(stream.RegisteredFunctions(), "weir.socket") {
		t.Fatal(`"weir.socket" is not registered`)
	}
}
