package miniotest_test

import (
	"net/http"
	"testing"

	"github.com/weirstream/weir/internal/checkpoint/objstore/miniotest"
)

// TestServerIsSharedThenStopped: concurrent users share one server; it
// stops when the last of them ends (this package has no TestMain keeping
// it).
func TestServerIsSharedThenStopped(t *testing.T) {
	var endpoint string
	t.Run("users", func(t *testing.T) {
		var key1, key2 string
		endpoint, key1, _ = miniotest.Start(t)
		t.Run("nested", func(t *testing.T) {
			var endpoint2 string
			endpoint2, key2, _ = miniotest.Start(t)
			if endpoint2 != endpoint || key2 != key1 {
				t.Fatalf("second Start got %s, first %s: want one shared server", endpoint2, endpoint)
			}
		})
		resp, err := http.Get(endpoint + "/minio/health/live")
		if err != nil {
			t.Fatalf("server stopped while a user remained: %v", err)
		}
		resp.Body.Close()
	})
	if t.Failed() || endpoint == "" {
		return
	}
	if resp, err := http.Get(endpoint + "/minio/health/live"); err == nil {
		resp.Body.Close()
		t.Fatalf("server still answers after its last user ended: %s", resp.Status)
	}
}
