// Package print is a sink printing each record as a line on the
// taskmanager's standard output or standard error, like Flink's print(),
// registered as "weir.print". It is for demos and debugging.
//
// With parallelism > 1 each line starts with the subtask's number counted
// from 1, as Flink prints it ("2> hello"); with a Prefix, "prefix:2> hello",
// or "prefix> hello" with parallelism 1.
//
// Output is buffered: a subtask's lines are written when 64 KiB have
// collected, at the end of input (Finish) and on Close. A slow unbounded
// stream therefore shows up in chunks, not line by line. Every write holds
// whole lines and a lock shared by the subtasks of the process, so lines of
// different subtasks never interleave within a line.
package print
