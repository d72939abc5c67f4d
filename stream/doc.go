// Package stream is Weir's public Go API: it builds job graphs from typed
// code and defines the functions, sources, sinks, codecs and keyed state that
// user code implements.
//
// # Jobs are graphs of registered functions
//
// Go cannot send a closure to another process, so a job graph names each
// operator's function by a registered name and carries its parameters (the
// function value's exported fields, encoded as JSON). The jobmanager and
// every taskmanager look the name up in the registry of their own binary.
// Register functions in an init function:
//
//	type Tokenizer struct{}
//
//	func (Tokenizer) FlatMap(line string, out stream.Collector[string]) error { ... }
//
//	func init() { stream.RegisterFlatMap[string, string]("example.tokenize", Tokenizer{}) }
//
// and build the job with the typed API:
//
//	env := stream.NewEnv()
//	lines := stream.FromSource[string](env, file.Source{Path: in}, "lines")
//	words := stream.FlatMap[string](lines, Tokenizer{})
//	...
//
// # State
//
// Keyed functions declare state in Open (NewValueState, NewListState,
// NewMapState, NewReducingState, NewAggregatingState); every access is
// scoped to the key of the record being processed. State lives in the
// subtask's state backend (working state: heap or local Pebble) and is
// stored per key group.
package stream
