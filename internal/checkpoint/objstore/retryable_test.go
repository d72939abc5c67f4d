package objstore_test

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"syscall"
	"testing"

	"github.com/weirstream/weir/internal/checkpoint/objstore"
	"github.com/weirstream/weir/internal/checkpoint/objstore/objstoretest"
)

type timeoutError struct{}

func (timeoutError) Error() string   { return "i/o timeout" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }

func TestIsRetryable(t *testing.T) {
	wrap := func(err error) error { return fmt.Errorf("objstore/s3: put %q: %w", "k", err) }
	urlErr := func(err error) error { return &url.Error{Op: "Put", URL: "http://127.0.0.1:9000/b/k", Err: err} }
	status := func(code int, s string) error { return wrap(&objstore.StatusError{StatusCode: code, Code: s}) }
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{nil, false},
		{wrap(objstore.ErrNotExist), false},
		{wrap(objstore.ErrExist), false},
		{objstore.ValidateKey("../x"), false},
		{wrap(context.Canceled), false},
		{urlErr(context.Canceled), false},
		{wrap(context.DeadlineExceeded), true},
		{errors.New("something odd"), false},
		{objstoretest.ErrInjected, false},
		{objstoretest.ErrTransient, true},
		{wrap(&os.PathError{Op: "open", Path: "/x", Err: syscall.EACCES}), false},
		{wrap(&os.PathError{Op: "write", Path: "/x", Err: syscall.ENOSPC}), false},

		{status(500, "InternalError"), true},
		{status(502, ""), true},
		{status(503, "SlowDown"), true},
		{status(503, "ServiceUnavailable"), true},
		{status(504, ""), true},
		{status(501, "NotImplemented"), false},
		{status(429, ""), true},
		{status(408, ""), true},
		{status(400, "RequestTimeout"), true},
		{status(409, "ConditionalRequestConflict"), true},
		{status(400, "InvalidArgument"), false},
		{status(403, "AccessDenied"), false},
		{status(403, "SignatureDoesNotMatch"), false},
		{status(403, "InvalidAccessKeyId"), false},
		{status(404, "NoSuchBucket"), false},

		{wrap(urlErr(&net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED})), true},
		{wrap(urlErr(&net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET})), true},
		{wrap(urlErr(io.ErrUnexpectedEOF)), true},
		{wrap(urlErr(timeoutError{})), true},
		{wrap(&net.DNSError{Err: "server misbehaving", Name: "s3", IsTemporary: true}), true},
		{wrap(urlErr(x509.UnknownAuthorityError{})), false},
		{wrap(syscall.EPIPE), true},
	} {
		if got := objstore.IsRetryable(tc.err); got != tc.want {
			t.Errorf("IsRetryable(%v) = %t, want %t", tc.err, got, tc.want)
		}
	}
}
