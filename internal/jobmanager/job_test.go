package jobmanager

import (
	"slices"
	"testing"

	weirv1 "github.com/weirstream/weir/api/proto/weir/v1"
)

const (
	running   = weirv1.ExecutionState_EXECUTION_STATE_RUNNING
	finished  = weirv1.ExecutionState_EXECUTION_STATE_FINISHED
	failed    = weirv1.ExecutionState_EXECUTION_STATE_FAILED
	canceled  = weirv1.ExecutionState_EXECUTION_STATE_CANCELED
	deploying = weirv1.ExecutionState_EXECUTION_STATE_DEPLOYING
)

func execID(vertex, subtask, attempt int32) *weirv1.ExecutionID {
	return &weirv1.ExecutionID{JobId: "job", VertexId: vertex, SubtaskIndex: subtask, Attempt: attempt}
}

// masterWithTasks returns a job master that runs attempt 2 of two subtasks
// of vertex 0 and one of vertex 3, all RUNNING. apply touches only tasks.
func masterWithTasks() *jobMaster {
	m := &jobMaster{id: "job", attempt: 2, tasks: map[taskKey]*taskState{}}
	for _, k := range []taskKey{{0, 0}, {0, 1}, {3, 0}} {
		m.tasks[k] = &taskState{id: execID(k.vertex, k.subtask, 2), state: running, tm: "tm-a", metrics: &weirv1.TaskMetrics{}}
	}
	return m
}

func TestApplyIgnoresOtherAttempts(t *testing.T) {
	for _, attempt := range []int32{0, 1, 3} {
		m := masterWithTasks()
		before := m.tasks[taskKey{0, 1}].metrics
		u := taskUpdate{id: execID(0, 1, attempt), state: failed, failure: "zombie", metrics: &weirv1.TaskMetrics{RecordsIn: 99}}
		if got := m.apply(u); got != nil {
			t.Errorf("attempt %d: apply returned %+v for a stale attempt", attempt, got)
		}
		tk := m.tasks[taskKey{0, 1}]
		if tk.state != running || tk.failure != "" {
			t.Errorf("attempt %d: a zombie's update changed the task to %v %q", attempt, tk.state, tk.failure)
		}
		if tk.metrics != before {
			t.Errorf("attempt %d: a zombie's metrics were recorded", attempt)
		}
	}
}

func TestApplyCurrentAttempt(t *testing.T) {
	m := masterWithTasks()
	metrics := &weirv1.TaskMetrics{RecordsIn: 7, RecordsOut: 5}
	got := m.apply(taskUpdate{id: execID(3, 0, 2), state: failed, failure: "boom", metrics: metrics})
	if got == nil || got != m.tasks[taskKey{3, 0}] {
		t.Fatalf("apply = %+v, want the updated task", got)
	}
	if got.state != failed || got.failure != "boom" || got.metrics != metrics {
		t.Errorf("task = %v %q %v, want FAILED \"boom\" with the new metrics", got.state, got.failure, got.metrics)
	}
	// Other tasks are untouched.
	for _, k := range []taskKey{{0, 0}, {0, 1}} {
		if m.tasks[k].state != running {
			t.Errorf("task %+v changed to %v", k, m.tasks[k].state)
		}
	}
}

func TestApplyUnknownTask(t *testing.T) {
	m := masterWithTasks()
	for _, id := range []*weirv1.ExecutionID{execID(1, 0, 2), execID(0, 2, 2), execID(3, 1, 2), nil} {
		if got := m.apply(taskUpdate{id: id, state: failed}); got != nil {
			t.Errorf("apply(%v) = %+v, want nil for an unknown subtask", id, got)
		}
	}
	for k, ts := range m.tasks {
		if ts.state != running {
			t.Errorf("task %+v changed to %v", k, ts.state)
		}
	}
}

