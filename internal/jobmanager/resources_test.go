package jobmanager

import (
	"slices"
	"testing"
	"time"
)

var t0 = time.Unix(1_700_000_000, 0)

func closed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

func freeSlots(r *resources) int {
	free, _, _ := r.summary()
	return free
}

func TestAllocateSpreadsEvenly(t *testing.T) {
	r := newResources()
	r.register("tm-b", "10.0.0.2:7000", 2, t0)
	r.register("tm-a", "10.0.0.1:7000", 2, t0)

	got, ok := r.allocate("job1", 2)
	if !ok {
		t.Fatal("allocate(2) of 4 free refused")
	}
	want := []slot{{tm: "tm-a", address: "10.0.0.1:7000", index: 0}, {tm: "tm-b", address: "10.0.0.2:7000", index: 0}}
	if !slices.Equal(got, want) {
		t.Errorf("allocate(2) = %+v, want one slot on each taskmanager %+v", got, want)
	}
	if free := freeSlots(r); free != 2 {
		t.Errorf("free = %d after taking 2 of 4, want 2", free)
	}

	// The next job gets the remaining slot of each, not two of one.
	got, ok = r.allocate("job2", 2)
	want = []slot{{tm: "tm-a", address: "10.0.0.1:7000", index: 1}, {tm: "tm-b", address: "10.0.0.2:7000", index: 1}}
	if !ok || !slices.Equal(got, want) {
		t.Errorf("allocate(2) = %+v %v, want %+v", got, ok, want)
	}
	for _, v := range r.list() {
		if v.free != 0 {
			t.Errorf("taskmanager %s has %d free slots, want 0", v.id, v.free)
		}
	}
}

func TestAllocateOddCountsRoundRobin(t *testing.T) {
	r := newResources()
	r.register("tm-a", "a", 3, t0)
	r.register("tm-b", "b", 1, t0)
	r.register("tm-c", "c", 2, t0)
	got, ok := r.allocate("job", 5)
	if !ok {
		t.Fatal("allocate(5) of 6 free refused")
	}
	var tms []string
	for _, s := range got {
		tms = append(tms, s.tm)
	}
	// One from each in turn, skipping taskmanagers that are full.
	if want := []string{"tm-a", "tm-b", "tm-c", "tm-a", "tm-c"}; !slices.Equal(tms, want) {
		t.Errorf("slots on %v, want %v", tms, want)
	}
	seen := map[slot]bool{}
	for _, s := range got {
		if seen[s] {
			t.Errorf("slot %+v allocated twice", s)
		}
		seen[s] = true
	}
}

func TestAllocateRefusesWhenShort(t *testing.T) {
	r := newResources()
	if _, ok := r.allocate("job", 1); ok {
		t.Error("allocate succeeded with no taskmanagers")
	}
	r.register("tm-a", "a", 2, t0)
	r.register("tm-b", "b", 2, t0)
	if _, ok := r.allocate("job1", 3); !ok {
		t.Fatal("allocate(3) of 4 free refused")
	}
	got, ok := r.allocate("job2", 2)
	if ok || got != nil {
		t.Errorf("allocate(2) with 1 free = %+v %v, want a refusal", got, ok)
	}
	// A refusal takes nothing: the one free slot is still there.
	if free := freeSlots(r); free != 1 {
		t.Errorf("free = %d after a refused allocation, want 1", free)
	}
	if _, ok := r.allocate("job3", 1); !ok {
		t.Error("allocate(1) with 1 free refused")
	}
}

func TestReleaseFreesSlotsAndSignals(t *testing.T) {
	r := newResources()
	r.register("tm-a", "a", 2, t0)
	r.register("tm-b", "b", 2, t0)
	slots, ok := r.allocate("job1", 4)
	if !ok {
		t.Fatal("allocate(4) of 4 refused")
	}
	changed := r.changed()
	if closed(changed) {
		t.Fatal("changed is closed before anything changed")
	}
	if _, ok := r.allocate("job2", 1); ok {
		t.Fatal("allocate with every slot taken succeeded")
	}

	r.release(slots[:2])
	if !closed(changed) {
		t.Error("release did not close the changed channel")
	}
	if next := r.changed(); closed(next) {
		t.Error("the channel after a change is already closed")
	}
	if free := freeSlots(r); free != 2 {
		t.Errorf("free = %d after releasing 2, want 2", free)
	}
	got, ok := r.allocate("job2", 2)
	if !ok {
		t.Fatal("allocate(2) after release refused")
	}
	if !slices.Equal(got, slots[:2]) {
		t.Errorf("allocate got %+v, want the released %+v", got, slots[:2])
	}
}

