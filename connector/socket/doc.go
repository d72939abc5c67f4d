// Package socket is a source reading text records from a TCP server, like
// Flink's socketTextStream, registered as "weir.socket". Try it with a
// server such as `nc -lk 9999`.
//
// The source is meant to run with parallelism 1: subtask 0 connects and
// reads, and any other subtask ends at once. It is unbounded: it ends when
// the server closes the connection, emitting a final record that lacks a
// delimiter. It is not replayable, so after a restore records sent while
// the job was down are lost.
//
// A goroutine owned by the reader dials and reads, handing batches of
// records to the task through a channel of capacity 1; when the task falls
// behind, the goroutine stops reading and TCP flow control pushes back on
// the server. Close stops the goroutine and waits for it.
package socket
