package scheduler

import (
	"strings"
	"testing"
	"time"

	"github.com/weirstream/weir/internal/config"
)

func strategy(t *testing.T, checkpointing bool, kv ...string) RestartStrategy {
	t.Helper()
	m := map[string]string{}
	for i := 0; i < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	cfg, err := config.Default().WithJob(m)
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewRestartStrategy(cfg, checkpointing, func() float64 { return 0.5 })
	if err != nil {
		t.Fatal(err)
	}
	return s
}

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func TestDefaultStrategy(t *testing.T) {
	if _, ok := strategy(t, false).OnFailure(t0); ok {
		t.Fatal("without checkpointing the default strategy restarts")
	}
	if d, ok := strategy(t, true).OnFailure(t0); !ok || d != time.Second {
		t.Fatalf("with checkpointing: %v, %v; want a restart after 1s", d, ok)
	}
}

func TestFixedDelay(t *testing.T) {
	s := strategy(t, true, config.RestartStrategy, "fixed-delay", config.FixedDelayAttempts, "2", config.FixedDelayDelay, "3s")
	for i := range 2 {
		if d, ok := s.OnFailure(t0); !ok || d != 3*time.Second {
			t.Fatalf("failure %d: %v, %v", i, d, ok)
		}
	}
	if _, ok := s.OnFailure(t0); ok {
		t.Fatal("a third restart after 2 attempts")
	}
}

func TestExponentialDelay(t *testing.T) {
	s := strategy(t, true, config.RestartStrategy, "exponential-delay", config.ExponentialInitialBackoff, "1s",
		config.ExponentialMaxBackoff, "5s", config.ExponentialMultiplier, "2", config.ExponentialJitter, "0",
		config.ExponentialResetThreshold, "1h")
	now := t0
	for _, want := range []time.Duration{1, 2, 4, 5, 5} {
		d, ok := s.OnFailure(now)
		if !ok || d != want*time.Second {
			t.Fatalf("delay %v, %v; want %v", d, ok, want*time.Second)
		}
		now = now.Add(time.Minute)
	}
	if d, _ := s.OnFailure(now.Add(2 * time.Hour)); d != time.Second {
		t.Fatalf("after a quiet period: %v, want the initial backoff", d)
	}
}

func TestFailureRate(t *testing.T) {
	s := strategy(t, true, config.RestartStrategy, "failure-rate", config.FailureRateMaxFailures, "2",
		config.FailureRateInterval, "1min", config.FailureRateDelay, "0s")
	if _, ok := s.OnFailure(t0); !ok {
		t.Fatal("first failure")
	}
	if _, ok := s.OnFailure(t0.Add(10 * time.Second)); !ok {
		t.Fatal("second failure")
	}
	if _, ok := s.OnFailure(t0.Add(20 * time.Second)); ok {
		t.Fatal("a third failure within the interval restarted")
	}
	if _, ok := s.OnFailure(t0.Add(5 * time.Minute)); !ok {
		t.Fatal("a failure after the interval did not restart")
	}
}

func TestBadSettings(t *testing.T) {
	cfg, _ := config.Default().WithJob(map[string]string{config.RestartStrategy: "exponential-delay", config.ExponentialMultiplier: "0.5"})
	if _, err := NewRestartStrategy(cfg, true, nil); err == nil || !strings.Contains(err.Error(), "backoff-multiplier") {
		t.Fatalf("multiplier below 1: %v", err)
	}
	if _, err := config.Default().WithJob(map[string]string{config.RestartStrategy: "sometimes"}); err == nil {
		t.Fatal("an unknown strategy was accepted")
	}
}