func TestReleaseOfLostTaskManagerIsIgnored(t *testing.T) {
	r := newResources()
	r.register("tm-a", "a", 1, t0)
	r.register("tm-b", "b", 1, t0.Add(5*time.Second))
	slots, ok := r.allocate("job", 2)
	if !ok {
		t.Fatal("allocate refused")
	}
	if lost := r.expire(t0.Add(11*time.Second), 10*time.Second); !slices.Equal(lost, []string{"tm-a"}) {
		t.Fatalf("expire = %v, want [tm-a]", lost)
	}
	r.release(slots)
	if free, total, tms := r.summary(); free != 1 || total != 1 || tms != 1 {
		t.Errorf("summary = %d free of %d on %d, want 1 of 1 on 1", free, total, tms)
	}
}

func TestRegisterSignalsNewTaskManager(t *testing.T) {
	r := newResources()
	changed := r.changed()
	r.register("tm-a", "a", 2, t0)
	if !closed(changed) {
		t.Error("a new taskmanager's slots did not close the changed channel")
	}
}

func TestExpireByHeartbeat(t *testing.T) {
	const timeout = 10 * time.Second
	r := newResources()
	r.register("tm-a", "a", 1, t0)
	r.register("tm-b", "b", 1, t0)
	r.register("tm-c", "c", 1, t0)
	if !r.heartbeat("tm-b", t0.Add(8*time.Second)) {
		t.Fatal("heartbeat of a registered taskmanager not accepted")
	}
	// Re-registering refreshes the heartbeat too.
	r.register("tm-c", "c", 1, t0.Add(9*time.Second))

	// Exactly the timeout is not yet too late.
	if lost := r.expire(t0.Add(timeout), timeout); len(lost) != 0 {
		t.Errorf("expire at the timeout = %v, want none", lost)
	}
	if lost := r.expire(t0.Add(timeout+time.Millisecond), timeout); !slices.Equal(lost, []string{"tm-a"}) {
		t.Errorf("expire = %v, want [tm-a]", lost)
	}
	if r.heartbeat("tm-a", t0.Add(12*time.Second)) {
		t.Error("an expired taskmanager's heartbeat was accepted; it must re-register")
	}
	if lost := r.expire(t0.Add(30*time.Second), timeout); !slices.Equal(lost, []string{"tm-b", "tm-c"}) {
		t.Errorf("expire = %v, want [tm-b tm-c] (sorted)", lost)
	}
	if _, _, tms := r.summary(); tms != 0 {
		t.Errorf("%d taskmanagers left, want 0", tms)
	}
}

func TestReRegisterKeepsAssignments(t *testing.T) {
	r := newResources()
	r.register("tm-a", "old:1", 2, t0)
	slots, ok := r.allocate("job", 2)
	if !ok {
		t.Fatal("allocate refused")
	}
	changed := r.changed()
	r.register("tm-a", "new:2", 2, t0.Add(time.Second))
	if free := freeSlots(r); free != 0 {
		t.Errorf("free = %d after re-registering, want the job's 2 slots still taken", free)
	}
	if _, ok := r.allocate("other", 1); ok {
		t.Error("a re-registered taskmanager's assigned slots were allocated again")
	}
	if closed(changed) {
		t.Error("re-registering freed no slots but signalled a change")
	}
	v := r.list()
	if len(v) != 1 || v[0].address != "new:2" || !v[0].lastHeartbeat.Equal(t0.Add(time.Second)) {
		t.Errorf("list = %+v, want tm-a at its new address with a fresh heartbeat", v)
	}
	r.release(slots)
	if free := freeSlots(r); free != 2 {
		t.Errorf("free = %d after release, want 2", free)
	}
}

func TestList(t *testing.T) {
	r := newResources()
	r.register("tm-b", "b", 3, t0)
	r.register("tm-a", "a", 1, t0.Add(time.Second))
	if _, ok := r.allocate("job", 2); !ok {
		t.Fatal("allocate refused")
	}
	got := r.list()
	want := []tmView{
		{id: "tm-a", address: "a", slots: 1, free: 0, lastHeartbeat: t0.Add(time.Second)},
		{id: "tm-b", address: "b", slots: 3, free: 2, lastHeartbeat: t0},
	}
	if !slices.Equal(got, want) {
		t.Errorf("list = %+v, want %+v", got, want)
	}
}

func TestWaitingMessage(t *testing.T) {
	r := newResources()
	const want0 = "waiting for 2 free slots; the cluster has 0 free of 0 on 0 taskmanagers (fails after slot.request.timeout 5m0s)"
	if got := r.waitingMessage(2, 5*time.Minute); got != want0 {
		t.Errorf("waitingMessage =\n%q\nwant\n%q", got, want0)
	}
	r.register("tm-a", "a", 2, t0)
	r.register("tm-b", "b", 2, t0)
	if _, ok := r.allocate("job", 1); !ok {
		t.Fatal("allocate refused")
	}
	const want = "waiting for 4 free slots; the cluster has 3 free of 4 on 2 taskmanagers (fails after slot.request.timeout 30s)"
	if got := r.waitingMessage(4, 30*time.Second); got != want {
		t.Errorf("waitingMessage =\n%q\nwant\n%q", got, want)
	}
}
