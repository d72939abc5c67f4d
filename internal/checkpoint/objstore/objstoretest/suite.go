package objstoretest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/weirstream/weir/internal/checkpoint/objstore"
)

// Run runs the conformance suite against stores made by newStore, one per
// subtest. Each store must start empty; Run closes it when its subtest ends.
func Run(t *testing.T, newStore func(t *testing.T) objstore.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s objstore.Store)
	}{
		{"GetMissing", testGetMissing},
		{"PutGet", testPutGet},
		{"Overwrite", testOverwrite},
		{"EmptyObject", testEmptyObject},
		{"LargeObject", testLargeObject},
		{"PutFile", testPutFile},
		{"KeyCharacters", testKeyCharacters},
		{"PutIfAbsent", testPutIfAbsent},
		{"PutIfAbsentRace", testPutIfAbsentRace},
		{"PutIsAtomic", testPutIsAtomic},
		{"List", testList},
		{"ObjectIsNotAPrefix", testObjectIsNotAPrefix},
		{"Delete", testDelete},
		{"DeletePrefix", testDeletePrefix},
		{"InvalidKeys", testInvalidKeys},
		{"ContextCanceled", testContextCanceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t)
			t.Cleanup(func() { _ = s.Close() })
			tt.fn(t, s)
		})
	}
}

func put(t *testing.T, s objstore.Store, key string, body []byte) {
	t.Helper()
	if err := s.Put(t.Context(), key, body); err != nil {
		t.Fatalf("Put(%q): %v", key, err)
	}
}

func get(t *testing.T, s objstore.Store, key string) []byte {
	t.Helper()
	body, err := s.Get(t.Context(), key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	return body
}

func wantBody(t *testing.T, s objstore.Store, key string, want []byte) {
	t.Helper()
	if got := get(t, s, key); !bytes.Equal(got, want) {
		t.Fatalf("Get(%q) = %s, want %s", key, show(got), show(want))
	}
}

func wantMissing(t *testing.T, s objstore.Store, key string) {
	t.Helper()
	if body, err := s.Get(t.Context(), key); !errors.Is(err, objstore.ErrNotExist) {
		t.Fatalf("Get(%q) = %s, %v; want an error matching ErrNotExist", key, show(body), err)
	}
}

func wantList(t *testing.T, s objstore.Store, prefix string, want ...string) {
	t.Helper()
	got, err := s.List(t.Context(), prefix)
	if err != nil {
		t.Fatalf("List(%q): %v", prefix, err)
	}
	if want == nil {
		want = []string{}
	}
	if got == nil || !slices.Equal(got, want) {
		t.Fatalf("List(%q) = %#q, want %#q", prefix, got, want)
	}
}

// show prints a body briefly: large ones by length and a hash-like summary.
func show(b []byte) string {
	if b == nil {
		return "nil"
	}
	if len(b) <= 64 {
		return fmt.Sprintf("%q", b)
	}
	return fmt.Sprintf("[%d bytes %q...]", len(b), b[:16])
}

func randomBytes(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 0))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func testGetMissing(t *testing.T, s objstore.Store) {
	wantMissing(t, s, "missing")
	wantMissing(t, s, "no/such/key")
	put(t, s, "a/b", []byte("x"))
	wantMissing(t, s, "a/c")
	wantMissing(t, s, "a/b/c") // under an object, not a directory
}

func testPutGet(t *testing.T, s objstore.Store) {
	body := []byte("hello, checkpoint")
	put(t, s, "job-1/chk-1/op-0/subtask-0", body)
	body[0] = 'J' // the store must not retain the caller's buffer
	wantBody(t, s, "job-1/chk-1/op-0/subtask-0", []byte("hello, checkpoint"))

	got := get(t, s, "job-1/chk-1/op-0/subtask-0")
	got[0] = 'X' // nor hand out its own
	wantBody(t, s, "job-1/chk-1/op-0/subtask-0", []byte("hello, checkpoint"))

	put(t, s, "top", []byte("level"))
	wantBody(t, s, "top", []byte("level"))
}

func testOverwrite(t *testing.T, s objstore.Store) {
	put(t, s, "k", []byte("first, and longer"))
	put(t, s, "k", []byte("second"))
	wantBody(t, s, "k", []byte("second"))
	put(t, s, "k", nil)
	wantBody(t, s, "k", []byte{})
	wantList(t, s, "", "k")
}

