package coordinator_test

import (
	"errors"
	"fmt"
	"maps"
	"math/rand"
	"reflect"
	"slices"
	"testing"
	"testing/quick"

	"github.com/weirstream/weir/internal/coordinator"
)

// TestQuick feeds random event sequences to a coordinator and checks its
// outcomes and effects against a naive model that tracks every checkpoint it
// has seen. Among the invariants:
//
//   - Notify and Completed name only checkpoints whose Persisted(nil) was seen;
//   - the retained checkpoints are the NumRetained newest completed ones, and
//     every older completed checkpoint has been discarded;
//   - no checkpoint both completes and aborts, and every one ends once;
//   - Discard never names a savepoint, a retained checkpoint, one whose
//     metadata write may have landed, or the same checkpoint twice;
//   - every ack and decline gets the outcome the model predicts, and the
//     last ack, and only it, issues the metadata write with the acked handles.
func TestQuick(t *testing.T) {
	cfg := &quick.Config{MaxCount: 2000}
	if testing.Short() {
		cfg.MaxCount = 200
	}
	if err := quick.Check(func(s scenario) bool {
		if err := s.run(); err != nil {
			t.Logf("%v\nconfig %+v, next %d, tasks %v, sources %v", err, s.Cfg, s.Next, s.Tasks, s.Sources)
			return false
		}
		return true
	}, cfg); err != nil {
		var ce *quick.CheckError
		if errors.As(err, &ce) {
			t.Fatalf("input #%d failed (%d ops); see the log above", ce.Count, len(ce.In[0].(scenario).Ops))
		}
		t.Fatal(err)
	}
}

type opKind int

const (
	opTick opKind = iota
	opAck
	opDecline
	opPersisted
	opSavepoint
	opFinal
	opRestart
)

type op struct {
	Kind    opKind
	A, B, C int
}

type scenario struct {
	Cfg     coordinator.Config
	Sources []coordinator.SubtaskID
	Tasks   []coordinator.SubtaskID
	Next    coordinator.ID
	Ops     []op
}

// Generate builds a small job and a sequence of events weighted towards the
// interesting ones: acks for pending checkpoints, and persisted reports for
// issued writes.
func (scenario) Generate(r *rand.Rand, size int) reflect.Value {
	s := scenario{
		Cfg: coordinator.Config{
			Interval:          coordinator.Tick(r.Intn(4)),
			Timeout:           coordinator.Tick(r.Intn(10)),
			MinPause:          coordinator.Tick(r.Intn(4)),
			MaxConcurrent:     r.Intn(4),
			TolerableFailures: r.Intn(3),
			NumRetained:       r.Intn(4),
		},
		Next: coordinator.ID(1 + r.Intn(3)),
	}
	for v := range int32(1 + r.Intn(3)) {
		for i := range int32(1 + r.Intn(2)) {
			st := coordinator.SubtaskID{Vertex: v, Subtask: i}
			s.Tasks = append(s.Tasks, st)
			if v == 0 {
				s.Sources = append(s.Sources, st)
			}
		}
	}
	weights := []struct {
		k opKind
		w int
	}{{opTick, 25}, {opAck, 40}, {opDecline, 4}, {opPersisted, 20}, {opSavepoint, 5}, {opFinal, 3}, {opRestart, 2}}
	for range 20 + r.Intn(5*size) {
		n := r.Intn(99)
		for _, w := range weights {
			if n < w.w {
				s.Ops = append(s.Ops, op{Kind: w.k, A: r.Intn(100), B: r.Intn(100), C: r.Intn(100)})
				break
			}
			n -= w.w
		}
	}
	return reflect.ValueOf(s)
}

// model is the naive account of every checkpoint the coordinator has
// announced, built from its inputs and effects alone.
type model struct {
	c             *coordinator.Coordinator
	retained      int
	maxConcurrent int
	sources       []coordinator.SubtaskID
	tasks         []coordinator.SubtaskID
	attempt       int32
	base          coordinator.ID
	next          coordinator.ID

	kind    map[coordinator.ID]coordinator.Kind
	request map[coordinator.ID]int64
	pending map[coordinator.ID]*modelCheckpoint
	// ended says how each finished checkpoint ended: "completed" or "aborted".
	ended map[coordinator.ID]string
	// inDoubt holds owned checkpoints aborted while their write was in flight.
	inDoubt      map[coordinator.ID]bool
	persistedNil map[coordinator.ID]bool
	completed    []coordinator.ID // owned checkpoints, in completion order
	discarded    map[coordinator.ID]bool
	lastReq      int64
	// wantFinal says a final checkpoint was requested and has not
	// completed in this attempt.
	wantFinal bool
}

