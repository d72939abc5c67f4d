package coordinator

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
)

// Coordinator decides when a job's checkpoints start, complete, expire and
// are subsumed. It is not safe for concurrent use: exactly one goroutine owns
// it, feeds it events and carries out the [Effects] that [Coordinator.Ready]
// returns.
type Coordinator struct {
	cfg     Config
	attempt int32       // current execution attempt; acks from others are stale
	sources []SubtaskID // where barriers are injected, sorted
	tasks   []SubtaskID // every subtask that must ack, sources included, sorted

	now  Tick
	base ID // first ID this coordinator assigned; IDs in [base, next) are its own
	next ID // next ID to assign

	pending   []*pending // ascending ID
	completed []ID       // retained completed checkpoints (not savepoints), oldest first
	// inDoubt holds checkpoints aborted while their metadata write was in
	// flight: if the write turns out to have landed (Persisted with nil),
	// the _metadata is known to be garbage and the checkpoint is discarded.
	inDoubt map[ID]struct{}

	lastPeriodic   Tick // logical time of the last periodic trigger (or of New/Restart)
	lastCompletion Tick
	completedAny   bool
	failures       int // consecutive counted checkpoint failures
	final          finalState

	out Effects
}

type finalState int

const (
	finalNone      finalState = iota
	finalWaiting              // TriggerFinal was called; periodic checkpoints are pending
	finalRequested            // the final checkpoint was triggered; retried until it completes
	finalDone                 // the final checkpoint completed
)

type pending struct {
	id        ID
	kind      Kind
	request   int64
	triggered Tick
	acks      map[SubtaskID]Handle
	writing   bool // every subtask acked; the metadata write is in flight
}

// New returns a coordinator for one job. attempt is the job's current
// execution attempt. tasks lists every subtask that acknowledges checkpoints,
// sources included; sources lists those that barriers are injected at. next
// is the first ID to assign: 1 for a new job, and the restored ID plus one for
// a job restored from a checkpoint or savepoint. The coordinator does not own
// the snapshot a job was restored from (Flink's no-claim mode): it never lists
// or discards it.
//
// New panics if cfg is invalid, if there are no sources, if a source is not
// among tasks, or if next is below 1: these are programming errors, since the
// job's configuration is validated at submission.
func New(cfg Config, attempt int32, sources, tasks []SubtaskID, next ID) *Coordinator {
	if err := cfg.Validate(); err != nil {
		panic(err)
	}
	if len(sources) == 0 {
		panic("coordinator: a job needs at least one source subtask")
	}
	if next < 1 {
		panic(fmt.Sprintf("coordinator: next checkpoint ID is %d, must be at least 1", next))
	}
	ts := sortedUnique(tasks)
	for _, s := range sources {
		if _, ok := slices.BinarySearchFunc(ts, s, cmpSubtask); !ok {
			panic(fmt.Sprintf("coordinator: source %v is not among the tasks", s))
		}
	}
	return &Coordinator{
		cfg:     cfg.withDefaults(),
		attempt: attempt,
		sources: sortedUnique(sources),
		tasks:   ts,
		base:    next,
		next:    next,
		inDoubt: map[ID]struct{}{},
	}
}

// Tick advances logical time by one: checkpoints waiting for acks past
// Config.Timeout expire, and a periodic checkpoint is triggered if one is due.
func (c *Coordinator) Tick() {
	c.now++
	if c.cfg.Timeout > 0 {
		for _, p := range slices.Clone(c.pending) {
			if !p.writing && c.now-p.triggered >= c.cfg.Timeout {
				c.fail(p, ReasonExpired, true)
			}
		}
	}
	c.maybeTriggerPeriodic()
}

// maybeTriggerPeriodic triggers a periodic checkpoint if Interval has passed
// since the last one, MinPause since the last completion, and fewer than
// MaxConcurrent periodic checkpoints are pending. Once a final checkpoint is
// requested, the job's input has ended and periodic checkpoints stop.
func (c *Coordinator) maybeTriggerPeriodic() {
	switch {
	case c.cfg.Interval == 0 || c.final != finalNone:
		return
	case c.now-c.lastPeriodic < c.cfg.Interval:
		return
	case c.completedAny && c.now-c.lastCompletion < c.cfg.MinPause:
		return
	}
	n := 0
	for _, p := range c.pending {
		if p.kind == KindCheckpoint {
			n++
		}
	}
	if n >= c.cfg.MaxConcurrent {
		return
	}
	c.lastPeriodic = c.now
	c.trigger(KindCheckpoint, 0)
}

