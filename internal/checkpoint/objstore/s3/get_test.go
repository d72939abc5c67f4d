package s3

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/weirstream/weir/internal/checkpoint/objstore/internal/contract"
)

// partServer serves one object, "k" of bucket "bkt", over as much of the S3 API as
// Open and Get use (HEAD of the bucket, GET with Range and If-Match), and
// records the ranges asked for. Ranged GETs of the real server are tested
// by the conformance suite and TestLargeObjectsPastOnePart; this one lets a
// test cut a response short or replace the object between two parts.
type partServer struct {
	ignoreRange bool // answer every GET with the whole object, as some servers do
	// answer, if set, is called with a GET's range header before it is
	// answered; it may replace the object, or return how many bytes of
	// the answer to send before the connection is dropped (-1: all).
	answer func(srv *partServer, rng string) int

	mu struct {
		sync.Mutex
		body   []byte
		etag   string
		ranges []string // of every GET, in arrival order; "" for none
		ifs    []string // If-Match of every GET
	}
}

func (p *partServer) put(body []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.mu.body = body
	p.mu.etag = fmt.Sprintf(`"etag-%d"`, len(p.mu.ranges))
}

func (p *partServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodHead && strings.Trim(r.URL.Path, "/") == "bkt" {
		return
	}
	if r.Method != http.MethodGet || r.URL.Path != "/bkt/k" {
		http.Error(w, "unexpected request "+r.Method+" "+r.URL.Path, http.StatusBadRequest)
		return
	}
	rng := r.Header.Get("Range")
	cut := -1
	if p.answer != nil {
		cut = p.answer(p, rng)
	}
	p.mu.Lock()
	body, etag := p.mu.body, p.mu.etag
	p.mu.ranges = append(p.mu.ranges, rng)
	p.mu.ifs = append(p.mu.ifs, r.Header.Get("If-Match"))
	p.mu.Unlock()
	if p.ignoreRange {
		r.Header.Del("Range")
	}
	if len(body) == 0 && rng != "" && !p.ignoreRange {
		// S3 has no byte 0 of an empty object (ServeContent answers 200).
		w.WriteHeader(http.StatusRequestedRangeNotSatisfiable)
		fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>InvalidRange</Code><Message>The requested range is not satisfiable</Message></Error>`)
		return
	}
	w.Header().Set("ETag", etag)
	var out io.Writer = w
	if cut >= 0 {
		out = &cutWriter{w: w, left: cut}
	}
	http.ServeContent(&writerTo{ResponseWriter: w, out: out}, r, "k", time.Unix(1, 0), bytes.NewReader(body))
	if cut >= 0 {
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler) // the connection drops mid-body
	}
}

// writerTo sends a response's body to out.
type writerTo struct {
	http.ResponseWriter
	out io.Writer
}

func (w *writerTo) Write(b []byte) (int, error) { return w.out.Write(b) }

// cutWriter passes on the first left bytes and swallows the rest.
type cutWriter struct {
	w    io.Writer
	left int
}

func (c *cutWriter) Write(b []byte) (int, error) {
	n := min(len(b), c.left)
	c.left -= n
	if _, err := c.w.Write(b[:n]); err != nil {
		return 0, err
	}
	return len(b), nil
}

// openParts opens a store on srv with parts of partSize bytes, three at a
// time.
func openParts(t *testing.T, srv *partServer, partSize int64) *Store {
	t.Helper()
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	s, err := Open(t.Context(), "bkt", "", contract.Options{Endpoint: ts.URL, Region: "us-east-1", AccessKey: "fake-access", SecretKey: "fake-secret", PathStyleAccess: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	s.getPartSize, s.getParallelism = partSize, 3
	return s
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

// TestGetReassemblesParts: objects of every size around the part size are
// read whole, with one ranged GET per part, the parts after the first
// pinned to the first's ETag.
func TestGetReassemblesParts(t *testing.T) {
	const part = 1000
	for _, size := range []int{0, 1, part - 1, part, part + 1, 2 * part, 7*part + 13} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			srv := &partServer{}
			s := openParts(t, srv, part)
			body := randomBytes(size)
			srv.put(body)
			got, err := s.Get(t.Context(), "k")
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, body) {
				t.Fatalf("Get returned %d bytes that differ from the %d stored", len(got), size)
			}
			srv.mu.Lock()
			defer srv.mu.Unlock()
			var want []string
			for start := 0; start < max(size, 1); start += part {
				want = append(want, fmt.Sprintf("bytes=%d-%d", start, min(start+part, max(size, part))-1))
			}
			if size == 0 {
				want = append(want, "") // 416 for the first part, then the whole
			}
			slices.Sort(srv.mu.ranges[1:]) // the parts after the first come in any order
			slices.Sort(want[1:])
			if fmt.Sprint(srv.mu.ranges) != fmt.Sprint(want) {
				t.Errorf("ranges asked for: %q, want %q", srv.mu.ranges, want)
			}
			for i, m := range srv.mu.ifs {
				if i > 0 && size > part && m != srv.mu.etag {
					t.Errorf("GET %d (%s) has If-Match %q, want the object's ETag %s", i, srv.mu.ranges[i], m, srv.mu.etag)
				}
			}
		})
	}
}

// TestGetServerIgnoringRange: a server that answers the first ranged GET
// with the whole object is read in that one request.
func TestGetServerIgnoringRange(t *testing.T) {
	srv := &partServer{ignoreRange: true}
	s := openParts(t, srv, 1000)
	body := randomBytes(3500)
	srv.put(body)
	got, err := s.Get(t.Context(), "k")
	if err != nil || !bytes.Equal(got, body) {
		t.Fatalf("Get = %d bytes, %v; want the %d stored", len(got), err, len(body))
	}
	if n := len(srv.mu.ranges); n != 1 {
		t.Fatalf("%d GETs, want 1", n)
	}
}

// TestGetPartCutShort: a part whose response ends early fails the whole
// read, with an error that names the part and keeps io.ErrUnexpectedEOF,
// which objstore.IsRetryable counts as transient.
func TestGetPartCutShort(t *testing.T) {
	for _, c := range []struct{ cut, want string }{
		{"bytes=0-999", "bytes 0-999 of 3500"},
		{"bytes=2000-2999", "bytes 2000-2999 of 3500"},
	} {
		t.Run(c.cut, func(t *testing.T) {
			srv := &partServer{answer: func(_ *partServer, rng string) int {
				if rng == c.cut {
					return 400
				}
				return -1
			}}
			s := openParts(t, srv, 1000)
			srv.put(randomBytes(3500))
			got, err := s.Get(t.Context(), "k")
			if err == nil {
				t.Fatalf("Get = %d bytes, want an error", len(got))
			}
			t.Log(err)
			if !strings.Contains(err.Error(), `get "k": `+c.want+": the response ended after 400 bytes") ||
				!errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("Get = %v; want an unexpected EOF (retryable) in %s", err, c.want)
			}
		})
	}
}

// TestGetObjectReplacedBetweenParts: an object replaced after its first
// part was read fails the read instead of mixing two versions.
func TestGetObjectReplacedBetweenParts(t *testing.T) {
	srv := &partServer{answer: func(srv *partServer, rng string) int {
		if rng == "bytes=1000-1999" {
			srv.put(randomBytes(3500))
		}
		return -1
	}}
	s := openParts(t, srv, 1000)
	srv.put(randomBytes(3500))
	got, err := s.Get(t.Context(), "k")
	if err == nil || !strings.Contains(err.Error(), "replaced while its parts were read") {
		t.Fatalf("Get = %d bytes, %v; want an error saying the object was replaced", len(got), err)
	}
	if errors.Is(err, contract.ErrExist) {
		t.Fatalf("Get = %v: a failed If-Match is not ErrExist", err)
	}
}