func testEmptyObject(t *testing.T, s objstore.Store) {
	put(t, s, "empty/put", nil)
	if err := s.PutIfAbsent(t.Context(), "empty/put-if-absent", []byte{}); err != nil {
		t.Fatalf("PutIfAbsent of an empty body: %v", err)
	}
	for _, key := range []string{"empty/put", "empty/put-if-absent"} {
		if got := get(t, s, key); len(got) != 0 {
			t.Fatalf("Get(%q) = %s, want empty", key, show(got))
		}
	}
	wantList(t, s, "empty/", "empty/put", "empty/put-if-absent")
	if err := s.PutIfAbsent(t.Context(), "empty/put", []byte("x")); !errors.Is(err, objstore.ErrExist) {
		t.Fatalf("PutIfAbsent over an empty object = %v, want ErrExist: an empty object exists", err)
	}
}

func testLargeObject(t *testing.T, s objstore.Store) {
	const size = 8 << 20
	a := randomBytes(size, 1)
	put(t, s, "large/put", a)
	wantBody(t, s, "large/put", a)

	b := randomBytes(size, 2)
	if err := s.PutIfAbsent(t.Context(), "large/put-if-absent", b); err != nil {
		t.Fatalf("PutIfAbsent of 8 MiB: %v", err)
	}
	wantBody(t, s, "large/put-if-absent", b)

	put(t, s, "large/put", b[:size-1]) // overwrite with a shorter body
	wantBody(t, s, "large/put", b[:size-1])
}

// writeFile writes body to a new file in a temporary directory and
// returns its path.
func writeFile(t *testing.T, body []byte) string {
	t.Helper()
	f, err := os.CreateTemp(t.TempDir(), "src-")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(body); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return f.Name()
}

// testPutFile writes objects from local files (objstore.PutFile, the
// store's own PutFile if it has one): new keys, an overwrite, a file
// removed after it was put, and a missing file, which is an error naming
// it that changes nothing.
func testPutFile(t *testing.T, s objstore.Store) {
	putFile := func(key string, body []byte) string {
		t.Helper()
		src := writeFile(t, body)
		if err := objstore.PutFile(t.Context(), s, key, src); err != nil {
			t.Fatalf("PutFile(%q, %s): %v", key, src, err)
		}
		return src
	}
	big := randomBytes(3<<20+1, 3)
	putFile("files/a/big", big)
	wantBody(t, s, "files/a/big", big)

	src := putFile("files/b", []byte("first, and longer"))
	if err := os.Remove(src); err != nil {
		t.Fatal(err)
	}
	wantBody(t, s, "files/b", []byte("first, and longer"))
	putFile("files/b", []byte("second")) // overwrite
	wantBody(t, s, "files/b", []byte("second"))
	putFile("files/empty", nil)
	wantBody(t, s, "files/empty", []byte{})

	missing := filepath.Join(t.TempDir(), "no-such-file")
	err := objstore.PutFile(t.Context(), s, "files/missing", missing)
	switch {
	case err == nil:
		t.Fatal("PutFile of a missing file succeeded")
	case errors.Is(err, objstore.ErrNotExist) || objstore.IsRetryable(err):
		t.Fatalf("PutFile of a missing file = %v: not an absent object, nor worth retrying", err)
	case !strings.Contains(err.Error(), missing):
		t.Fatalf("PutFile of a missing file = %v, want the file named", err)
	}
	if err := objstore.PutFile(t.Context(), s, "bad//key", writeFile(t, []byte("x"))); !errors.Is(err, objstore.ErrInvalidKey) {
		t.Fatalf("PutFile to an invalid key = %v, want ErrInvalidKey", err)
	}
	wantList(t, s, "files/", "files/a/big", "files/b", "files/empty")
}

func testKeyCharacters(t *testing.T, s objstore.Store) {
	keys := []string{
		"a b/c d",
		"dir/_metadata",
		"eq=sign/plus+sign/percent%20/amp&/q?/hash#/colon:/semi;",
		"unicode/äöü/日本/🙂",
		"dots/a.b/a..b/trailing.",
		"dash-and_underscore/~tilde/@at/!bang/'quote'/\"dq\"/*star",
		strings.Repeat("s", 255) + "/" + strings.Repeat("t", 255),
	}
	for i, k := range keys {
		put(t, s, k, []byte{byte(i)})
	}
	want := slices.Clone(keys)
	slices.Sort(want)
	wantList(t, s, "", want...)
	for i, k := range keys {
		wantBody(t, s, k, []byte{byte(i)})
		wantList(t, s, k, k)
	}
}

