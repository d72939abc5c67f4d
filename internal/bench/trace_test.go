package bench

import (
	"errors"
	"os"
	"runtime/trace"
	"testing"
	"time"
)

// Where an execution trace of a job goes (WEIRBENCH_TRACE): a window of
// traceLength, traceDelay into the job, long enough for several
// checkpoints and short enough to stay a few megabytes.
const (
	traceDelay  = 60 * time.Second
	traceLength = 10 * time.Second
)

// traceWindow writes an execution trace of the job now starting to the
// file WEIRBENCH_TRACE names, if it is set (each job overwrites it), for
// `go tool trace` (-pprof=sched: where goroutines waited for a
// processor). The returned stop ends it early and reports a failure, or a
// job that ended before the window began.
func traceWindow(b *testing.B) (stop func()) {
	path := os.Getenv("WEIRBENCH_TRACE")
	if path == "" {
		return func() {}
	}
	done, result := make(chan struct{}), make(chan error, 1)
	go func() { result <- traceFor(path, done) }()
	return func() {
		close(done)
		switch err := <-result; {
		case errors.Is(err, errTraceTooLate):
			b.Logf("WEIRBENCH_TRACE=%s: no trace: %v (%v in)", path, err, traceDelay)
		case err != nil:
			b.Errorf("WEIRBENCH_TRACE=%s: %v", path, err)
		}
	}
}

var errTraceTooLate = errors.New("the job ended before the trace window began")

func traceFor(path string, done <-chan struct{}) error {
	select {
	case <-done:
		return errTraceTooLate
	case <-time.After(traceDelay):
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := trace.Start(f); err != nil {
		return errors.Join(err, f.Close())
	}
	select {
	case <-done:
	case <-time.After(traceLength):
	}
	trace.Stop()
	return f.Close()
}
