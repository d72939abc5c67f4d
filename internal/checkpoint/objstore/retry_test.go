package objstore_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/weirstream/weir/internal/checkpoint/objstore"
	"github.com/weirstream/weir/internal/checkpoint/objstore/memory"
	"github.com/weirstream/weir/internal/checkpoint/objstore/objstoretest"
	"github.com/weirstream/weir/internal/clock"
)

// stepClock is a manual clock that reports every wait Retrying starts, so a
// test can check its length and then advance past it.
type stepClock struct {
	*clock.Manual
	waits chan time.Duration
}

func newStepClock() stepClock {
	return stepClock{Manual: clock.NewManual(time.Unix(0, 0)), waits: make(chan time.Duration)}
}

func (c stepClock) After(d time.Duration) <-chan time.Time {
	ch := c.Manual.After(d)
	c.waits <- d
	return ch
}

// noWait is a clock whose waits are over at once.
type noWait struct{ clock.Real }

func (noWait) After(time.Duration) <-chan time.Time {
	ch := make(chan time.Time, 1)
	ch <- time.Time{}
	return ch
}

var noJitter = objstore.RetryPolicy{MaxAttempts: 4, InitialBackoff: 100 * time.Millisecond, MaxBackoff: 250 * time.Millisecond, Jitter: -1}

// async runs f in a goroutine and returns a channel with its result.
func async(f func() error) <-chan error {
	ch := make(chan error, 1)
	go func() { ch <- f() }()
	return ch
}

func kinds(ops []objstoretest.Op) string {
	var s []string
	for _, op := range ops {
		s = append(s, op.Kind.String())
	}
	return strings.Join(s, ",")
}

func TestRetryingRetriesTransientErrors(t *testing.T) {
	ctx := t.Context()
	mem := memory.New()
	faulty := objstoretest.Wrap(mem, objstoretest.FailWhen(func(op objstoretest.Op) bool { return op.Index < 3 }, objstoretest.ErrTransient, false))
	clk := newStepClock()
	s := objstore.Retrying(faulty, noJitter, clk)

	done := async(func() error { return s.Put(ctx, "k", []byte("v")) })
	for _, want := range []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 250 * time.Millisecond} {
		if got := <-clk.waits; got != want {
			t.Fatalf("wait = %v, want %v", got, want)
		}
		clk.Advance(want)
	}
	if err := <-done; err != nil {
		t.Fatalf("Put = %v after 3 transient failures with 4 attempts allowed", err)
	}
	if faulty.Calls() != 4 {
		t.Fatalf("calls = %d, want 4", faulty.Calls())
	}
	if got, err := mem.Get(ctx, "k"); err != nil || string(got) != "v" {
		t.Fatalf("stored %q, %v", got, err)
	}
}

func TestRetryingGivesUp(t *testing.T) {
	faulty := objstoretest.Wrap(memory.New(), objstoretest.FailWhen(func(objstoretest.Op) bool { return true }, objstoretest.ErrTransient, false))
	clk := newStepClock()
	s := objstore.Retrying(faulty, noJitter, clk)
	var body []byte
	done := async(func() (err error) {
		body, err = s.Get(t.Context(), "k")
		return err
	})
	for range noJitter.MaxAttempts - 1 {
		clk.Advance(<-clk.waits)
	}
	err := <-done
	if !errors.Is(err, objstoretest.ErrTransient) || !objstore.IsRetryable(err) || !strings.Contains(err.Error(), "4 attempts") {
		t.Fatalf("Get = %q, %v; want the last transient error, wrapped with the attempt count and still retryable", body, err)
	}
	if faulty.Calls() != noJitter.MaxAttempts {
		t.Fatalf("calls = %d, want %d", faulty.Calls(), noJitter.MaxAttempts)
	}
}