func testPutIfAbsent(t *testing.T, s objstore.Store) {
	ctx := t.Context()
	const key = "job-1/chk-3/_metadata"
	if err := s.PutIfAbsent(ctx, key, []byte("first")); err != nil {
		t.Fatalf("PutIfAbsent on an absent key: %v", err)
	}
	err := s.PutIfAbsent(ctx, key, []byte("second"))
	if !errors.Is(err, objstore.ErrExist) {
		t.Fatalf("PutIfAbsent on a present key = %v, want an error matching ErrExist", err)
	}
	if errors.Is(err, objstore.ErrNotExist) || objstore.IsRetryable(err) {
		t.Fatalf("PutIfAbsent's ErrExist (%v) also matches ErrNotExist or is retryable", err)
	}
	wantBody(t, s, key, []byte("first"))

	put(t, s, key, []byte("overwritten"))
	if err := s.PutIfAbsent(ctx, key, []byte("third")); !errors.Is(err, objstore.ErrExist) {
		t.Fatalf("PutIfAbsent after Put = %v, want ErrExist", err)
	}
	wantBody(t, s, key, []byte("overwritten"))

	if err := s.Delete(ctx, key); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if err := s.PutIfAbsent(ctx, key, []byte("again")); err != nil {
		t.Fatalf("PutIfAbsent after Delete: %v", err)
	}
	wantBody(t, s, key, []byte("again"))
}

// testPutIfAbsentRace races publishers on each of several keys: exactly one
// wins per key, the rest see ErrExist, and the stored body is the winner's.
func testPutIfAbsentRace(t *testing.T, s objstore.Store) {
	const racers, keys = 8, 4
	var wg sync.WaitGroup
	errs := make([][racers]error, keys)
	start := make(chan struct{})
	for k := range keys {
		for r := range racers {
			wg.Go(func() {
				<-start
				body := fmt.Appendf(nil, "racer %d", r)
				errs[k][r] = s.PutIfAbsent(t.Context(), fmt.Sprintf("race/%d/_metadata", k), body)
			})
		}
	}
	close(start)
	wg.Wait()
	for k := range keys {
		key := fmt.Sprintf("race/%d/_metadata", k)
		winner := -1
		for r, err := range errs[k] {
			switch {
			case err == nil && winner >= 0:
				t.Errorf("%s: racers %d and %d both succeeded", key, winner, r)
			case err == nil:
				winner = r
			case !errors.Is(err, objstore.ErrExist):
				t.Errorf("%s: racer %d: %v, want nil or ErrExist", key, r, err)
			}
		}
		if winner < 0 {
			t.Errorf("%s: no racer succeeded", key)
			continue
		}
		wantBody(t, s, key, fmt.Appendf(nil, "racer %d", winner))
	}
}

// testPutIsAtomic overwrites one key with uniform bodies while readers check
// that every read is one whole body.
func testPutIsAtomic(t *testing.T, s objstore.Store) {
	const (
		key     = "atomic/obj"
		size    = 256 << 10
		writers = 2
		puts    = 10
	)
	body := func(fill byte) []byte { return bytes.Repeat([]byte{fill}, size) }
	put(t, s, key, body(0))

	ctx := t.Context()
	done := make(chan struct{})
	var writersWG, readersWG sync.WaitGroup
	for w := range writers {
		writersWG.Go(func() {
			for i := range puts {
				if err := s.Put(ctx, key, body(byte(1+w*puts+i))); err != nil {
					t.Errorf("Put: %v", err)
					return
				}
			}
		})
	}
	reads := make([]int, 2)
	for r := range reads {
		readersWG.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				got, err := s.Get(ctx, key)
				if err != nil {
					t.Errorf("Get during overwrites: %v", err)
					return
				}
				reads[r]++
				if len(got) != size || bytes.Count(got, got[:1]) != size {
					t.Errorf("Get during overwrites saw a torn object: %d bytes, %d of them %#x", len(got), bytes.Count(got, got[:1]), got[0])
					return
				}
			}
		})
	}
	writersWG.Wait()
	close(done)
	readersWG.Wait()
	t.Logf("reads during overwrites: %v", reads)
}

