package objstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/weirstream/weir/internal/clock"
)

// RetryPolicy bounds Retrying's attempts and waits. Zero fields take the
// defaults of DefaultRetryPolicy.
type RetryPolicy struct {
	// MaxAttempts counts every attempt, the first included.
	MaxAttempts int
	// InitialBackoff is the wait before the second attempt; each later wait
	// is Multiplier times the previous one, capped at MaxBackoff.
	InitialBackoff time.Duration
	MaxBackoff     time.Duration
	Multiplier     float64
	// Jitter in [0, 1] shortens each wait by a random fraction up to Jitter,
	// so that clients failing together do not retry together. Zero means
	// the default; use a negative value for no jitter.
	Jitter float64
}

// DefaultRetryPolicy makes up to 6 attempts over about 3 seconds of waits
// (100ms, 200ms, ... 1.6s, each less up to 20% jitter).
func DefaultRetryPolicy() RetryPolicy {
	return RetryPolicy{
		MaxAttempts:    6,
		InitialBackoff: 100 * time.Millisecond,
		MaxBackoff:     5 * time.Second,
		Multiplier:     2,
		Jitter:         0.2,
	}
}

func (p RetryPolicy) withDefaults() RetryPolicy {
	d := DefaultRetryPolicy()
	if p.MaxAttempts <= 0 {
		p.MaxAttempts = d.MaxAttempts
	}
	if p.InitialBackoff <= 0 {
		p.InitialBackoff = d.InitialBackoff
	}
	if p.MaxBackoff <= 0 {
		p.MaxBackoff = max(d.MaxBackoff, p.InitialBackoff)
	}
	if p.Multiplier < 1 {
		p.Multiplier = d.Multiplier
	}
	switch {
	case p.Jitter == 0:
		p.Jitter = d.Jitter
	case p.Jitter < 0:
		p.Jitter = 0
	case p.Jitter > 1:
		p.Jitter = 1
	}
	return p
}

// Backoff returns the wait after the given failed attempt (1 for the
// first), before jitter.
func (p RetryPolicy) Backoff(attempt int) time.Duration {
	p = p.withDefaults()
	d := float64(p.InitialBackoff)
	for range attempt - 1 {
		d *= p.Multiplier
		if d >= float64(p.MaxBackoff) {
			return p.MaxBackoff
		}
	}
	return min(time.Duration(d), p.MaxBackoff)
}

// Retrying returns a Store that retries calls to s that fail with an error
// IsRetryable accepts, up to policy.MaxAttempts attempts, waiting an
// exponentially growing, jittered backoff between them on clk. It gives up
// early, with an error matching ctx.Err(), when ctx is done. When attempts
// run out it returns the last error, wrapped with the attempt count (so it
// still matches, and IsRetryable still says true: a caller may retry the
// whole operation later).
//
// Every call is safe to repeat (see Store) except PutIfAbsent, whose retry
// after an ambiguous failure may find its own earlier attempt: when an
// attempt of PutIfAbsent fails transiently and a later one reports
// ErrExist, Retrying reads the object back and reports success if it holds
// exactly body. So racing publishers must write distinct bodies (checkpoint
// metadata does: it names its writer's attempt), or two may both see
// success.
//
// A nil clk means the real clock.
func Retrying(s Store, policy RetryPolicy, clk clock.Clock) Store {
	if clk == nil {
		clk = clock.Real{}
	}
	return &retrying{inner: s, policy: policy.withDefaults(), clk: clk}
}

type retrying struct {
	inner  Store
	policy RetryPolicy
	clk    clock.Clock
}

var (
	_ Store      = (*retrying)(nil)
	_ FilePutter = (*retrying)(nil)
)

func (r *retrying) Get(ctx context.Context, key string) ([]byte, error) {
	var body []byte
	err := r.do(ctx, func() (err error) {
		body, err = r.inner.Get(ctx, key)
		return err
	})
	return body, err
}

func (r *retrying) Put(ctx context.Context, key string, body []byte) error {
	return r.do(ctx, func() error { return r.inner.Put(ctx, key, body) })
}

func (r *retrying) PutFile(ctx context.Context, key, path string) error {
	return r.do(ctx, func() error { return PutFile(ctx, r.inner, key, path) })
}

func (r *retrying) PutIfAbsent(ctx context.Context, key string, body []byte) error {
	ambiguous := false // an earlier attempt may have landed
	return r.do(ctx, func() error {
		err := r.inner.PutIfAbsent(ctx, key, body)
		if errors.Is(err, ErrExist) && ambiguous {
			got, gerr := r.inner.Get(ctx, key)
			switch {
			case gerr == nil && bytes.Equal(got, body):
				return nil // our earlier attempt landed
			case gerr != nil && !errors.Is(gerr, ErrNotExist):
				return gerr // retryable or not, do decides
			}
		}
		if IsRetryable(err) {
			ambiguous = true
		}
		return err
	})
}

func (r *retrying) List(ctx context.Context, prefix string) ([]string, error) {
	var keys []string
	err := r.do(ctx, func() (err error) {
		keys, err = r.inner.List(ctx, prefix)
		return err
	})
	return keys, err
}

func (r *retrying) Delete(ctx context.Context, key string) error {
	return r.do(ctx, func() error { return r.inner.Delete(ctx, key) })
}

func (r *retrying) DeletePrefix(ctx context.Context, prefix string) error {
	return r.do(ctx, func() error { return r.inner.DeletePrefix(ctx, prefix) })
}

func (r *retrying) Close() error { return r.inner.Close() }

func (r *retrying) do(ctx context.Context, call func() error) error {
	for attempt := 1; ; attempt++ {
		err := call()
		if err == nil || !IsRetryable(err) {
			return err
		}
		if attempt >= r.policy.MaxAttempts {
			return fmt.Errorf("objstore: gave up after %d attempts: %w", attempt, err)
		}
		if ctx.Err() == nil {
			select {
			case <-ctx.Done():
			case <-r.clk.After(r.wait(attempt)):
				continue
			}
		}
		return fmt.Errorf("objstore: stopped retrying after %d attempts: %w (last error: %w)", attempt, ctx.Err(), err)
	}
}

func (r *retrying) wait(attempt int) time.Duration {
	d := r.policy.Backoff(attempt)
	if r.policy.Jitter > 0 {
		d -= time.Duration(rand.Float64() * r.policy.Jitter * float64(d))
	}
	return d
}
