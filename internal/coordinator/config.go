package coordinator

import "fmt"

// Config holds a job's checkpointing settings, in ticks. The owner converts
// the durations of weir.yaml (execution.checkpointing.*) once, dividing by
// its tick period.
type Config struct {
	// Interval is the number of ticks between periodic triggers
	// (execution.checkpointing.interval). 0 disables periodic checkpoints;
	// savepoints and the final checkpoint are still taken on request.
	Interval Tick
	// Timeout is the age, in ticks since its trigger, at which a checkpoint
	// or savepoint still waiting for acks expires
	// (execution.checkpointing.timeout). One whose metadata write is in
	// flight does not expire: the owner's write reports its own timeout
	// through Persisted. 0 means never; without a timeout one stuck
	// checkpoint stalls periodic checkpointing for good.
	Timeout Tick
	// MinPause is the number of ticks between the completion of one
	// checkpoint or savepoint and the next periodic trigger
	// (execution.checkpointing.min-pause), so that a job whose checkpoints
	// take longer than Interval still makes progress between them.
	MinPause Tick
	// MaxConcurrent bounds the periodic checkpoints pending at once
	// (execution.checkpointing.max-concurrent-checkpoints). Savepoints and
	// the final checkpoint neither count towards it nor wait for it.
	// 0 means 1, Flink's default.
	MaxConcurrent int
	// TolerableFailures is the number of consecutive checkpoint failures
	// tolerated before the coordinator asks to fail the job
	// (execution.checkpointing.tolerable-failed-checkpoints, default 0: the
	// first failure fails the job). Expiry, a decline and a failed metadata
	// write count; subsumption, a job restart and savepoint failures don't.
	// A completed checkpoint resets the count.
	TolerableFailures int
	// NumRetained is the number of completed checkpoints kept
	// (state.checkpoints.num-retained). 0 means 1, Flink's default.
	NumRetained int
}

// Validate reports the first setting that is out of range.
func (c Config) Validate() error {
	for _, f := range []struct {
		name string
		v    int64
	}{
		{"interval", int64(c.Interval)},
		{"timeout", int64(c.Timeout)},
		{"min pause", int64(c.MinPause)},
		{"max concurrent", int64(c.MaxConcurrent)},
		{"tolerable failures", int64(c.TolerableFailures)},
		{"num retained", int64(c.NumRetained)},
	} {
		if f.v < 0 {
			return fmt.Errorf("coordinator: %s is %d, must not be negative", f.name, f.v)
		}
	}
	return nil
}

func (c Config) withDefaults() Config {
	if c.MaxConcurrent == 0 {
		c.MaxConcurrent = 1
	}
	if c.NumRetained == 0 {
		c.NumRetained = 1
	}
	return c
}
