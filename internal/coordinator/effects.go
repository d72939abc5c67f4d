package coordinator

// Effects is the work the owner must carry out after feeding in events. It is
// returned, and cleared, by [Coordinator.Ready]. The owner owns the returned
// slices and maps; the coordinator keeps no reference to them.
//
// Each slice is in the order the coordinator decided it. The owner may carry
// out different kinds of effect in any order, with two exceptions: a Write
// must be durable, and reported back through [Coordinator.Persisted], before
// anything else is done for that checkpoint; and Discard names only storage no
// completed checkpoint references, so it may run at any time.
type Effects struct {
	// Trigger lists checkpoints to start: inject barrier ID at the source
	// subtasks in To.
	Trigger []Trigger
	// Write lists checkpoints whose subtasks have all acknowledged: write
	// each one's _metadata (last, after its state is durable; DESIGN
	// invariant 4), then report the outcome with Persisted.
	Write []MetadataWrite
	// Notify lists completed checkpoints (never savepoints): tell every task,
	// so that transactional sinks commit (DESIGN invariant 6).
	Notify []ID
	// Abort lists checkpoints that ended without completing: tell tasks to
	// drop the pending work they hold for them.
	Abort []Abort
	// Discard lists checkpoints whose storage may be deleted: aborted
	// checkpoints known to have no _metadata, and completed checkpoints that
	// fell out of retention. It never names a savepoint or a retained
	// checkpoint. Deletion is best effort; the owner's garbage collection
	// catches what it misses.
	Discard []ID
	// Completed lists checkpoints and savepoints whose _metadata is durable,
	// for the owner's bookkeeping and to answer savepoint requests.
	Completed []Completion
	// Failed lists checkpoints that failed for their own reasons (expired,
	// declined, metadata write failed) and savepoints that ended for any
	// reason without completing. Failed checkpoints count towards
	// Config.TolerableFailures; a failed savepoint answers its request.
	Failed []Failure
	// FailJob, when not empty, says the job has failed more consecutive
	// checkpoints than Config.TolerableFailures allows; the owner fails the
	// job with this reason.
	FailJob string
}

// Empty reports whether there is nothing to do.
func (e Effects) Empty() bool {
	return len(e.Trigger) == 0 && len(e.Write) == 0 && len(e.Notify) == 0 &&
		len(e.Abort) == 0 && len(e.Discard) == 0 && len(e.Completed) == 0 &&
		len(e.Failed) == 0 && e.FailJob == ""
}

// Trigger starts a checkpoint at the job's sources.
type Trigger struct {
	ID        ID
	Kind      Kind
	Timestamp Tick        // logical time of the trigger
	To        []SubtaskID // the source subtasks
}

// MetadataWrite asks the owner to persist a checkpoint's _metadata.
type MetadataWrite struct {
	ID   ID
	Kind Kind
	// Acks holds the state handle each subtask acknowledged, exactly as it
	// was passed to Ack.
	Acks map[SubtaskID]Handle
}

// Abort tells tasks to drop a checkpoint.
type Abort struct {
	ID     ID
	Kind   Kind
	Reason string
}

// Completion reports a checkpoint or savepoint whose _metadata is durable.
type Completion struct {
	ID       ID
	Kind     Kind
	Request  int64 // the savepoint's request, as passed to TriggerSavepoint; 0 otherwise
	Duration Tick  // from trigger to completion
}

// Failure reports a checkpoint or savepoint that did not complete.
type Failure struct {
	ID      ID
	Kind    Kind
	Request int64 // the savepoint's request, as passed to TriggerSavepoint; 0 otherwise
	Reason  string
}
