package coordinator_test

import (
	"testing"

	"github.com/weirstream/weir/internal/coordinator"
)

// Misuse by the owner is a programming error and panics, like raft's
// configuration checks: the job's settings are validated at submission.
func TestNewPanicsOnMisuse(t *testing.T) {
	src := coordinator.SubtaskID{Vertex: 0, Subtask: 0}
	sink := coordinator.SubtaskID{Vertex: 1, Subtask: 0}
	for name, f := range map[string]func(){
		"negative timeout": func() {
			coordinator.New(coordinator.Config{Timeout: -1}, 1, []coordinator.SubtaskID{src}, []coordinator.SubtaskID{src}, 1)
		},
		"no sources": func() { coordinator.New(coordinator.Config{}, 1, nil, []coordinator.SubtaskID{src}, 1) },
		"source not a task": func() {
			coordinator.New(coordinator.Config{}, 1, []coordinator.SubtaskID{src}, []coordinator.SubtaskID{sink}, 1)
		},
		"next below 1": func() {
			coordinator.New(coordinator.Config{}, 1, []coordinator.SubtaskID{src}, []coordinator.SubtaskID{src}, 0)
		},
		"restart same attempt": func() {
			coordinator.New(coordinator.Config{}, 3, []coordinator.SubtaskID{src}, []coordinator.SubtaskID{src}, 1).Restart(3)
		},
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("did not panic")
				}
			}()
			f()
		})
	}
}

func TestConfigValidate(t *testing.T) {
	if err := (coordinator.Config{}).Validate(); err != nil {
		t.Errorf("zero config: %v", err)
	}
	err := coordinator.Config{NumRetained: -2}.Validate()
	if err == nil || err.Error() != "coordinator: num retained is -2, must not be negative" {
		t.Errorf("negative num retained: %v", err)
	}
}

// The zero value of every enum means "unset" and says so.
func TestEnumStrings(t *testing.T) {
	for _, tc := range []struct {
		got  interface{ String() string }
		want string
	}{
		{coordinator.Kind(0), "Kind(0)"},
		{coordinator.KindFinal, "final"},
		{coordinator.AckResult(0), "AckResult(0)"},
		{coordinator.AckStaleAttempt, "stale-attempt"},
		{coordinator.DeclineResult(0), "DeclineResult(0)"},
		{coordinator.DeclineLate, "late"},
		{coordinator.SubtaskID{Vertex: 2, Subtask: 5}, "2/5"},
	} {
		if s := tc.got.String(); s != tc.want {
			t.Errorf("%#v: %q, want %q", tc.got, s, tc.want)
		}
	}
}
