// Package bench holds end-to-end throughput benchmarks of the runtime, each
// measured against a "ceiling": a hand-written single-goroutine loop that
// does the same work as the job with no runtime at all. The ratio runtime ÷
// ceiling is the framework's overhead; docs/benchmarks.md records the
// figures, the command that produced them and what the CPU profile says
// limits them.
//
// The package has no non-test code. Run the benchmarks with
//
//	go test -run '^$' -bench WordCount -benchtime=3x -count=3 ./internal/bench/
//
// Without -bench, `go test ./internal/bench/` runs only a small test that
// checks the ceiling and the job on a local cluster produce the same output,
// so the two measure the same computation.
//
// # WordCount
//
// The input is one file of generator.Line lines (seed 1, a 10,000-word
// vocabulary), written once per test binary run and shared by every
// benchmark. The ceiling reads it with bufio, tokenises each line with
// wordcount.Tokenize, counts in a map[string]int64 and writes
// wordcount.Format's `word,count` line for every word to a buffered file
// that it syncs at the end, as the file sink does. It calls the job's own
// user functions, so the ratio measures the runtime, not the user code.
//
// The runtime benchmarks run the registered "wordcount" program (file
// source, tokenizer, keyBy word, sum, format, file sink) on a minicluster —
// a jobmanager and taskmanagers in this process talking gRPC on loopback —
// and time one job from SubmitJob to FINISHED as seen by polling GetJob.
// The cluster starts, and its slots register, before the timer runs; every
// job's output is checked outside the timer, so a broken run cannot report
// a number.
package bench
