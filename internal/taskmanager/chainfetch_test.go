package taskmanager

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// A heap chain's objects are read ahead of the restore, several at once,
// and taken in order; never more than chainAhead are read and not yet
// taken, so a restore holds a few objects rather than the whole chain.
func TestChainFetchReadsAhead(t *testing.T) {
	const n = 3 * chainAhead
	var mu sync.Mutex
	started, taken, most := 0, 0, 0
	together := make(chan struct{}) // closed once chainAhead reads have started
	read := func(ctx context.Context, i int) ([]byte, string, error) {
		mu.Lock()
		started++
		most = max(most, started-taken)
		if started == chainAhead {
			close(together)
		}
		mu.Unlock()
		if i < chainAhead {
			// The first reads end only once chainAhead of them run.
			select {
			case <-together:
			case <-time.After(20 * time.Second):
				return nil, "", errors.New("the reads ahead did not run at once")
			}
		}
		return []byte{byte(i)}, fmt.Sprint("copy/", i), nil
	}
	f := fetchChain(t.Context(), n, read)
	defer f.close()
	for i := range n {
		mu.Lock()
		taken++ // a slot is freed when object is called, not when it returns
		mu.Unlock()
		b, file, err := f.object(i)
		if err != nil {
			t.Fatalf("object %d: %v", i, err)
		}
		if len(b) != 1 || int(b[0]) != i || file != fmt.Sprint("copy/", i) {
			t.Fatalf("object %d is %v from %q, want object %d's", i, b, file, i)
		}
	}
	if most > chainAhead {
		t.Errorf("%d objects were read ahead of the restore at once, want at most %d", most, chainAhead)
	}
}

// A restore that stops early, on an object it cannot apply, closes the
// fetch: the reads in flight are cancelled, the rest never start, and
// close returns once the reads have ended.
func TestChainFetchCloseStopsTheReads(t *testing.T) {
	const n = 100
	var started atomic.Int32
	read := func(ctx context.Context, i int) ([]byte, string, error) {
		started.Add(1)
		if i == 0 {
			return []byte("first"), "", nil
		}
		<-ctx.Done()
		return nil, "", ctx.Err()
	}
	f := fetchChain(t.Context(), n, read)
	if _, _, err := f.object(0); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	f.done = func() { close(done) }
	go f.close()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("close still waits for reads the restore no longer wants")
	}
	if s := started.Load(); s > chainAhead+1 {
		t.Errorf("%d of %d reads started for a restore that took one object, want at most %d", s, n, chainAhead+1)
	}
}