func TestRetryingDoesNotRetryPermanentErrors(t *testing.T) {
	ctx := t.Context()
	for _, tc := range []struct {
		name string
		call func(objstore.Store) error
		err  error
	}{
		{"injected", func(s objstore.Store) error { return s.Put(ctx, "k", nil) }, objstoretest.ErrInjected},
		{"not exist", func(s objstore.Store) error { _, err := s.Get(ctx, "missing"); return err }, objstore.ErrNotExist},
		{"exist", func(s objstore.Store) error { return s.PutIfAbsent(ctx, "present", nil) }, objstore.ErrExist},
		{"invalid key", func(s objstore.Store) error { return s.Delete(ctx, "../x") }, objstore.ErrInvalidKey},
		{"forbidden", func(s objstore.Store) error { _, err := s.List(ctx, ""); return err }, &objstore.StatusError{StatusCode: 403, Code: "AccessDenied"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mem := memory.New()
			if err := mem.Put(ctx, "present", nil); err != nil {
				t.Fatal(err)
			}
			var rule objstoretest.Rule
			if !errors.Is(tc.err, objstore.ErrNotExist) && !errors.Is(tc.err, objstore.ErrExist) && !errors.Is(tc.err, objstore.ErrInvalidKey) {
				rule = objstoretest.FailAt(0, tc.err, false)
			}
			faulty := objstoretest.Wrap(mem, rule)
			s := objstore.Retrying(faulty, noJitter, newStepClock()) // any wait would block: nobody reads waits
			if err := tc.call(s); !errors.Is(err, tc.err) {
				t.Fatalf("got %v, want %v", err, tc.err)
			}
			if faulty.Calls() != 1 {
				t.Fatalf("calls = %d (%s), want 1", faulty.Calls(), kinds(faulty.Ops()))
			}
		})
	}
}

func TestRetryingStopsWhenContextIsDone(t *testing.T) {
	faulty := objstoretest.Wrap(memory.New(), objstoretest.FailWhen(func(objstoretest.Op) bool { return true }, objstoretest.ErrTransient, false))
	clk := newStepClock()
	s := objstore.Retrying(faulty, noJitter, clk)
	ctx, cancel := context.WithCancel(t.Context())
	done := async(func() error { return s.Put(ctx, "k", []byte("v")) })
	<-clk.waits // waiting before the second attempt
	cancel()
	err := <-done
	if !errors.Is(err, context.Canceled) || !errors.Is(err, objstoretest.ErrTransient) {
		t.Fatalf("Put = %v, want an error matching both context.Canceled and the last error", err)
	}
	if faulty.Calls() != 1 {
		t.Fatalf("calls = %d, want 1: no attempt after cancellation", faulty.Calls())
	}

	// Already canceled: no attempt at all reaches the store's data.
	if err := s.Put(ctx, "k2", nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("Put with a canceled context = %v", err)
	}
}

// TestRetryingPutIfAbsentAfterAmbiguousFailure: the first attempt lands
// but reports a transient error; the retry sees ErrExist, reads back our
// own bytes, and reports success.
func TestRetryingPutIfAbsentAfterAmbiguousFailure(t *testing.T) {
	ctx := t.Context()
	mem := memory.New()
	faulty := objstoretest.Wrap(mem, objstoretest.FailAt(0, objstoretest.ErrTransient, true))
	clk := newStepClock()
	s := objstore.Retrying(faulty, noJitter, clk)
	done := async(func() error { return s.PutIfAbsent(ctx, "_metadata", []byte("ours")) })
	clk.Advance(<-clk.waits)
	if err := <-done; err != nil {
		t.Fatalf("PutIfAbsent = %v, want success: the object holds our bytes", err)
	}
	if got := kinds(faulty.Ops()); got != "put-if-absent,put-if-absent,get" {
		t.Fatalf("calls = %s", got)
	}
}

// TestRetryingPutIfAbsentLosesToAnother: the first attempt fails without
// landing, another writer publishes, and the retry must report ErrExist.
func TestRetryingPutIfAbsentLosesToAnother(t *testing.T) {
	ctx := t.Context()
	mem := memory.New()
	faulty := objstoretest.Wrap(mem, objstoretest.FailAt(0, objstoretest.ErrTransient, false))
	clk := newStepClock()
	s := objstore.Retrying(faulty, noJitter, clk)
	done := async(func() error { return s.PutIfAbsent(ctx, "_metadata", []byte("ours")) })
	d := <-clk.waits
	if err := mem.PutIfAbsent(ctx, "_metadata", []byte("theirs")); err != nil {
		t.Fatal(err)
	}
	clk.Advance(d)
	if err := <-done; !errors.Is(err, objstore.ErrExist) {
		t.Fatalf("PutIfAbsent = %v, want ErrExist: another writer's object is there", err)
	}
	if got, _ := mem.Get(ctx, "_metadata"); string(got) != "theirs" {
		t.Fatalf("stored %q, want theirs", got)
	}
}

