// Package file has a source reading text lines from local files,
// registered as "weir.file.source", and a sink writing text lines into part
// files, registered as "weir.file.sink". Paths are local paths or file://
// URIs; a job running on several machines needs a path that every machine
// sees (a shared mount).
//
// # Source splits
//
// The source reads a file, or every regular file of a directory in name
// order (not recursively, skipping names that start with '.' or '_', which
// are in-progress or marker files). Its subtasks split the input without
// talking to each other: they list the same files, see the input as one
// sequence of TotalBytes bytes, and subtask i of p takes the byte range
// [TotalBytes*i/p, TotalBytes*(i+1)/p) of it. A subtask reads the lines that
// start in its range, reading past the end of the range to finish the last
// one; a range that begins in the middle of a line skips to the next line
// start. Every line is thus read by exactly one subtask, for every
// parallelism, and subtask 0's lines followed by subtask 1's and so on are
// the input in order. Lines end at "\n" or "\r\n" (the ending is not part of
// the record) or at the end of a file. Files are streamed, so memory is
// bounded by the longest line. The input must not change while the job
// runs, or the subtasks' listings disagree.
//
// With Rate > 0 the source is throttled on the task's injected clock to
// Rate lines a second in total, Rate/parallelism per subtask (for demos of
// an unbounded-looking stream).
//
// # Sink part files
//
// Subtask i of the sink writes its records, one per line, into part files
// part-<i>-<n> (n = 0, 1, ...) in the sink's directory. A part file is
// written under a hidden name .part-<i>-<n>.inprogress and rolls over to
// the next n before it would exceed MaxPartBytes. A subtask with no
// records writes no file. Records must not contain "\n". Mode says when
// part files become visible.
//
// With Mode "" or "none", at the end of input (Finish) every part file is
// synced and renamed to its visible name; a writer closed without Finish (a
// failed or cancelled job) removes its hidden files, so readers see either
// all of a subtask's output or none of it. A job that resumes from a
// checkpoint loses what the failed attempt wrote before it: use
// "exactly-once" with checkpointing.
//
// # Exactly-once sink
//
// With Mode "exactly-once" the sink takes part in checkpoints with a
// two-phase commit, like Flink's FileSink (DESIGN invariant 6):
//
//   - Pre-commit, at every checkpoint barrier (SnapshotState): the open
//     part file is flushed and renamed to .part-<i>-<n>.pending, still
//     invisible. A part file that rolls over is renamed to pending at once
//     and belongs to the next barrier. The state saved is one element per
//     pending file not yet published, with the checkpoint that
//     pre-committed it, and one with the next part number n.
//   - Sync, off the task goroutine before the subtask acknowledges the
//     checkpoint (SyncSnapshot, stream.SnapshotSyncer): the pending files
//     are synced and closed, then the directory. The task goes on
//     processing records meanwhile instead of waiting for the disk at the
//     barrier; the checkpoint cannot complete before its files are
//     durable, and a failed sync declines it and fails the writer.
//   - Commit, when a checkpoint completes (NotifyCheckpointComplete): the
//     pending files of that and earlier checkpoints are renamed to their
//     visible names. Repeating it is harmless. The next checkpoint's sync
//     makes the new names durable before it can complete; until then the
//     state of the completed checkpoint still lists the files, so a
//     restore from it publishes them again.
//   - Restore (RestoreState, when the job resumes from a checkpoint or
//     savepoint): the pending files in the state are published (their
//     checkpoint completed, since the job resumes from it; one published
//     already is fine, one missing entirely is an error). Then the subtask
//     deletes its .inprogress files and its .pending files numbered at or
//     past the saved next part number: they belong to checkpoints that never
//     completed. It numbers its next part files after every part file of
//     its index still in the directory, so it never overwrites a published
//     file, even when it resumes from an older savepoint.
//   - Close without Finish (failure, cancellation) removes the open part
//     file and the rolled ones no barrier has pre-committed, and keeps the
//     pre-committed ones for a restore to publish or delete.
//   - Finish publishes nothing (it syncs the directory, for the final
//     commit's renames): the runtime takes a final checkpoint at the
//     end of input and commits it before Finish. Records no checkpoint
//     covers, or pending files whose checkpoint has not completed, make
//     Finish fail, so "exactly-once" needs a job that checkpoints.
//
// A file is therefore never visible before its checkpoint completed, and
// the pending files of a completed checkpoint are published by the writer
// that pre-committed them or by the restore. With EXACTLY_ONCE
// checkpointing the visible output holds each record once; with
// AT_LEAST_ONCE checkpointing, at least once.
//
// Rescaling: part names carry the subtask index that wrote them and state
// elements name their files, so a restored subtask publishes whatever
// pending files it is handed, whichever index wrote them. Leftovers are
// matched by index: a subtask deletes only files named with its own index,
// and pending ones only when the state it is handed has its own index's
// next part number (so it never deletes a pending file that another
// subtask is to publish). After a scale-down, the leftovers of the indices
// that no longer exist stay as hidden garbage.
//
// A rerun of a job from scratch overwrites part files of the same names
// but does not delete others. A directory holds the output of one job at a
// time: two jobs writing to it would delete each other's hidden files.
package file
