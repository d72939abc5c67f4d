package stream

import "errors"

// ErrUnrecoverable marks a failure that restarting the job cannot fix,
// such as a source record that cannot be decoded under the policy "fail":
// a restart would read the same record and fail again. A task that fails
// with an error wrapping ErrUnrecoverable fails the job at once, whatever
// its restart strategy (Flink's SuppressRestartsException).
var ErrUnrecoverable = errors.New("not recoverable by a restart")

// Unrecoverable wraps err so that errors.Is(err, ErrUnrecoverable) holds.
// Its message is err's.
func Unrecoverable(err error) error {
	if err == nil {
		return nil
	}
	return unrecoverable{err}
}

type unrecoverable struct{ err error }

func (u unrecoverable) Error() string   { return u.err.Error() }
func (u unrecoverable) Unwrap() []error { return []error{u.err, ErrUnrecoverable} }
