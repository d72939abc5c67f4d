// Package invariant reports programming errors: states the code believes
// impossible. Built with -tags invariants (as CI's race run is), a violation
// panics so tests catch it at the source; in production it is returned as an
// error that fails the task, never silently ignored.
package invariant

import "fmt"

// Failf reports a violated invariant. It panics when built with
// -tags invariants, and otherwise returns an error describing the violation.
func Failf(format string, args ...any) error {
	err := fmt.Errorf("invariant violated: "+format, args...)
	if Enabled {
		panic(err)
	}
	return err
}
