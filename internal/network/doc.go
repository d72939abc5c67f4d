// Package network moves records between tasks: in-process between tasks of
// one taskmanager, over gRPC streams (DataExchangeService) between
// taskmanagers.
//
// # Buffers
//
// Records travel in buffers of up to BufferSize bytes, never one message per
// record. A buffer is a sequence of elements, each a kind byte followed by
// a uvarint length and that many bytes of payload:
//
//	element = kind:1 byte | len:uvarint | payload:len bytes
//
// Kinds are records (payload: the record encoded by its codec, preceded by
// its 8-byte event timestamp for KindTimedRecord, and by its key group, a
// uvarint, on a key-group partitioned edge: KindKeyedRecord,
// KindKeyedTimedRecord) and in-band events (end of partition, checkpoint
// barriers, watermarks, idleness), so events keep their order relative to
// records on every channel.
//
// # Channels and backpressure
//
// A producer subtask has one channel to every consumer subtask it feeds; a
// consumer's InputGate holds a bounded queue per channel. A full queue
// blocks the producer: in-process directly, over the network through gRPC
// flow control once the consumer stops reading its stream. Memory per
// channel is bounded by the queue capacity plus the HTTP/2 stream window, so
// a slow consumer slows its producers instead of growing a queue.
package network
