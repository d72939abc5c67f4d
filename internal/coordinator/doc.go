/*
Package coordinator decides when a job's checkpoints start, complete, expire,
are subsumed and are discarded. It is a deterministic state machine in the
manner of etcd raft's RawNode: it performs no I/O, starts no goroutines, takes
no locks and never reads a clock. Its owner feeds it events and carries out
the [Effects] it returns; the same events always produce the same effects,
which is what lets the testdata scripts pin the protocol down.

# Usage

One goroutine of the job master owns a [Coordinator]. RPC handlers (acks and
declines from taskmanagers) and storage workers (metadata writes) reach it
only through that goroutine's event channel. After every event the owner
calls [Coordinator.Ready] and hands the effects to workers, without blocking
on I/O:

	coord := coordinator.New(cfg, attempt, sources, tasks, restoredID+1)
	ticker := clk.NewTicker(tickPeriod) // cfg is in ticks of tickPeriod
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C():
			coord.Tick()
		case ev := <-events:
			switch ev := ev.(type) {
			case ackEvent:
				res := coord.Ack(ev.id, ev.subtask, ev.attempt, ev.handle)
				ev.reply <- res // AckStaleAttempt and friends are outcomes, not errors
			case declineEvent:
				coord.Decline(ev.id, ev.subtask, ev.attempt, ev.reason)
			case persistedEvent: // from the worker that wrote _metadata
				coord.Persisted(ev.id, ev.err)
			case savepointRequest:
				coord.TriggerSavepoint(ev.request)
			case inputEnded:
				coord.TriggerFinal() // after the pending periodic checkpoint
			case restarted: // the job's tasks were redeployed
				coord.Restart(ev.attempt)
			}
		}
		eff := coord.Ready()
		for _, w := range eff.Write {
			writers.Go(func() { events <- persistedEvent{w.ID, writeMetadata(ctx, w)} })
		}
		notifyTasks(eff.Notify)  // commit side effects (DESIGN invariant 6)
		abortTasks(eff.Abort)    // drop pending work of ended checkpoints
		gc.Discard(eff.Discard)  // best effort; gc reconciles the rest
		answer(eff.Completed, eff.Failed)
		for _, t := range eff.Trigger { // based on eff.Completed's newest
			sendBarriers(t) // TriggerCheckpoint RPCs to t.To
		}
		if eff.FailJob != "" {
			failJob(eff.FailJob)
		}
	}

The owner's duties, in order of importance:

 1. Report every [MetadataWrite] exactly once through [Coordinator.Persisted],
    with a non-nil error if the write failed or timed out. A write in flight
    holds its checkpoint pending: it neither expires nor can be declined.
 2. Never tell tasks a checkpoint completed except through Notify: the
    coordinator announces completion only after Persisted(id, nil).
 3. Stamp every task deployment with its execution attempt, pass that
    attempt with each ack and decline, and call [Coordinator.Restart] when
    the job is redeployed, so that a zombie's acks are fenced off.
 4. Restore a failed job from [Coordinator.Latest], or from the snapshot
    the job was started from while Latest reports none.
 5. Run garbage collection against [Coordinator.Completed]: the coordinator
    discards what it knows to be garbage, but a metadata write that failed
    may have landed, and only storage can tell.

# Invariants

Each of these has a test in this package (testdata/*.txt and TestQuick):

  - A checkpoint completes (Completed, Notify, subsumption, retention) only
    after Persisted(id, nil) for its MetadataWrite, and a MetadataWrite is
    issued only when every task of the current attempt has acked.
  - Every triggered ID ends exactly once, either in Completed or in Abort,
    never both. Every savepoint that aborts also appears in Failed, so every
    savepoint request is answered.
  - Completing a checkpoint subsumes (aborts) every pending periodic
    checkpoint with a smaller ID. Savepoints neither subsume nor are
    subsumed, and are never notified: their side effects would be repeated
    by a restore from an older checkpoint.
  - Completed returns the Config.NumRetained newest completed checkpoints,
    periodic or final; every older one has been named in Discard.
  - Discard never names a savepoint (the user owns savepoints), a retained
    checkpoint, or a checkpoint whose _metadata may exist and whose fate is
    unknown: it names aborted checkpoints whose write was never issued,
    checkpoints whose write landed after they were aborted, and completed
    checkpoints beyond retention. Storage left behind by a failed metadata
    write is the owner's garbage collection's to reconcile.
  - Acks and declines from another attempt than the current one, for
    subtasks outside the job, for IDs this coordinator never assigned, or
    for checkpoints that already ended, are outcomes ([AckStaleAttempt],
    [AckUnknownSubtask], [AckUnknownCheckpoint], [AckLate]) and change
    nothing.
  - At most Config.MaxConcurrent periodic checkpoints are pending; periodic
    triggers respect Interval and MinPause and stop once a final checkpoint
    is requested. The final checkpoint waits for the pending periodic one
    and may be triggered with its completion, in one batch of effects.
  - FailJob is set when consecutive counted failures exceed
    Config.TolerableFailures; a completion resets the count.
*/
package coordinator
