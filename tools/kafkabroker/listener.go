package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net"
	"strconv"
	"sync"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// boundListener is a listening socket and the address it advertises.
type boundListener struct {
	ln         net.Listener
	advertised string // host:port
}

// multiListener is the one net.Listener kfake's broker accepts from. It
// merges the connections of several sockets; its Addr is the primary
// listener's advertised address, which is what kfake puts in its responses.
// Connections from the other sockets are wrapped in a rewriteConn.
//
// Each socket has one accept goroutine, owned by the multiListener, stopped
// and waited for by Close.
type multiListener struct {
	addr   advertisedAddr
	conns  chan net.Conn // unbuffered: a connection is handed over or closed
	done   chan struct{}
	lns    []net.Listener
	wg     sync.WaitGroup
	closed sync.Once
}

var _ net.Listener = (*multiListener)(nil)

func newMultiListener(lns []boundListener) (*multiListener, error) {
	if len(lns) == 0 {
		return nil, errors.New("no listeners")
	}
	primary, err := parseHostPort(lns[0].advertised)
	if err != nil {
		return nil, err
	}
	m := &multiListener{addr: advertisedAddr(lns[0].advertised), conns: make(chan net.Conn), done: make(chan struct{})}
	rewrites := make([]*hostPort, len(lns))
	for i, l := range lns[1:] {
		hp, err := parseHostPort(l.advertised)
		if err != nil {
			return nil, err
		}
		rewrites[i+1] = &hp
	}
	for i, l := range lns {
		m.lns = append(m.lns, l.ln)
		m.wg.Add(1)
		go m.acceptLoop(l.ln, primary, rewrites[i])
	}
	return m, nil
}

func (m *multiListener) acceptLoop(ln net.Listener, primary hostPort, to *hostPort) {
	defer m.wg.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return // closed
		}
		if to != nil {
			c = newRewriteConn(c, primary, *to)
		}
		select {
		case m.conns <- c:
		case <-m.done:
			c.Close()
			return
		}
	}
}

func (m *multiListener) Accept() (net.Conn, error) {
	select {
	case c := <-m.conns:
		return c, nil
	case <-m.done:
		return nil, net.ErrClosed
	}
}

// Close closes every socket and waits for the accept goroutines. Repeated
// calls are harmless.
func (m *multiListener) Close() error {
	m.closed.Do(func() {
		close(m.done)
		for _, ln := range m.lns {
			ln.Close()
		}
		m.wg.Wait()
	})
	return nil
}

func (m *multiListener) Addr() net.Addr { return m.addr }

// advertisedAddr is a net.Addr that prints an advertised host:port.
type advertisedAddr string

func (a advertisedAddr) Network() string { return "tcp" }
func (a advertisedAddr) String() string  { return string(a) }

type hostPort struct {
	host string
	port int32
}

func parseHostPort(s string) (hostPort, error) {
	h, p, err := net.SplitHostPort(s)
	if err != nil {
		return hostPort{}, err
	}
	n, err := strconv.ParseInt(p, 10, 32)
	if err != nil {
		return hostPort{}, err
	}
	return hostPort{host: h, port: int32(n)}, nil
}

// request is what a response needs to be decoded: its request's
// correlation ID, API key and version.
type request struct {
	corr         int32
	key, version int16
}

// rewriteConn is a client connection on a secondary listener. It watches the
// request headers the broker reads to learn each correlation ID's API key
// and version, and in the responses the broker writes replaces the broker
// address from with to.
//
// The broker answers a connection's requests one at a time, in order, and
// some (acks=0 produce) not at all: the response to request n means that no
// response will come to the ones before it, so pending is a queue that a
// response empties up to its own request.
//
// kfake reads from one goroutine and writes from another; mu guards what
// both touch.
type rewriteConn struct {
	net.Conn
	from, to hostPort
	fromHost []byte

	mu      sync.Mutex
	pending []request // requests read, not answered, oldest first

	in struct { // Read's goroutine only
		hdr  []byte // the start of the next request: size, key, version, correlation ID
		skip int    // bytes of the current request still to pass over
	}
	wmu sync.Mutex
	out []byte // written, not yet a whole response; under wmu
}

func newRewriteConn(c net.Conn, from, to hostPort) *rewriteConn {
	return &rewriteConn{Conn: c, from: from, to: to, fromHost: []byte(from.host)}
}

// requestHeaderLen is the part of a request that names it: size (4), API
// key (2), API version (2), correlation ID (4).
const requestHeaderLen = 12

func (c *rewriteConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.sniff(p[:n])
	return n, err
}