type modelCheckpoint struct {
	acks    map[coordinator.SubtaskID]coordinator.Handle
	writing bool
}

func (s scenario) run() (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	m := &model{
		c:             coordinator.New(s.Cfg, 1, s.Sources, s.Tasks, s.Next),
		retained:      max(s.Cfg.NumRetained, 1),
		maxConcurrent: max(s.Cfg.MaxConcurrent, 1),
		sources:       s.Sources,
		tasks:         s.Tasks,
		attempt:       1,
		base:          s.Next,
		next:          s.Next,
		kind:          map[coordinator.ID]coordinator.Kind{},
		request:       map[coordinator.ID]int64{},
		pending:       map[coordinator.ID]*modelCheckpoint{},
		ended:         map[coordinator.ID]string{},
		inDoubt:       map[coordinator.ID]bool{},
		persistedNil:  map[coordinator.ID]bool{},
		discarded:     map[coordinator.ID]bool{},
	}
	for i, o := range s.Ops {
		if err := m.step(o); err != nil {
			return fmt.Errorf("op %d %+v: %w", i, o, err)
		}
	}
	return nil
}

// pick returns an ID of interest: usually one the coordinator assigned,
// sometimes one it never did.
func (m *model) pick(a, b int, prefer func(coordinator.ID) bool) coordinator.ID {
	var ids []coordinator.ID
	for id := m.base; id < m.next; id++ {
		if prefer(id) {
			ids = append(ids, id)
		}
	}
	switch {
	case a < 10:
		return m.next + coordinator.ID(b%3) // not yet assigned
	case a < 15:
		return m.base - 1 - coordinator.ID(b%3) // before this coordinator
	case len(ids) > 0 && a < 85:
		return ids[b%len(ids)]
	case m.next > m.base:
		return m.base + coordinator.ID(b)%(m.next-m.base)
	}
	return m.next
}

func (m *model) subtask(c int) coordinator.SubtaskID {
	if c < 5 {
		return coordinator.SubtaskID{Vertex: 7, Subtask: 0} // not in the job
	}
	return m.tasks[c%len(m.tasks)]
}

func (m *model) attemptFor(c int) int32 {
	switch {
	case c >= 97:
		return m.attempt + 1 // not deployed yet: an owner's bug, stale all the same
	case c >= 90:
		return m.attempt - 1 - int32(c%2) // a zombie
	}
	return m.attempt
}

