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
// the next n before it would exceed MaxPartBytes. At the end of input
// (Finish) every part file is synced and renamed to its visible name; a
// writer closed without Finish (a failed or cancelled job) removes its
// hidden files, so readers see either all of a subtask's output or none of
// it. A subtask with no records writes no file. Records must not contain
// "\n". A rerun of a job overwrites part files of the same names but does
// not delete others.
package file
