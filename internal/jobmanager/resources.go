package jobmanager

import (
	"fmt"
	"sort"
	"sync"
	"time"
)

// resources is the resource manager: the registered taskmanagers, their
// slots and heartbeats. Safe for concurrent use.
type resources struct {
	mu struct {
		sync.Mutex
		tms     map[string]*tmEntry
		changed chan struct{} // closed and replaced whenever slots may have freed up
	}
}

type tmEntry struct {
	id            string
	address       string
	slots         int
	used          map[int]string // slot index -> job id
	lastHeartbeat time.Time
}

// slot is one allocated slot.
type slot struct {
	tm      string
	address string
	index   int
}

func newResources() *resources {
	r := &resources{}
	r.mu.tms = map[string]*tmEntry{}
	r.mu.changed = make(chan struct{})
	return r
}

func (r *resources) signalLocked() {
	close(r.mu.changed)
	r.mu.changed = make(chan struct{})
}

// changed returns a channel closed at the next change of free slots.
func (r *resources) changed() <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.mu.changed
}

// register adds or refreshes a taskmanager. A known id re-registering keeps
// its slot assignments.
func (r *resources) register(id, address string, slots int, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if e, ok := r.mu.tms[id]; ok {
		e.address, e.lastHeartbeat = address, now
		return
	}
	r.mu.tms[id] = &tmEntry{id: id, address: address, slots: slots, used: map[int]string{}, lastHeartbeat: now}
	r.signalLocked()
}

// heartbeat records a heartbeat; false if the taskmanager is unknown.
func (r *resources) heartbeat(id string, now time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.mu.tms[id]
	if ok {
		e.lastHeartbeat = now
	}
	return ok
}

// expire removes the taskmanagers whose last heartbeat is older than
// timeout, and returns their ids.
func (r *resources) expire(now time.Time, timeout time.Duration) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var lost []string
	for id, e := range r.mu.tms {
		if now.Sub(e.lastHeartbeat) > timeout {
			lost = append(lost, id)
			delete(r.mu.tms, id)
		}
	}
	sort.Strings(lost)
	return lost
}

// allocate takes n free slots for job, spread evenly across taskmanagers
// (Flink's cluster.evenly-spread-out-slots), or none if fewer are free.
func (r *resources) allocate(job string, n int) ([]slot, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	tms := r.sortedLocked()
	free := map[string][]int{}
	total := 0
	for _, e := range tms {
		for i := range e.slots {
			if _, used := e.used[i]; !used {
				free[e.id] = append(free[e.id], i)
				total++
			}
		}
	}
	if total < n {
		return nil, false
	}
	var out []slot
	for len(out) < n {
		for _, e := range tms {
			if len(out) == n {
				break
			}
			if f := free[e.id]; len(f) > 0 {
				out = append(out, slot{tm: e.id, address: e.address, index: f[0]})
				free[e.id] = f[1:]
			}
		}
	}
	for _, s := range out {
		r.mu.tms[s.tm].used[s.index] = job
	}
	return out, true
}

// release frees slots; slots of taskmanagers that are gone are ignored.
func (r *resources) release(slots []slot) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range slots {
		if e, ok := r.mu.tms[s.tm]; ok {
			delete(e.used, s.index)
		}
	}
	r.signalLocked()
}

// summary describes the free slots, for status messages.
func (r *resources) summary() (free, total, tms int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range r.mu.tms {
		total += e.slots
		free += e.slots - len(e.used)
	}
	return free, total, len(r.mu.tms)
}

func (r *resources) sortedLocked() []*tmEntry {
	tms := make([]*tmEntry, 0, len(r.mu.tms))
	for _, e := range r.mu.tms {
		tms = append(tms, e)
	}
	sort.Slice(tms, func(i, j int) bool { return tms[i].id < tms[j].id })
	return tms
}

type tmView struct {
	id, address   string
	slots, free   int
	lastHeartbeat time.Time
}

func (r *resources) list() []tmView {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []tmView
	for _, e := range r.sortedLocked() {
		out = append(out, tmView{id: e.id, address: e.address, slots: e.slots, free: e.slots - len(e.used), lastHeartbeat: e.lastHeartbeat})
	}
	return out
}

func (r *resources) waitingMessage(need int, timeout time.Duration) string {
	free, total, tms := r.summary()
	return fmt.Sprintf("waiting for %d free slots; the cluster has %d free of %d on %d taskmanagers (fails after slot.request.timeout %s)",
		need, free, total, tms, timeout)
}

// drop removes a taskmanager known to be gone; false if it was not
// registered.
func (r *resources) drop(id string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.mu.tms[id]; !ok {
		return false
	}
	delete(r.mu.tms, id)
	r.signalLocked()
	return true
}