func (m *model) step(o op) error {
	c := m.c
	switch o.Kind {
	case opTick:
		c.Tick()
		return m.check(c.Ready())

	case opAck:
		id := m.pick(o.A, o.B, func(id coordinator.ID) bool { p := m.pending[id]; return p != nil && !p.writing })
		st, attempt := m.subtask(o.C), m.attemptFor(o.B)
		want := m.predictAck(id, st, attempt)
		h := coordinator.Handle(fmt.Sprintf("%d@%v", id, st))
		got := c.Ack(id, st, attempt, h)
		if got != want {
			return fmt.Errorf("ack %d from %v attempt %d: got %v, want %v", id, st, attempt, got, want)
		}
		eff := c.Ready()
		if got == coordinator.AckAccepted || got == coordinator.AckCompletedPending {
			m.pending[id].acks[st] = h
		}
		if got == coordinator.AckCompletedPending {
			if len(eff.Write) != 1 || eff.Write[0].ID != id {
				return fmt.Errorf("last ack of %d: writes %+v, want one for %d", id, eff.Write, id)
			}
			if !maps.Equal(eff.Write[0].Acks, m.pending[id].acks) {
				return fmt.Errorf("write %d: acks %v, want %v", id, eff.Write[0].Acks, m.pending[id].acks)
			}
			m.pending[id].writing = true
			eff.Write = nil
		}
		return m.check(eff)

	case opDecline:
		id := m.pick(o.A, o.B, func(id coordinator.ID) bool { return m.pending[id] != nil })
		st, attempt := m.subtask(o.C), m.attemptFor(o.B)
		want := m.predictDecline(id, st, attempt)
		got := c.Decline(id, st, attempt, "random")
		if got != want {
			return fmt.Errorf("decline %d from %v attempt %d: got %v, want %v", id, st, attempt, got, want)
		}
		eff := c.Ready()
		if got == coordinator.DeclineAccepted && !aborts(eff, id) {
			return fmt.Errorf("accepted decline of %d did not abort it: %+v", id, eff)
		}
		return m.check(eff)

	case opPersisted:
		id := m.pick(o.A, o.B, func(id coordinator.ID) bool {
			p := m.pending[id]
			return p != nil && p.writing || m.inDoubt[id]
		})
		var err error
		if o.C < 30 {
			err = errors.New("injected")
		}
		wasWriting := m.pending[id] != nil && m.pending[id].writing
		wasInDoubt := m.inDoubt[id]
		if err == nil && wasWriting {
			m.persistedNil[id] = true
		}
		c.Persisted(id, err)
		eff := c.Ready()
		switch {
		case wasWriting && err == nil && !completes(eff, id):
			return fmt.Errorf("persisted %d: not completed: %+v", id, eff)
		case wasWriting && err != nil && !aborts(eff, id):
			return fmt.Errorf("persisted %d with error: not aborted: %+v", id, eff)
		case wasWriting && err != nil && slices.Contains(eff.Discard, id):
			return fmt.Errorf("persisted %d with error: discarded although the write may have landed", id)
		case wasInDoubt && err == nil && !slices.Equal(eff.Discard, []coordinator.ID{id}):
			return fmt.Errorf("persisted %d after its abort: discards %v, want [%d]", id, eff.Discard, id)
		case !wasWriting && !(wasInDoubt && err == nil) && !eff.Empty():
			return fmt.Errorf("persisted %d, not a write in flight: effects %+v", id, eff)
		}
		if wasInDoubt {
			delete(m.inDoubt, id)
			if err == nil {
				m.discarded[id] = true
				eff.Discard = nil
			}
		}
		if err := m.check(eff); err != nil {
			return err
		}
		if wasWriting && err != nil {
			delete(m.inDoubt, id) // its write has reported: nothing more to wait for
		}
		return nil

	case opSavepoint:
		m.lastReq++
		id := c.TriggerSavepoint(m.lastReq)
		m.request[id] = m.lastReq
		if id != m.next {
			return fmt.Errorf("savepoint got ID %d, want %d", id, m.next)
		}
		return m.check(c.Ready())

	case opFinal:
		id, ok := c.TriggerFinal()
		m.wantFinal = true
		if err := m.check(c.Ready()); err != nil {
			return err
		}
		periodic, final := m.pendingKinds()
		switch {
		case ok && (m.kind[id] != coordinator.KindFinal || m.pending[id] == nil):
			return fmt.Errorf("final checkpoint %d is not pending", id)
		case !ok && periodic == 0:
			return fmt.Errorf("the final checkpoint waits, with no periodic checkpoint pending")
		case periodic == 0 && !final:
			return fmt.Errorf("no final checkpoint pending, nor a periodic one it waits for")
		}
		return nil

	case opRestart:
		m.attempt++
		c.Restart(m.attempt)
		m.wantFinal = false
		eff := c.Ready()
		for id := range m.pending {
			if !aborts(eff, id) {
				return fmt.Errorf("restart did not abort pending %d", id)
			}
		}
		if eff.FailJob != "" || len(eff.Trigger) > 0 {
			return fmt.Errorf("restart: unexpected effects %+v", eff)
		}
		for _, f := range eff.Failed {
			if f.Kind != coordinator.KindSavepoint {
				return fmt.Errorf("restart counted checkpoint %d as failed", f.ID)
			}
		}
		return m.check(eff)
	}
	return fmt.Errorf("unknown op %d", o.Kind)
}

func (m *model) isTask(st coordinator.SubtaskID) bool { return slices.Contains(m.tasks, st) }