func TestApplyMetricsOnlyAndTerminal(t *testing.T) {
	m := masterWithTasks()
	k := taskKey{0, 0}

	// A heartbeat carries metrics and no state.
	metrics := &weirv1.TaskMetrics{RecordsIn: 1}
	if got := m.apply(taskUpdate{id: execID(0, 0, 2), metrics: metrics}); got != nil {
		t.Errorf("a metrics-only update returned %+v", got)
	}
	if m.tasks[k].state != running || m.tasks[k].metrics != metrics {
		t.Errorf("after metrics: %v %v, want RUNNING with the new metrics", m.tasks[k].state, m.tasks[k].metrics)
	}
	// An update without metrics keeps the last ones.
	if got := m.apply(taskUpdate{id: execID(0, 0, 2), state: finished}); got == nil || got.state != finished {
		t.Fatalf("apply(FINISHED) = %+v", got)
	}
	if m.tasks[k].metrics != metrics {
		t.Error("an update without metrics dropped the last metrics")
	}

	// A terminal state is final: a late CANCELED or FAILED does not undo it.
	for _, st := range []weirv1.ExecutionState{canceled, failed, running, deploying} {
		if got := m.apply(taskUpdate{id: execID(0, 0, 2), state: st, failure: "late"}); got != nil {
			t.Errorf("apply(%v) after FINISHED returned %+v", st, got)
		}
	}
	if m.tasks[k].state != finished || m.tasks[k].failure != "" {
		t.Errorf("task = %v %q, want FINISHED", m.tasks[k].state, m.tasks[k].failure)
	}
}

func TestAllFinished(t *testing.T) {
	m := &jobMaster{tasks: map[taskKey]*taskState{}}
	if m.allFinished() {
		t.Error("a job with no tasks is finished")
	}
	m = masterWithTasks()
	for k := range m.tasks {
		if m.allFinished() {
			t.Fatal("finished with a task still running")
		}
		m.apply(taskUpdate{id: execID(k.vertex, k.subtask, 2), state: finished})
	}
	if !m.allFinished() {
		t.Error("not finished after every task finished")
	}
}

func TestKeepPlacement(t *testing.T) {
	s := func(tm string, i int) slot { return slot{tm: tm, index: i} }
	prev := []slot{s("a", 0), s("b", 0), s("c", 0)}
	// b came back, c is gone and d replaced it; the allocation came in
	// another order.
	got := keepPlacement([]slot{s("d", 0), s("b", 0), s("a", 0)}, prev)
	want := []slot{s("a", 0), s("b", 0), s("d", 0)}
	if !slices.Equal(got, want) {
		t.Fatalf("keepPlacement = %v, want %v", got, want)
	}
	// Two slots on one taskmanager: each subtask that was there returns.
	prev = []slot{s("a", 0), s("a", 1), s("b", 0)}
	got = keepPlacement([]slot{s("b", 0), s("a", 1), s("a", 0)}, prev)
	if got[0].tm != "a" || got[1].tm != "a" || got[2].tm != "b" {
		t.Fatalf("keepPlacement = %v", got)
	}
}

// A task that fails while it is being cancelled (its input broke because
// an upstream task was cancelled first) ends CANCELED.
func TestApplyFailureWhileCanceling(t *testing.T) {
	m := masterWithTasks()
	k := taskKey{0, 0}
	m.tasks[k].state = weirv1.ExecutionState_EXECUTION_STATE_CANCELING
	got := m.apply(taskUpdate{id: execID(0, 0, 2), state: failed, failure: "input channel 1 broke: context canceled"})
	if got == nil || got.state != canceled || got.failure != "" {
		t.Fatalf("apply(FAILED) while CANCELING = %+v, want CANCELED without a failure", got)
	}
	// A failure of a running task stays a failure.
	m = masterWithTasks()
	if got := m.apply(taskUpdate{id: execID(0, 0, 2), state: failed, failure: "boom"}); got == nil || got.state != failed || got.failure != "boom" {
		t.Fatalf("apply(FAILED) while RUNNING = %+v", got)
	}
}