// TriggerSavepoint triggers a savepoint at once, regardless of MaxConcurrent
// and MinPause, and returns its ID. req is the caller's request ID, echoed in
// the savepoint's Completion or Failure.
func (c *Coordinator) TriggerSavepoint(req int64) ID {
	return c.trigger(KindSavepoint, req)
}

// TriggerFinal requests the final checkpoint of a bounded job, regardless
// of MinPause and MaxConcurrent, and returns its ID. Periodic checkpoints
// stop. If a periodic checkpoint is pending, the final one waits for it to
// complete or abort, and TriggerFinal returns false: a checkpoint shares the
// objects of the newest completed one, and a task's incremental backend can
// build a delta only on its own previous snapshot, so a final checkpoint
// triggered past a pending one would upload the whole state. If the final
// checkpoint expires, is declined or its metadata write fails, it is
// triggered again under a new ID (with [KindFinal], so the owner can
// recognise it) until it completes or the job restarts. If a final
// checkpoint is already pending, TriggerFinal returns its ID and triggers
// nothing.
func (c *Coordinator) TriggerFinal() (ID, bool) {
	switch c.final {
	case finalWaiting:
		return 0, false
	case finalRequested:
		for _, p := range c.pending {
			if p.kind == KindFinal {
				return p.id, true
			}
		}
	}
	c.final = finalWaiting
	return c.triggerFinal()
}

// triggerFinal triggers a waiting final checkpoint once no periodic
// checkpoint is pending.
func (c *Coordinator) triggerFinal() (ID, bool) {
	if c.final != finalWaiting || slices.ContainsFunc(c.pending, func(p *pending) bool { return p.kind == KindCheckpoint }) {
		return 0, false
	}
	c.final = finalRequested
	return c.trigger(KindFinal, 0), true
}

func (c *Coordinator) trigger(k Kind, req int64) ID {
	id := c.next
	c.next++
	c.pending = append(c.pending, &pending{
		id:        id,
		kind:      k,
		request:   req,
		triggered: c.now,
		acks:      make(map[SubtaskID]Handle, len(c.tasks)),
	})
	c.out.Trigger = append(c.out.Trigger, Trigger{
		ID:        id,
		Kind:      k,
		Timestamp: c.now,
		To:        slices.Clone(c.sources),
	})
	return id
}

// Ack records that subtask st of execution attempt attempt has made its state
// for checkpoint id durable, with handle h. The last ack of a checkpoint
// issues its MetadataWrite.
func (c *Coordinator) Ack(id ID, st SubtaskID, attempt int32, h Handle) AckResult {
	switch {
	case attempt != c.attempt:
		return AckStaleAttempt
	case !c.isTask(st):
		return AckUnknownSubtask
	}
	p := c.find(id)
	if p == nil {
		if c.ours(id) {
			return AckLate
		}
		return AckUnknownCheckpoint
	}
	if _, ok := p.acks[st]; ok {
		return AckDuplicate
	}
	p.acks[st] = h
	if len(p.acks) < len(c.tasks) {
		return AckAccepted
	}
	p.writing = true
	c.out.Write = append(c.out.Write, MetadataWrite{ID: p.id, Kind: p.kind, Acks: maps.Clone(p.acks)})
	return AckCompletedPending
}

// Decline records that subtask st of execution attempt attempt could not take
// checkpoint id. A decline aborts a checkpoint that is still waiting for acks;
// once every subtask has acked, the checkpoint's fate is its metadata write's
// and a decline is late.
func (c *Coordinator) Decline(id ID, st SubtaskID, attempt int32, reason string) DeclineResult {
	p, res := c.declinable(id, st, attempt)
	if p == nil {
		return res
	}
	c.fail(p, "declined by "+st.String()+": "+reason, true)
	return DeclineAccepted
}

// declinable returns the pending checkpoint a decline from st for id ends,
// or nil and the outcome that the decline is not accepted.
func (c *Coordinator) declinable(id ID, st SubtaskID, attempt int32) (*pending, DeclineResult) {
	switch {
	case attempt != c.attempt:
		return nil, DeclineStaleAttempt
	case !c.isTask(st):
		return nil, DeclineUnknownSubtask
	}
	p := c.find(id)
	switch {
	case p == nil && c.ours(id):
		return nil, DeclineLate
	case p == nil:
		return nil, DeclineUnknownCheckpoint
	case p.writing:
		return nil, DeclineLate
	}
	return p, DeclineAccepted
}