func (m *model) predictAck(id coordinator.ID, st coordinator.SubtaskID, attempt int32) coordinator.AckResult {
	switch {
	case attempt != m.attempt:
		return coordinator.AckStaleAttempt
	case !m.isTask(st):
		return coordinator.AckUnknownSubtask
	}
	p := m.pending[id]
	switch {
	case p == nil && m.ended[id] != "":
		return coordinator.AckLate
	case p == nil:
		return coordinator.AckUnknownCheckpoint
	case p.acks[st] != nil:
		return coordinator.AckDuplicate
	case len(p.acks)+1 == len(m.tasks):
		return coordinator.AckCompletedPending
	}
	return coordinator.AckAccepted
}

func (m *model) predictDecline(id coordinator.ID, st coordinator.SubtaskID, attempt int32) coordinator.DeclineResult {
	switch {
	case attempt != m.attempt:
		return coordinator.DeclineStaleAttempt
	case !m.isTask(st):
		return coordinator.DeclineUnknownSubtask
	}
	p := m.pending[id]
	switch {
	case p == nil && m.ended[id] != "":
		return coordinator.DeclineLate
	case p == nil:
		return coordinator.DeclineUnknownCheckpoint
	case p.writing:
		return coordinator.DeclineLate
	}
	return coordinator.DeclineAccepted
}

