// Package generator is a source of deterministic text lines for tests,
// demos and benchmarks, registered as "weir.generator".
//
// Record k of a generator is Line(Seed, Words, k): a few words drawn from a
// synthetic vocabulary of Words words. Subtask i of a source with
// parallelism p emits the records whose index k satisfies k mod p == i, in
// increasing k, so the union of all subtasks is the same records for every
// parallelism and a test can compute the expected output with Line.
//
// With Rate > 0 record k is due k/Rate seconds after its reader was
// created, measured on the task's injected clock, so Rate is the total
// across all subtasks. A reader ahead of schedule reports PollIdle, and its
// Available channel fires when its next record is due.
package generator