// DeclineSubsumed is a decline because a newer checkpoint's barrier overtook
// checkpoint id at subtask st before it could take its part (Flink's
// CHECKPOINT_DECLINED_SUBSUMED): id is aborted as subsumed, which does not
// count towards TolerableFailures. A subsumed savepoint fails its request; a
// subsumed final checkpoint is triggered again.
func (c *Coordinator) DeclineSubsumed(id ID, st SubtaskID, attempt int32) DeclineResult {
	p, res := c.declinable(id, st, attempt)
	if p == nil {
		return res
	}
	c.abort(p, ReasonSubsumed)
	switch p.kind {
	case KindSavepoint:
		c.out.Failed = append(c.out.Failed, Failure{ID: p.id, Kind: p.kind, Request: p.request,
			Reason: "declined by " + st.String() + ": " + ReasonSubsumed})
	case KindFinal:
		c.trigger(KindFinal, 0)
	}
	return DeclineAccepted
}

// Persisted reports the outcome of the MetadataWrite for checkpoint id; the
// owner reports each Write exactly once.
//
// With a nil err the checkpoint completes: it is announced (Completed, and
// Notify unless it is a savepoint), it subsumes pending periodic checkpoints
// with smaller IDs, and checkpoints beyond Config.NumRetained are discarded.
//
// A non-nil err fails the checkpoint but does not discard its state: the
// write may have landed anyway (a timeout after success), so cleanup is left
// to the owner's garbage collection, which reconciles storage against
// [Coordinator.Completed].
//
// If the checkpoint was aborted while its write was in flight (subsumed, or
// by a restart), a nil err means its _metadata exists but the checkpoint
// will never be used, so it is discarded; a non-nil err is ignored.
func (c *Coordinator) Persisted(id ID, err error) {
	if _, ok := c.inDoubt[id]; ok {
		delete(c.inDoubt, id)
		if err == nil {
			c.out.Discard = append(c.out.Discard, id)
		}
		return
	}
	p := c.find(id)
	if p == nil || !p.writing {
		return // not a write we issued, or reported twice
	}
	if err != nil {
		c.fail(p, "metadata write failed: "+err.Error(), false)
		return
	}
	c.complete(p)
}

func (c *Coordinator) complete(p *pending) {
	c.remove(p)
	c.lastCompletion, c.completedAny = c.now, true
	c.out.Completed = append(c.out.Completed, Completion{
		ID:       p.id,
		Kind:     p.kind,
		Request:  p.request,
		Duration: c.now - p.triggered,
	})
	if !p.kind.owned() {
		// A savepoint neither notifies nor subsumes: were its side effects
		// committed, a restore from the latest checkpoint, older than the
		// savepoint, would replay and repeat them.
		return
	}
	c.out.Notify = append(c.out.Notify, p.id)
	c.failures = 0
	if p.kind == KindFinal {
		c.final = finalDone
	}
	for _, q := range slices.Clone(c.pending) {
		if q.kind == KindCheckpoint && q.id < p.id {
			c.abort(q, ReasonSubsumed)
		}
	}
	c.completed = append(c.completed, p.id)
	if n := len(c.completed) - c.cfg.NumRetained; n > 0 {
		c.out.Discard = append(c.out.Discard, c.completed[:n]...)
		c.completed = slices.Delete(c.completed, 0, n)
	}
}

// abort ends pending checkpoint p without counting a failure. Its storage is
// discarded if it is known to have no _metadata; if its metadata write is in
// flight, the write's outcome decides (see Persisted).
func (c *Coordinator) abort(p *pending, reason string) {
	c.remove(p)
	c.out.Abort = append(c.out.Abort, Abort{ID: p.id, Kind: p.kind, Reason: reason})
	if !p.kind.owned() {
		return
	}
	if p.writing {
		c.inDoubt[p.id] = struct{}{}
	} else {
		c.out.Discard = append(c.out.Discard, p.id)
	}
}

// fail ends pending checkpoint p for its own reason: it counts towards
// TolerableFailures (savepoints excepted), and a final checkpoint is retried.
// discard says whether p is known to have no _metadata.
func (c *Coordinator) fail(p *pending, reason string, discard bool) {
	c.remove(p)
	c.out.Abort = append(c.out.Abort, Abort{ID: p.id, Kind: p.kind, Reason: reason})
	c.out.Failed = append(c.out.Failed, Failure{ID: p.id, Kind: p.kind, Request: p.request, Reason: reason})
	if !p.kind.owned() {
		return
	}
	if discard {
		c.out.Discard = append(c.out.Discard, p.id)
	}
	c.failures++
	if c.failures > c.cfg.TolerableFailures {
		// Like Flink, the count restarts once the job is failed, so the
		// restarted job gets the same tolerance.
		c.failures = 0
		if c.out.FailJob == "" {
			c.out.FailJob = fmt.Sprintf("exceeded checkpoint tolerable failure threshold (%d): %s %d failed: %s",
				c.cfg.TolerableFailures, p.kind, p.id, reason)
		}
	}
	if p.kind == KindFinal {
		c.trigger(KindFinal, 0)
	}
}

