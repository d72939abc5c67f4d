package coordinator

import "strconv"

// ID identifies a checkpoint or savepoint within a job. IDs increase
// monotonically and are never reused: a new job starts at 1, and a restored
// job continues after the ID it was restored from.
type ID int64

// Tick is logical time. The coordinator never reads a clock: the owner calls
// [Coordinator.Tick] at a fixed rate and converts durations to ticks once.
type Tick int64

// SubtaskID names one parallel instance of a job vertex.
type SubtaskID struct {
	Vertex, Subtask int32
}

// String returns "vertex/subtask".
func (s SubtaskID) String() string {
	return strconv.Itoa(int(s.Vertex)) + "/" + strconv.Itoa(int(s.Subtask))
}

// Handle is a subtask's opaque state handle for one checkpoint. The
// coordinator passes it through, unread, to [MetadataWrite.Acks].
type Handle any

// Kind says why a checkpoint was taken.
type Kind int

const (
	// KindCheckpoint is a periodic checkpoint, owned by the job: retained,
	// subsumed and discarded by the coordinator.
	KindCheckpoint Kind = iota + 1
	// KindSavepoint is a checkpoint a user asked for. It is the user's: it
	// is never retained, subsumed, notified or discarded here, it does not
	// count towards MaxConcurrent, and its failures never fail the job.
	KindSavepoint
	// KindFinal is the final checkpoint of a bounded job. It is a checkpoint
	// in every respect (retained, notified, subsumes, counts as a failure),
	// except that it is triggered on request and retried until it completes.
	KindFinal
)

var kindNames = [...]string{KindCheckpoint: "checkpoint", KindSavepoint: "savepoint", KindFinal: "final"}

func (k Kind) String() string {
	if k > 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// owned reports whether the coordinator manages the checkpoint's lifecycle
// (retention, subsumption, notification, discard, failure counting).
func (k Kind) owned() bool { return k != KindSavepoint }

// AckResult is the outcome of [Coordinator.Ack]. Acks arrive at least once
// and may arrive late or from a zombie; none of that is an error.
type AckResult int

const (
	// AckAccepted: the ack was recorded; other subtasks have yet to ack.
	AckAccepted AckResult = iota + 1
	// AckCompletedPending: the ack was the last one; the metadata write was
	// issued and the checkpoint completes once it is persisted.
	AckCompletedPending
	// AckDuplicate: this subtask already acked this checkpoint; the first
	// handle is kept.
	AckDuplicate
	// AckUnknownCheckpoint: the ID was never triggered by this coordinator.
	AckUnknownCheckpoint
	// AckLate: the checkpoint already completed or was aborted.
	AckLate
	// AckUnknownSubtask: the subtask is not part of the job.
	AckUnknownSubtask
	// AckStaleAttempt: the ack comes from another execution attempt than
	// the current one, such as a zombie taskmanager (DESIGN invariant 5).
	AckStaleAttempt
)

var ackNames = [...]string{
	AckAccepted:          "accepted",
	AckCompletedPending:  "completed-pending",
	AckDuplicate:         "duplicate",
	AckUnknownCheckpoint: "unknown-checkpoint",
	AckLate:              "late",
	AckUnknownSubtask:    "unknown-subtask",
	AckStaleAttempt:      "stale-attempt",
}

func (r AckResult) String() string {
	if r > 0 && int(r) < len(ackNames) {
		return ackNames[r]
	}
	return "AckResult(" + strconv.Itoa(int(r)) + ")"
}

// DeclineResult is the outcome of [Coordinator.Decline].
type DeclineResult int

const (
	// DeclineAccepted: the decline aborted the checkpoint.
	DeclineAccepted DeclineResult = iota + 1
	// DeclineUnknownCheckpoint: the ID was never triggered by this coordinator.
	DeclineUnknownCheckpoint
	// DeclineLate: the checkpoint already completed or was aborted, or every
	// subtask has acked it and its fate is its metadata write's.
	DeclineLate
	// DeclineUnknownSubtask: the subtask is not part of the job.
	DeclineUnknownSubtask
	// DeclineStaleAttempt: the decline comes from another execution attempt
	// than the current one (DESIGN invariant 5).
	DeclineStaleAttempt
)

var declineNames = [...]string{
	DeclineAccepted:          "accepted",
	DeclineUnknownCheckpoint: "unknown-checkpoint",
	DeclineLate:              "late",
	DeclineUnknownSubtask:    "unknown-subtask",
	DeclineStaleAttempt:      "stale-attempt",
}

func (r DeclineResult) String() string {
	if r > 0 && int(r) < len(declineNames) {
		return declineNames[r]
	}
	return "DeclineResult(" + strconv.Itoa(int(r)) + ")"
}

// Abort and failure reasons the coordinator itself gives. A decline's reason
// is "declined by <subtask>: <reason>" and a failed metadata write's is
// "metadata write failed: <error>".
const (
	ReasonExpired      = "expired"
	ReasonSubsumed     = "subsumed"
	ReasonJobRestarted = "job restarted"
)
