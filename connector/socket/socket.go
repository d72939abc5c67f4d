package socket

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"sync"

	"github.com/weirstream/weir/stream"
)

const (
	// maxBatch bounds the records in a batch handed to the task.
	maxBatch = 1024
	// maxRecordBytes bounds one record, so a peer that never sends a
	// delimiter cannot exhaust memory.
	maxRecordBytes = 64 << 20
)

func init() { stream.RegisterSource[string]("weir.socket", Source{}) }

// Source reads delimited text records from a TCP server. Its fields are the
// job parameters.
type Source struct {
	// Address is the server's "host:port".
	Address string `json:"address"`
	// Delimiter separates records; empty means "\n". With "\n", a "\r"
	// before the delimiter is dropped too.
	Delimiter string `json:"delimiter,omitempty"`
}

var (
	_ stream.Source[string]       = Source{}
	_ stream.Validator            = Source{}
	_ stream.SourceReader[string] = (*reader)(nil)
)

// Validate checks that Address is a host and a port.
func (s Source) Validate() error {
	_, port, err := net.SplitHostPort(s.Address)
	if err != nil {
		var ae *net.AddrError
		if errors.As(err, &ae) {
			err = errors.New(ae.Err)
		}
		return fmt.Errorf("socket source: address %q: %w", s.Address, err)
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
		return fmt.Errorf("socket source: address %q: port %q must be a number in 1..65535", s.Address, port)
	}
	return nil
}

func (s Source) delimiter() []byte {
	if s.Delimiter == "" {
		return []byte("\n")
	}
	return []byte(s.Delimiter)
}

// CreateReader returns the reader of subtask ctx.SubtaskIndex. Subtask 0
// starts connecting in the background; a failed connection is reported by
// PollNext.
func (s Source) CreateReader(ctx *stream.SourceContext) (stream.SourceReader[string], error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	r := &reader{
		batches: make(chan []string, 1),
		avail:   make(chan struct{}, 1),
	}
	if ctx.SubtaskIndex != 0 {
		r.ended = true
		return r, nil
	}
	log := ctx.Logger
	if log == nil {
		log = slog.Default()
	}
	runCtx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	r.wg.Go(func() {
		defer func() {
			close(r.batches)
			r.signal()
		}()
		r.err = r.run(runCtx, s.Address, s.delimiter(), log)
	})
	return r, nil
}

// reader is one subtask's socket reader. The task goroutine calls its
// methods; the read goroutine owns the connection.
type reader struct {
	// batches carries records from the read goroutine, which closes it
	// when it ends.
	batches chan []string
	// avail holds a token after a batch was sent or batches was closed.
	avail chan struct{}
	// err is why the read goroutine ended; it is written before batches
	// is closed and read after.
	err    error
	cancel context.CancelFunc // stops the read goroutine; nil if none
	wg     sync.WaitGroup
	ended  bool
}

// run connects to address and sends batches of records until the peer
// closes the connection or ctx is cancelled.
func (r *reader) run(ctx context.Context, address string, delim []byte, log *slog.Logger) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", address)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("socket source: address %q: %w", address, err)
	}
	defer conn.Close()
	// Cancelling ctx unblocks a Read by closing the connection.
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()
	log.Info("socket source connected", "address", address)

	br := bufio.NewReaderSize(conn, 64<<10)
	var (
		rec   []byte
		batch []string
	)
	for {
		rec, err = readRecord(br, delim, rec[:0])
		if err == nil || (err == io.EOF && len(rec) > 0) {
			if len(delim) == 1 && delim[0] == '\n' {
				rec = bytes.TrimSuffix(rec, []byte("\r"))
			}
			batch = append(batch, string(rec))
		}
		// Hand the batch over when it is full or when no more input is
		// buffered, so records are not held back waiting for the peer.
		if len(batch) >= maxBatch || (len(batch) > 0 && (br.Buffered() == 0 || err != nil)) {
			select {
			case r.batches <- batch:
				r.signal()
			case <-ctx.Done():
				return nil
			}
			batch = nil
		}
		switch {
		case err == io.EOF:
			log.Info("socket source: server closed the connection", "address", address)
			return nil
		case err != nil:
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("socket source: address %q: %w", address, err)
		}
	}
}

// readRecord appends to buf the bytes up to the next delim and returns them
// without delim. At the end of input it returns what is left and io.EOF.
func readRecord(br *bufio.Reader, delim, buf []byte) ([]byte, error) {
	last := delim[len(delim)-1]
	for {
		chunk, err := br.ReadSlice(last)
		buf = append(buf, chunk...)
		switch {
		case err == bufio.ErrBufferFull:
			if len(buf) > maxRecordBytes {
				return buf, fmt.Errorf("record longer than %d bytes", maxRecordBytes)
			}
		case err != nil:
			return buf, err
		case bytes.HasSuffix(buf, delim):
			return buf[:len(buf)-len(delim)], nil
		}
	}
}

func (r *reader) signal() {
	select {
	case r.avail <- struct{}{}:
	default: // a token is already waiting
	}
}

// PollNext emits the next batch, if one has arrived.
func (r *reader) PollNext(out stream.Collector[string]) (stream.PollStatus, error) {
	if r.ended {
		return stream.PollEnd, nil
	}
	select {
	case batch, ok := <-r.batches:
		if !ok {
			r.ended = true
			return stream.PollEnd, r.err
		}
		for _, rec := range batch {
			out.Collect(rec)
		}
		return stream.PollMore, nil
	default:
		return stream.PollIdle, nil
	}
}

func (r *reader) Available() <-chan struct{} { return r.avail }

// Close disconnects and waits for the read goroutine to end.
func (r *reader) Close() error {
	if r.cancel != nil {
		r.cancel()
		r.wg.Wait()
		r.cancel = nil
	}
	return nil
}