// Restart tells the coordinator that the job restarts as execution attempt
// attempt, which must be greater than the current one. Every pending
// checkpoint and savepoint is aborted (ReasonJobRestarted; savepoints also
// fail, answering their requests), acks and declines from earlier attempts
// become stale, a requested final checkpoint is forgotten (the restarted job
// will request it again), and the periodic schedule restarts: the next
// periodic checkpoint comes Interval ticks from now. Completed checkpoints
// stay; the owner restores the job from [Coordinator.Latest].
func (c *Coordinator) Restart(attempt int32) {
	if attempt <= c.attempt {
		panic(fmt.Sprintf("coordinator: restart with attempt %d, not after current attempt %d", attempt, c.attempt))
	}
	c.attempt = attempt
	c.final = finalNone
	for _, p := range slices.Clone(c.pending) {
		c.abort(p, ReasonJobRestarted)
		if p.kind == KindSavepoint {
			c.out.Failed = append(c.out.Failed, Failure{ID: p.id, Kind: p.kind, Request: p.request, Reason: ReasonJobRestarted})
		}
	}
	c.lastPeriodic = c.now
}

// Latest returns the newest completed checkpoint (periodic or final, never a
// savepoint). Before the first completion it returns false, and a restored
// job restores again from the snapshot it was started from.
func (c *Coordinator) Latest() (ID, bool) {
	if len(c.completed) == 0 {
		return 0, false
	}
	return c.completed[len(c.completed)-1], true
}

// Completed returns the retained completed checkpoints, oldest first. The
// caller owns the slice.
func (c *Coordinator) Completed() []ID { return slices.Clone(c.completed) }

// Progress describes a pending checkpoint, for status pages.
type Progress struct {
	ID        ID
	Kind      Kind
	Triggered Tick
	Acked     int
	Waiting   []SubtaskID // subtasks yet to ack, sorted
	Writing   bool        // every subtask acked; the metadata write is in flight
}

// Pending returns the pending checkpoints and savepoints, by ascending ID.
func (c *Coordinator) Pending() []Progress {
	out := make([]Progress, 0, len(c.pending))
	for _, p := range c.pending {
		pr := Progress{ID: p.id, Kind: p.kind, Triggered: p.triggered, Acked: len(p.acks), Writing: p.writing}
		for _, t := range c.tasks {
			if _, ok := p.acks[t]; !ok {
				pr.Waiting = append(pr.Waiting, t)
			}
		}
		out = append(out, pr)
	}
	return out
}

// Now returns the current logical time: the number of Tick calls so far.
func (c *Coordinator) Now() Tick { return c.now }

// Ready returns the effects accumulated since the previous call and clears
// them. The owner calls it after every event it feeds in.
func (c *Coordinator) Ready() Effects {
	eff := c.out
	c.out = Effects{}
	return eff
}

func (c *Coordinator) find(id ID) *pending {
	i, ok := slices.BinarySearchFunc(c.pending, id, func(p *pending, id ID) int { return cmp.Compare(p.id, id) })
	if !ok {
		return nil
	}
	return c.pending[i]
}

func (c *Coordinator) remove(p *pending) {
	c.pending = slices.DeleteFunc(c.pending, func(q *pending) bool { return q == p })
	c.triggerFinal()
}

// ours reports whether this coordinator assigned id. One that is not pending
// has ended, so an ack for it is late rather than unknown. Since IDs are
// assigned densely from base, the range is exact and needs no memory, unlike
// a ring of recent IDs.
func (c *Coordinator) ours(id ID) bool { return id >= c.base && id < c.next }

func (c *Coordinator) isTask(st SubtaskID) bool {
	_, ok := slices.BinarySearchFunc(c.tasks, st, cmpSubtask)
	return ok
}

func sortedUnique(s []SubtaskID) []SubtaskID {
	s = slices.Clone(s)
	slices.SortFunc(s, cmpSubtask)
	return slices.Compact(s)
}

func cmpSubtask(a, b SubtaskID) int {
	return cmp.Or(cmp.Compare(a.Vertex, b.Vertex), cmp.Compare(a.Subtask, b.Subtask))
}