func testList(t *testing.T, s objstore.Store) {
	keys := []string{
		"job-1/chk-1/_metadata",
		"job-1/chk-1/op-a/0",
		"job-1/chk-1/op-a/1",
		"job-1/chk-1/op-b/0",
		"job-1/chk-10/_metadata",
		"job-1/chk-2/_metadata",
		"job-1/shared/sst-1",
		"job-1-x",
		"job-10/chk-1/_metadata",
		"job-1A",
		"job-2/chk-1/_metadata",
		"z",
	}
	// Put in a scrambled order: List must sort.
	for _, i := range rand.New(rand.NewPCG(7, 7)).Perm(len(keys)) {
		put(t, s, keys[i], []byte(keys[i]))
	}
	sorted := slices.Clone(keys)
	slices.Sort(sorted) // byte order: '-' < '/' < '0' < 'A'
	wantList(t, s, "", sorted...)

	wantList(t, s, "job-1/", // a directory-like prefix
		"job-1/chk-1/_metadata", "job-1/chk-1/op-a/0", "job-1/chk-1/op-a/1", "job-1/chk-1/op-b/0",
		"job-1/chk-10/_metadata", "job-1/chk-2/_metadata", "job-1/shared/sst-1")
	wantList(t, s, "job-1", // a string prefix: siblings that start alike match too
		"job-1-x",
		"job-1/chk-1/_metadata", "job-1/chk-1/op-a/0", "job-1/chk-1/op-a/1", "job-1/chk-1/op-b/0",
		"job-1/chk-10/_metadata", "job-1/chk-2/_metadata", "job-1/shared/sst-1",
		"job-10/chk-1/_metadata", "job-1A")
	wantList(t, s, "job-1/chk-1", // mid-segment, nested
		"job-1/chk-1/_metadata", "job-1/chk-1/op-a/0", "job-1/chk-1/op-a/1", "job-1/chk-1/op-b/0",
		"job-1/chk-10/_metadata")
	wantList(t, s, "job-1/chk-1/", "job-1/chk-1/_metadata", "job-1/chk-1/op-a/0", "job-1/chk-1/op-a/1", "job-1/chk-1/op-b/0")
	wantList(t, s, "job-1/chk-1/op-", "job-1/chk-1/op-a/0", "job-1/chk-1/op-a/1", "job-1/chk-1/op-b/0")
	wantList(t, s, "job-1/chk-1/op-a/0", "job-1/chk-1/op-a/0") // a whole key
	wantList(t, s, "job-1/chk-1/op-a/0/")                      // under an object: nothing
	wantList(t, s, "job-3/")
	wantList(t, s, "job-3/chk-1/deep/")
	wantList(t, s, "y")
	wantList(t, s, "z", "z")
}

// testObjectIsNotAPrefix: a prefix of keys ("a" of "a/b") is not an object.
func testObjectIsNotAPrefix(t *testing.T, s objstore.Store) {
	put(t, s, "a/b/c", []byte("c"))
	wantMissing(t, s, "a")
	wantMissing(t, s, "a/b")
	if err := s.Delete(t.Context(), "a/b"); err != nil {
		t.Fatalf("Delete of a prefix that is not an object: %v", err)
	}
	wantBody(t, s, "a/b/c", []byte("c"))
	wantList(t, s, "", "a/b/c")
}

