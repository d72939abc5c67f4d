package taskmanager

import (
	"context"
	"fmt"
	"sync"
)

// chainAhead bounds the objects of a heap chain that a restore reads ahead
// of the object it applies: being read, or read and not yet taken.
const chainAhead = 4

// chainFetch reads the objects of a native heap snapshot's chain for the
// restore that applies them in order: up to chainAhead at once, so that
// the reads overlap one another and the apply, and the restore holds a
// few objects beside its state rather than the whole chain, which may be
// three times the state.
type chainFetch struct {
	results []chan fetchedObject // by object, each sent once
	ahead   chan struct{}        // a slot per object read ahead
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	// done, if set, is called by close once the reads have ended: what
	// the restore read is then known.
	done func()
}

type fetchedObject struct {
	b    []byte
	file string // the local copy's file it was read from, or ""
	err  error
	slot bool // it holds a slot of ahead
}

// fetchChain starts reading the n objects of a chain with read, which
// returns an object and the local copy's file it was read from, if any
// (the backend verifies each as it applies it). The caller takes them with
// object, in order, and calls close.
func fetchChain(ctx context.Context, n int, read func(ctx context.Context, i int) ([]byte, string, error)) *chainFetch {
	ctx, cancel := context.WithCancel(ctx)
	f := &chainFetch{results: make([]chan fetchedObject, n), ahead: make(chan struct{}, chainAhead), cancel: cancel}
	for i := range f.results {
		f.results[i] = make(chan fetchedObject, 1)
	}
	f.wg.Go(func() {
		for i := range n {
			slot := false
			select {
			case f.ahead <- struct{}{}:
				slot = true
			case <-ctx.Done():
			}
			if err := ctx.Err(); err != nil {
				// Stopped: the rest are not read.
				f.results[i] <- fetchedObject{err: err, slot: slot}
				for j := i + 1; j < n; j++ {
					f.results[j] <- fetchedObject{err: err}
				}
				return
			}
			f.wg.Go(func() {
				b, file, err := read(ctx, i)
				f.results[i] <- fetchedObject{b: b, file: file, err: err, slot: true}
			})
		}
	})
	return f
}

// object returns object i of the chain, waiting for its read, and lets one
// more object be read ahead. The restore takes each object once, in order.
func (f *chainFetch) object(i int) ([]byte, string, error) {
	if i < 0 || i >= len(f.results) {
		return nil, "", fmt.Errorf("object %d of a chain of %d", i+1, len(f.results))
	}
	r := <-f.results[i]
	if r.slot {
		<-f.ahead
	}
	return r.b, r.file, r.err
}

// close stops the reads the restore did not take, waits for them to end,
// and calls done.
func (f *chainFetch) close() {
	f.cancel()
	f.wg.Wait()
	if f.done != nil {
		f.done()
	}
}
