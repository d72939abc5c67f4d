package objstore

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/url"
	"syscall"
)

// IsRetryable reports whether err is transient: the same call may succeed
// if made again. True for network failures (refused or reset connections,
// truncated responses, timeouts), 5xx answers and throttling. False for nil,
// ErrNotExist, ErrExist, ErrInvalidKey, context cancellation, TLS
// certificate failures, and refused requests (4xx such as 403 AccessDenied)
// that would be refused again.
//
// An error can decide for itself by implementing Retryable() bool somewhere
// in its chain, as StatusError does.
//
// A done context's DeadlineExceeded counts as a timeout, hence retryable;
// Retrying stops anyway once its own ctx is done.
func IsRetryable(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, ErrNotExist) || errors.Is(err, ErrExist) || errors.Is(err, ErrInvalidKey) ||
		errors.Is(err, context.Canceled) {
		return false
	}
	var r interface{ Retryable() bool }
	if errors.As(err, &r) {
		return r.Retryable()
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var (
		certErr   *tls.CertificateVerificationError
		unknownCA x509.UnknownAuthorityError
		hostErr   x509.HostnameError
	)
	if errors.As(err, &certErr) || errors.As(err, &unknownCA) || errors.As(err, &hostErr) {
		return false
	}
	for _, transient := range []error{
		io.ErrUnexpectedEOF, syscall.ECONNREFUSED, syscall.ECONNRESET, syscall.ECONNABORTED,
		syscall.EPIPE, syscall.ETIMEDOUT, syscall.EHOSTUNREACH, syscall.ENETUNREACH,
	} {
		if errors.Is(err, transient) {
			return true
		}
	}
	var timeout interface{ Timeout() bool }
	if errors.As(err, &timeout) && timeout.Timeout() {
		return true
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return !dnsErr.IsNotFound
	}
	// The request failed in transport, for a reason not classified above.
	var opErr *net.OpError
	var urlErr *url.Error
	return errors.As(err, &opErr) || errors.As(err, &urlErr)
}