func testDelete(t *testing.T, s objstore.Store) {
	ctx := t.Context()
	if err := s.Delete(ctx, "never/existed"); err != nil {
		t.Fatalf("Delete of an absent key: %v, want nil", err)
	}
	put(t, s, "d/1", []byte("1"))
	put(t, s, "d/2", []byte("2"))
	for range 2 {
		if err := s.Delete(ctx, "d/1"); err != nil {
			t.Fatalf("Delete: %v", err)
		}
		wantMissing(t, s, "d/1")
	}
	wantBody(t, s, "d/2", []byte("2"))
	wantList(t, s, "", "d/2")
	if err := s.Delete(ctx, "d/2"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	wantList(t, s, "")
	put(t, s, "d/1", []byte("back"))
	wantBody(t, s, "d/1", []byte("back"))
}

func testDeletePrefix(t *testing.T, s objstore.Store) {
	ctx := t.Context()
	keys := []string{
		"job-1/chk-1/_metadata",
		"job-1/chk-1/op-a/0",
		"job-1/chk-1/op-a/deep/1",
		"job-1/chk-10/_metadata",
		"job-1/chk-2/_metadata",
		"job-1/chk-2/op-a/0",
		"job-1/shared/sst-1",
		"job-10/chk-1/_metadata",
	}
	for _, k := range keys {
		put(t, s, k, []byte(k))
	}
	del := func(prefix string) {
		t.Helper()
		if err := s.DeletePrefix(ctx, prefix); err != nil {
			t.Fatalf("DeletePrefix(%q): %v", prefix, err)
		}
	}

	del("job-1/chk-1/")
	wantList(t, s, "", "job-1/chk-10/_metadata", "job-1/chk-2/_metadata", "job-1/chk-2/op-a/0",
		"job-1/shared/sst-1", "job-10/chk-1/_metadata")
	wantMissing(t, s, "job-1/chk-1/_metadata")

	del("job-1/chk-1/") // again: nothing left to delete
	del("no/such/prefix/")

	del("job-1/chk-2/op-a/0") // a whole key
	wantList(t, s, "job-1/chk-2", "job-1/chk-2/_metadata")

	del("job-1/chk-") // mid-segment
	wantList(t, s, "", "job-1/shared/sst-1", "job-10/chk-1/_metadata")

	// The deleted area is writable again, PutIfAbsent included.
	if err := s.PutIfAbsent(ctx, "job-1/chk-1/_metadata", []byte("new")); err != nil {
		t.Fatalf("PutIfAbsent after DeletePrefix: %v", err)
	}
	wantBody(t, s, "job-1/chk-1/_metadata", []byte("new"))

	del("")
	wantList(t, s, "")
}

// invalidKeys break the key rules of package objstore.
var invalidKeys = []string{
	"",
	"/abs",
	"trailing/",
	"a//b",
	".",
	"..",
	"../escape",
	"a/../../escape",
	"a/./b",
	"./a",
	".hidden",
	"a/.tmp-123",
	"nul\x00byte",
	"new\nline",
	`back\slash`,
	"bad-utf8-\xff",
	strings.Repeat("x", 256),
	strings.Repeat("x/", 512) + "x",
}

var invalidPrefixes = []string{"/", "/abs", "a//", "..", "../", "a/../", ".hidden/", "nul\x00"}

func testInvalidKeys(t *testing.T, s objstore.Store) {
	ctx := t.Context()
	check := func(op, key string, err error) {
		t.Helper()
		if !errors.Is(err, objstore.ErrInvalidKey) {
			t.Errorf("%s(%q) = %v, want an error matching ErrInvalidKey", op, key, err)
			return
		}
		if !strings.Contains(err.Error(), fmt.Sprintf("%q", key)) {
			t.Errorf("%s(%q): error %q does not name the key", op, key, err)
		}
		if objstore.IsRetryable(err) {
			t.Errorf("%s(%q): invalid key error is retryable", op, key)
		}
	}
	for _, key := range invalidKeys {
		_, err := s.Get(ctx, key)
		check("Get", key, err)
		check("Put", key, s.Put(ctx, key, []byte("x")))
		check("PutIfAbsent", key, s.PutIfAbsent(ctx, key, []byte("x")))
		check("Delete", key, s.Delete(ctx, key))
	}
	for _, prefix := range invalidPrefixes {
		_, err := s.List(ctx, prefix)
		check("List", prefix, err)
		check("DeletePrefix", prefix, s.DeletePrefix(ctx, prefix))
	}
	wantList(t, s, "") // nothing was written anywhere
}

func testContextCanceled(t *testing.T, s objstore.Store) {
	put(t, s, "present", []byte("v"))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	check := func(op string, err error) {
		t.Helper()
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a canceled context = %v, want an error matching context.Canceled", op, err)
		}
	}
	_, err := s.Get(ctx, "present")
	check("Get", err)
	check("Put", s.Put(ctx, "new", []byte("x")))
	check("Put over", s.Put(ctx, "present", []byte("x")))
	check("PutIfAbsent", s.PutIfAbsent(ctx, "new", []byte("x")))
	check("PutFile", objstore.PutFile(ctx, s, "new", writeFile(t, []byte("x"))))
	_, err = s.List(ctx, "")
	check("List", err)
	check("Delete", s.Delete(ctx, "present"))
	check("DeletePrefix", s.DeletePrefix(ctx, ""))
	// Nothing changed.
	wantList(t, s, "", "present")
	wantBody(t, s, "present", []byte("v"))
}
