// Package scheduler decides how jobs run on slots; for now its restart
// strategies: whether, and after how long, a failed job restarts from its
// latest checkpoint. They are pure: time is passed in.
package scheduler

import (
	"fmt"
	"time"

	"github.com/weirstream/weir/internal/config"
)

// RestartStrategy decides what happens after a job's task fails.
type RestartStrategy interface {
	// OnFailure records a failure at now and returns how long to wait before
	// restarting, or ok false if the job must fail instead.
	OnFailure(now time.Time) (delay time.Duration, ok bool)
	// String describes the strategy and its settings, for messages.
	String() string
}

// NewRestartStrategy returns the strategy a job's configuration selects
// (Flink's restart-strategy.* keys). "default" is fixed-delay when the job
// takes checkpoints and none otherwise. random returns numbers in [0, 1)
// for jitter.
func NewRestartStrategy(cfg *config.Config, checkpointing bool, random func() float64) (RestartStrategy, error) {
	name, err := cfg.Get(config.RestartStrategy)
	if err != nil {
		return nil, err
	}
	if name == "default" {
		name = "none"
		if checkpointing {
			name = "fixed-delay"
		}
	}
	var errs []error
	dur := func(k string) time.Duration {
		d, err := cfg.Duration(k)
		errs = append(errs, err)
		return d
	}
	num := func(k string) int {
		n, err := cfg.Int(k)
		errs = append(errs, err)
		return n
	}
	flt := func(k string) float64 {
		f, err := cfg.Float(k)
		errs = append(errs, err)
		return f
	}
	var s RestartStrategy
	switch name {
	case "none":
		s = noRestart{}
	case "fixed-delay":
		s = &FixedDelay{Attempts: num(config.FixedDelayAttempts), Delay: dur(config.FixedDelayDelay)}
	case "exponential-delay":
		s = &ExponentialDelay{Initial: dur(config.ExponentialInitialBackoff), Max: dur(config.ExponentialMaxBackoff),
			Multiplier: flt(config.ExponentialMultiplier), ResetThreshold: dur(config.ExponentialResetThreshold),
			Jitter: flt(config.ExponentialJitter), Random: random}
	case "failure-rate":
		s = &FailureRate{MaxFailures: num(config.FailureRateMaxFailures), Interval: dur(config.FailureRateInterval),
			Delay: dur(config.FailureRateDelay)}
	default:
		return nil, fmt.Errorf("%s: unknown restart strategy %q", config.RestartStrategy, name)
	}
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	if e, ok := s.(*ExponentialDelay); ok {
		switch {
		case e.Multiplier < 1:
			return nil, fmt.Errorf("%s: %v must be at least 1", config.ExponentialMultiplier, e.Multiplier)
		case e.Jitter < 0 || e.Jitter > 1:
			return nil, fmt.Errorf("%s: %v must be within 0..1", config.ExponentialJitter, e.Jitter)
		case e.Max < e.Initial:
			return nil, fmt.Errorf("%s %s is below %s %s", config.ExponentialMaxBackoff, e.Max, config.ExponentialInitialBackoff, e.Initial)
		}
	}
	return s, nil
}

type noRestart struct{}

func (noRestart) OnFailure(time.Time) (time.Duration, bool) { return 0, false }
func (noRestart) String() string                            { return "restart strategy none" }

// FixedDelay restarts up to Attempts times, waiting Delay before each.
type FixedDelay struct {
	Attempts int
	Delay    time.Duration
	restarts int
}

func (f *FixedDelay) OnFailure(time.Time) (time.Duration, bool) {
	if f.restarts >= f.Attempts {
		return 0, false
	}
	f.restarts++
	return f.Delay, true
}

func (f *FixedDelay) String() string {
	return fmt.Sprintf("restart strategy fixed-delay (%d attempts, delay %s)", f.Attempts, f.Delay)
}

// ExponentialDelay restarts forever, waiting Initial, then Multiplier times
// longer after each failure up to Max, plus or minus Jitter of the wait. A
// failure ResetThreshold after the previous one starts again at Initial.
type ExponentialDelay struct {
	Initial, Max   time.Duration
	Multiplier     float64
	ResetThreshold time.Duration
	Jitter         float64
	Random         func() float64

	next        time.Duration
	lastFailure time.Time
}

func (e *ExponentialDelay) OnFailure(now time.Time) (time.Duration, bool) {
	if e.next == 0 || (!e.lastFailure.IsZero() && now.Sub(e.lastFailure) >= e.ResetThreshold) {
		e.next = e.Initial
	}
	e.lastFailure = now
	d := e.next
	e.next = min(time.Duration(float64(e.next)*e.Multiplier), e.Max)
	if e.Jitter > 0 && e.Random != nil {
		d += time.Duration((2*e.Random() - 1) * e.Jitter * float64(d))
	}
	return max(d, 0), true
}

func (e *ExponentialDelay) String() string {
	return fmt.Sprintf("restart strategy exponential-delay (initial %s, max %s, multiplier %v)", e.Initial, e.Max, e.Multiplier)
}

// FailureRate restarts after Delay unless more than MaxFailures failures
// fall within Interval.
type FailureRate struct {
	MaxFailures int
	Interval    time.Duration
	Delay       time.Duration
	failures    []time.Time
}

func (f *FailureRate) OnFailure(now time.Time) (time.Duration, bool) {
	kept := f.failures[:0]
	for _, t := range f.failures {
		if now.Sub(t) < f.Interval {
			kept = append(kept, t)
		}
	}
	f.failures = append(kept, now)
	if len(f.failures) > f.MaxFailures {
		return 0, false
	}
	return f.Delay, true
}

func (f *FailureRate) String() string {
	return fmt.Sprintf("restart strategy failure-rate (%d failures per %s, delay %s)", f.MaxFailures, f.Interval, f.Delay)
}