// check applies a batch of effects to the model and checks the invariants.
func (m *model) check(eff coordinator.Effects) error {
	for _, tr := range eff.Trigger {
		if tr.ID != m.next {
			return fmt.Errorf("trigger %d, want the next ID %d", tr.ID, m.next)
		}
		if !slices.Equal(tr.To, m.sources) {
			return fmt.Errorf("trigger %d to %v, want the sources %v", tr.ID, tr.To, m.sources)
		}
		m.next++
		m.kind[tr.ID] = tr.Kind
		m.pending[tr.ID] = &modelCheckpoint{acks: map[coordinator.SubtaskID]coordinator.Handle{}}
	}
	if len(eff.Write) > 0 {
		return fmt.Errorf("writes %+v outside a last ack", eff.Write)
	}
	for _, cp := range eff.Completed {
		p := m.pending[cp.ID]
		switch {
		case m.ended[cp.ID] != "":
			return fmt.Errorf("%d completed after it %s", cp.ID, m.ended[cp.ID])
		case p == nil || !p.writing:
			return fmt.Errorf("%d completed without a metadata write", cp.ID)
		case !m.persistedNil[cp.ID]:
			return fmt.Errorf("%d completed before Persisted(nil)", cp.ID)
		case cp.Kind != m.kind[cp.ID] || cp.Request != m.request[cp.ID]:
			return fmt.Errorf("completion %+v: want kind %v, request %d", cp, m.kind[cp.ID], m.request[cp.ID])
		}
		delete(m.pending, cp.ID)
		m.ended[cp.ID] = "completed"
		if cp.Kind != coordinator.KindSavepoint {
			m.completed = append(m.completed, cp.ID)
		}
		if cp.Kind == coordinator.KindFinal {
			m.wantFinal = false
		}
	}
	for _, id := range eff.Notify {
		switch {
		case !m.persistedNil[id]:
			return fmt.Errorf("notify %d before Persisted(nil)", id)
		case m.ended[id] != "completed":
			return fmt.Errorf("notify %d, which did not complete", id)
		case m.kind[id] == coordinator.KindSavepoint:
			return fmt.Errorf("notify savepoint %d", id)
		}
	}
	if len(eff.Notify) != countOwned(eff.Completed) {
		return fmt.Errorf("notified %v for completions %+v", eff.Notify, eff.Completed)
	}
	aborted := map[coordinator.ID]bool{}
	for _, a := range eff.Abort {
		p := m.pending[a.ID]
		switch {
		case m.ended[a.ID] != "":
			return fmt.Errorf("%d aborted after it %s", a.ID, m.ended[a.ID])
		case p == nil:
			return fmt.Errorf("%d aborted but not pending", a.ID)
		case a.Kind != m.kind[a.ID]:
			return fmt.Errorf("abort %+v: want kind %v", a, m.kind[a.ID])
		}
		if p.writing && a.Kind != coordinator.KindSavepoint {
			m.inDoubt[a.ID] = true
		}
		delete(m.pending, a.ID)
		m.ended[a.ID] = "aborted"
		aborted[a.ID] = true
	}
	counted := false
	failed := map[coordinator.ID]bool{}
	for _, f := range eff.Failed {
		if !aborted[f.ID] {
			return fmt.Errorf("failure %+v without an abort", f)
		}
		if f.Request != m.request[f.ID] {
			return fmt.Errorf("failure %+v: want request %d", f, m.request[f.ID])
		}
		failed[f.ID] = true
		counted = counted || f.Kind != coordinator.KindSavepoint
	}
	for id := range aborted {
		if m.kind[id] == coordinator.KindSavepoint && !failed[id] {
			return fmt.Errorf("savepoint %d aborted without answering its request", id)
		}
	}
	if eff.FailJob != "" && !counted {
		return fmt.Errorf("fail job %q without a counted failure", eff.FailJob)
	}
	retained := m.c.Completed()
	for _, id := range eff.Discard {
		switch {
		case m.kind[id] == coordinator.KindSavepoint:
			return fmt.Errorf("discard savepoint %d", id)
		case m.discarded[id]:
			return fmt.Errorf("discard %d twice", id)
		case slices.Contains(retained, id):
			return fmt.Errorf("discard retained %d", id)
		case m.ended[id] == "":
			return fmt.Errorf("discard %d, which has not ended", id)
		case m.inDoubt[id]:
			return fmt.Errorf("discard %d, whose metadata write may land", id)
		}
		m.discarded[id] = true
	}

	// Retention: the NumRetained newest completed checkpoints, and every
	// older one discarded.
	want := m.completed[max(0, len(m.completed)-m.retained):]
	if !slices.Equal(retained, want) {
		return fmt.Errorf("retained %v, want %v of completed %v", retained, want, m.completed)
	}
	for _, id := range m.completed[:len(m.completed)-len(want)] {
		if !m.discarded[id] {
			return fmt.Errorf("completed %d fell out of retention but was not discarded", id)
		}
	}
	latest, ok := m.c.Latest()
	if ok != (len(want) > 0) || ok && latest != want[len(want)-1] {
		return fmt.Errorf("latest %d %v, retained %v", latest, ok, want)
	}
	var pending []coordinator.ID
	for _, p := range m.c.Pending() {
		pending = append(pending, p.ID)
		mp := m.pending[p.ID]
		if mp == nil || p.Writing != mp.writing || p.Acked != len(mp.acks) || p.Acked+len(p.Waiting) != len(m.tasks) {
			return fmt.Errorf("pending %+v, model %+v", p, mp)
		}
	}
	if len(pending) != len(m.pending) {
		return fmt.Errorf("pending %v, model has %d", pending, len(m.pending))
	}
	periodic, final := m.pendingKinds()
	if periodic > m.maxConcurrent {
		return fmt.Errorf("%d periodic checkpoints pending, max concurrent %d", periodic, m.maxConcurrent)
	}
	if periodic > 0 && final {
		// The final checkpoint waits for the pending periodic ones,
		// which its backends' deltas follow.
		return fmt.Errorf("a final checkpoint pending with %d periodic ones: %v", periodic, pending)
	}
	if m.wantFinal && periodic == 0 && !final {
		return fmt.Errorf("a final checkpoint was requested, and none is pending nor waits for a periodic one")
	}
	return nil
}

// pendingKinds returns the periodic checkpoints pending and whether a
// final one is.
func (m *model) pendingKinds() (periodic int, final bool) {
	for id := range m.pending {
		switch m.kind[id] {
		case coordinator.KindCheckpoint:
			periodic++
		case coordinator.KindFinal:
			final = true
		}
	}
	return periodic, final
}

func countOwned(cs []coordinator.Completion) int {
	n := 0
	for _, c := range cs {
		if c.Kind != coordinator.KindSavepoint {
			n++
		}
	}
	return n
}

func aborts(eff coordinator.Effects, id coordinator.ID) bool {
	return slices.ContainsFunc(eff.Abort, func(a coordinator.Abort) bool { return a.ID == id })
}

func completes(eff coordinator.Effects, id coordinator.ID) bool {
	return slices.ContainsFunc(eff.Completed, func(c coordinator.Completion) bool { return c.ID == id })
}