// sniff follows the request stream b continues.
func (c *rewriteConn) sniff(b []byte) {
	for len(b) > 0 {
		if c.in.skip > 0 {
			k := min(c.in.skip, len(b))
			c.in.skip -= k
			b = b[k:]
			continue
		}
		k := min(requestHeaderLen-len(c.in.hdr), len(b))
		c.in.hdr = append(c.in.hdr, b[:k]...)
		b = b[k:]
		if len(c.in.hdr) < requestHeaderLen {
			return
		}
		h := c.in.hdr
		size := int(binary.BigEndian.Uint32(h[0:4]))
		req := request{
			key:     int16(binary.BigEndian.Uint16(h[4:6])),
			version: int16(binary.BigEndian.Uint16(h[6:8])),
			corr:    int32(binary.BigEndian.Uint32(h[8:12])),
		}
		c.mu.Lock()
		c.pending = append(c.pending, req)
		c.mu.Unlock()
		c.in.skip = max(size-(requestHeaderLen-4), 0)
		c.in.hdr = c.in.hdr[:0]
	}
}

func (c *rewriteConn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.out = append(c.out, p...)
	for len(c.out) >= 4 {
		end := 4 + int(binary.BigEndian.Uint32(c.out[0:4]))
		if len(c.out) < end {
			break
		}
		if _, err := c.Conn.Write(c.rewrite(c.out[:end])); err != nil {
			c.out = c.out[:0]
			return 0, err
		}
		c.out = c.out[end:]
	}
	if len(c.out) == 0 {
		c.out = nil // do not keep a large response's buffer
	}
	return len(p), nil
}

// rewrite returns frame, a whole response, with the broker address
// replaced, or frame itself if it names no broker.
func (c *rewriteConn) rewrite(frame []byte) []byte {
	if len(frame) < 8 {
		return frame
	}
	req, ok := c.answered(int32(binary.BigEndian.Uint32(frame[4:8])))
	if !ok || !bytes.Contains(frame[8:], c.fromHost) {
		return frame
	}
	resp := kmsg.ResponseForKey(req.key)
	if resp == nil {
		return frame
	}
	resp.SetVersion(req.version)
	body := frame[8:]
	if resp.IsFlexible() && req.key != kmsg.ApiVersions.Int16() {
		r := kbin.Reader{Src: body}
		kmsg.SkipTags(&r)
		if !r.Ok() {
			return frame
		}
		body = r.Src
	}
	if err := resp.ReadFrom(body); err != nil || !c.replace(resp) {
		return frame
	}
	head := frame[:len(frame)-len(body)] // size, correlation ID, header tags
	out := resp.AppendTo(append([]byte(nil), head...))
	binary.BigEndian.PutUint32(out[0:4], uint32(len(out)-4))
	return out
}

// answered removes the request with correlation ID corr, and every request
// before it, from the queue and returns it.
func (c *rewriteConn) answered(corr int32) (request, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, r := range c.pending {
		if r.corr == corr {
			c.pending = append(c.pending[:0], c.pending[i+1:]...)
			return r, true
		}
	}
	return request{}, false
}

// replace rewrites every broker address in resp that is c.from and reports
// whether there was one.
func (c *rewriteConn) replace(resp kmsg.Response) bool {
	changed := false
	fix := func(host *string, port *int32) {
		if *host == c.from.host && *port == c.from.port {
			*host, *port = c.to.host, c.to.port
			changed = true
		}
	}
	switch r := resp.(type) {
	case *kmsg.MetadataResponse:
		for i := range r.Brokers {
			fix(&r.Brokers[i].Host, &r.Brokers[i].Port)
		}
	case *kmsg.FindCoordinatorResponse:
		fix(&r.Host, &r.Port)
		for i := range r.Coordinators {
			fix(&r.Coordinators[i].Host, &r.Coordinators[i].Port)
		}
	case *kmsg.DescribeClusterResponse:
		for i := range r.Brokers {
			fix(&r.Brokers[i].Host, &r.Brokers[i].Port)
		}
	case *kmsg.ProduceResponse:
		for i := range r.Brokers {
			fix(&r.Brokers[i].Host, &r.Brokers[i].Port)
		}
	case *kmsg.FetchResponse:
		for i := range r.Brokers {
			fix(&r.Brokers[i].Host, &r.Brokers[i].Port)
		}
	case *kmsg.ShareFetchResponse:
		for i := range r.NodeEndpoints {
			fix(&r.NodeEndpoints[i].Host, &r.NodeEndpoints[i].Port)
		}
	case *kmsg.ShareAcknowledgeResponse:
		for i := range r.NodeEndpoints {
			fix(&r.NodeEndpoints[i].Host, &r.NodeEndpoints[i].Port)
		}
	}
	return changed
}
