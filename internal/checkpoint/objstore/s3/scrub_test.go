package s3

import (
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7"

	"github.com/weirstream/weir/internal/checkpoint/objstore/internal/contract"
)

// TestConvertScrubsSecrets: whatever text an error brings, the store's
// credentials are masked in it, and its classification survives.
func TestConvertScrubsSecrets(t *testing.T) {
	s := &Store{secrets: []string{"SECRETVALUE", "ACCESSVALUE"}}
	transport := &url.Error{Op: "Put", URL: "http://host/?X-Amz-Credential=ACCESSVALUE", Err: errors.New("echo SECRETVALUE")}
	err := s.convert(transport)
	if strings.Contains(err.Error(), "SECRETVALUE") || strings.Contains(err.Error(), "ACCESSVALUE") {
		t.Fatalf("transport error leaks: %v", err)
	}
	var ue *url.Error
	if !errors.As(err, &ue) {
		t.Fatalf("scrubbed error lost its chain: %T", err)
	}

	err = s.convert(minio.ErrorResponse{StatusCode: 403, Code: "AccessDenied", Message: "key ACCESSVALUE denied"})
	var se *contract.StatusError
	if !errors.As(err, &se) || se.StatusCode != 403 || strings.Contains(err.Error(), "ACCESSVALUE") {
		t.Fatalf("service error = %v", err)
	}
	if err := s.convert(minio.ErrorResponse{StatusCode: 404, Code: "NoSuchKey"}); !errors.Is(err, contract.ErrNotExist) {
		t.Fatalf("NoSuchKey = %v", err)
	}
	if err := s.convert(minio.ErrorResponse{StatusCode: 412, Code: "PreconditionFailed"}); !errors.Is(err, contract.ErrExist) {
		t.Fatalf("PreconditionFailed = %v", err)
	}
	if err := s.convert(minio.ErrorResponse{StatusCode: 404, Code: "NoSuchBucket"}); errors.Is(err, contract.ErrNotExist) {
		t.Fatalf("NoSuchBucket = %v: a missing bucket is not a missing object", err)
	}
}
