// Package contract holds the parts of the objstore contract that the store
// implementations need: sentinel errors, key rules, the remote status error
// and S3 options. It exists only to break the import cycle between package
// objstore (whose Open constructs every implementation) and the
// implementations (which must return objstore's errors); package objstore
// re-exports everything here, and only objstore's names should be used
// outside the objstore tree.
package contract

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"unicode/utf8"
)

var (
	ErrNotExist   = errors.New("objstore: object does not exist")
	ErrExist      = errors.New("objstore: object already exists")
	ErrInvalidKey = errors.New("objstore: invalid key")
)

// Limits on keys. They are the strictest of the backends: S3 allows 1024
// bytes per key, local filesystems 255 bytes per path element.
const (
	MaxKeyLen     = 1024
	MaxSegmentLen = 255
)

// ValidateKey reports whether key may name an object. See objstore.ValidateKey.
func ValidateKey(key string) error {
	if reason := keyProblem(key); reason != "" {
		return &KeyError{Key: key, Reason: reason}
	}
	return nil
}

// ValidatePrefix reports whether prefix may be passed to List or
// DeletePrefix. See objstore.ValidatePrefix.
func ValidatePrefix(prefix string) error {
	if prefix == "" {
		return nil
	}
	if reason := keyProblem(strings.TrimSuffix(prefix, "/")); reason != "" {
		return &KeyError{Key: prefix, Reason: reason, Prefix: true}
	}
	return nil
}

func keyProblem(key string) string {
	switch {
	case key == "":
		return "empty"
	case len(key) > MaxKeyLen:
		return fmt.Sprintf("longer than %d bytes", MaxKeyLen)
	case !utf8.ValidString(key):
		return "not valid UTF-8"
	case strings.HasPrefix(key, "/"):
		return "starts with /"
	case strings.HasSuffix(key, "/"):
		return "ends with /"
	}
	for _, seg := range strings.Split(key, "/") {
		switch {
		case seg == "":
			return "has an empty segment (//)"
		case seg == "." || seg == "..":
			return fmt.Sprintf("has a %q segment", seg)
		case seg[0] == '.':
			return fmt.Sprintf("segment %q starts with '.' (reserved for store internals)", seg)
		case len(seg) > MaxSegmentLen:
			return fmt.Sprintf("has a segment longer than %d bytes", MaxSegmentLen)
		}
		for _, r := range seg {
			if r < 0x20 || r == 0x7f || r == '\\' {
				return fmt.Sprintf("contains %q", r)
			}
		}
	}
	return ""
}

// KeyError is returned for a key or prefix that breaks the key rules. It
// matches ErrInvalidKey.
type KeyError struct {
	Key    string
	Reason string
	Prefix bool // Key is a List or DeletePrefix prefix
}

func (e *KeyError) Error() string {
	what := "key"
	if e.Prefix {
		what = "prefix"
	}
	return fmt.Sprintf("objstore: invalid %s %q: %s", what, e.Key, e.Reason)
}

func (e *KeyError) Is(target error) bool { return target == ErrInvalidKey }

// StatusError is a failure answered by a remote store over HTTP. Its message
// never contains credentials.
type StatusError struct {
	StatusCode int    // HTTP status, e.g. 503
	Code       string // the service's error code, e.g. "SlowDown"
	Message    string // the service's message
}

func (e *StatusError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d %s", e.StatusCode, http.StatusText(e.StatusCode))
	if e.Code != "" {
		fmt.Fprintf(&b, " (%s)", e.Code)
	}
	if e.Message != "" {
		fmt.Fprintf(&b, ": %s", e.Message)
	}
	return b.String()
}

// Retryable reports whether the same request may succeed if sent again:
// server errors, throttling and request timeouts.
func (e *StatusError) Retryable() bool {
	switch e.Code {
	case "SlowDown", "Throttling", "ThrottlingException", "RequestLimitExceeded",
		"RequestTimeout", "InternalError", "ServiceUnavailable",
		"ConditionalRequestConflict", "OperationAborted", "XMinioServerNotInitialized":
		return true
	}
	switch {
	case e.StatusCode == http.StatusNotImplemented:
		return false
	case e.StatusCode >= 500:
		return true
	case e.StatusCode == http.StatusTooManyRequests, e.StatusCode == http.StatusRequestTimeout:
		return true
	}
	return false
}
