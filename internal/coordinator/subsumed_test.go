package coordinator

import "testing"

// A checkpoint overtaken by a newer one's barrier is aborted as subsumed and
// does not count towards the tolerable failures.
func TestDeclineSubsumedIsNotAFailure(t *testing.T) {
	src := SubtaskID{Vertex: 0, Subtask: 0}
	c := New(Config{Interval: 1, Timeout: 100, MaxConcurrent: 2, TolerableFailures: 0}, 1, []SubtaskID{src}, []SubtaskID{src}, 1)
	c.Tick()
	eff := c.Ready()
	if len(eff.Trigger) != 1 {
		t.Fatalf("triggers = %v", eff.Trigger)
	}
	id := eff.Trigger[0].ID
	if got := c.DeclineSubsumed(id, src, 1); got != DeclineAccepted {
		t.Fatalf("DeclineSubsumed = %v", got)
	}
	eff = c.Ready()
	if eff.FailJob != "" || len(eff.Failed) != 0 {
		t.Fatalf("a subsumed checkpoint counted as a failure: %+v", eff)
	}
	if len(eff.Abort) != 1 || eff.Abort[0].Reason != ReasonSubsumed || len(eff.Discard) != 1 {
		t.Fatalf("effects = %+v, want an abort as subsumed and a discard", eff)
	}
	if got := c.DeclineSubsumed(id, src, 1); got != DeclineLate {
		t.Fatalf("second DeclineSubsumed = %v, want late", got)
	}
	final, _ := c.TriggerFinal()
	c.Ready()
	c.DeclineSubsumed(final, src, 1)
	if eff := c.Ready(); len(eff.Trigger) != 1 || eff.Trigger[0].Kind != KindFinal {
		t.Fatalf("a subsumed final checkpoint was not triggered again: %+v", eff)
	}
}