// TestRetryingPutIfAbsentExistingIsNotOurs: without an ambiguous failure,
// ErrExist is final even when the stored bytes equal ours; no read-back.
func TestRetryingPutIfAbsentExistingIsNotOurs(t *testing.T) {
	ctx := t.Context()
	mem := memory.New()
	if err := mem.Put(ctx, "_metadata", []byte("same")); err != nil {
		t.Fatal(err)
	}
	faulty := objstoretest.Wrap(mem, nil)
	s := objstore.Retrying(faulty, noJitter, newStepClock())
	if err := s.PutIfAbsent(ctx, "_metadata", []byte("same")); !errors.Is(err, objstore.ErrExist) {
		t.Fatalf("PutIfAbsent = %v, want ErrExist", err)
	}
	if got := kinds(faulty.Ops()); got != "put-if-absent" {
		t.Fatalf("calls = %s, want only put-if-absent", got)
	}
}

func TestRetryPolicyBackoff(t *testing.T) {
	p := objstore.RetryPolicy{InitialBackoff: time.Second, MaxBackoff: 5 * time.Second, Multiplier: 2}
	var got []time.Duration
	for attempt := 1; attempt <= 6; attempt++ {
		got = append(got, p.Backoff(attempt))
	}
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second, 5 * time.Second, 5 * time.Second}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("backoffs = %v, want %v", got, want)
	}
	d := objstore.DefaultRetryPolicy()
	if got := (objstore.RetryPolicy{}).Backoff(1); got != d.InitialBackoff {
		t.Fatalf("zero policy's first backoff = %v, want the default %v", got, d.InitialBackoff)
	}
}

func TestRetryingJitter(t *testing.T) {
	policy := objstore.RetryPolicy{MaxAttempts: 50, InitialBackoff: time.Second, MaxBackoff: time.Second, Jitter: 0.5}
	faulty := objstoretest.Wrap(memory.New(), objstoretest.FailWhen(func(objstoretest.Op) bool { return true }, objstoretest.ErrTransient, false))
	clk := newStepClock()
	s := objstore.Retrying(faulty, policy, clk)
	done := async(func() error { return s.Delete(t.Context(), "k") })
	distinct := map[time.Duration]bool{}
	for range policy.MaxAttempts - 1 {
		d := <-clk.waits
		if d < 500*time.Millisecond || d > time.Second {
			t.Errorf("wait %v outside [500ms, 1s]", d)
		}
		distinct[d] = true
		clk.Advance(d)
	}
	<-done
	if len(distinct) < 10 {
		t.Errorf("%d distinct waits in %d: jitter is not random", len(distinct), policy.MaxAttempts-1)
	}
}

// flaky fails every other call for each (kind, key) with a transient error,
// alternately landing it and not, so that every operation of the
// conformance suite meets a fault on its way.
func flaky() objstoretest.Rule {
	var mu sync.Mutex // Rules are called under the store's lock; this is for clarity
	seen := map[string]int{}
	return func(op objstoretest.Op) *objstoretest.Fault {
		mu.Lock()
		defer mu.Unlock()
		id := op.Kind.String() + " " + op.Key
		n := seen[id]
		seen[id]++
		if n%2 == 1 {
			return nil
		}
		return &objstoretest.Fault{Err: objstoretest.ErrTransient, Applied: n%4 == 2}
	}
}

// TestConformanceWithTransientFaults: a store that fails half its calls,
// some of them after landing, still passes the suite behind Retrying.
func TestConformanceWithTransientFaults(t *testing.T) {
	objstoretest.Run(t, func(t *testing.T) objstore.Store {
		return objstore.Retrying(objstoretest.Wrap(memory.New(), flaky()), objstore.RetryPolicy{MaxAttempts: 40}, noWait{})
	})
}
