package main

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/weirstream/weir/internal/checkpoint/objstore/miniotest"
)

func TestParseSettings(t *testing.T) {
	env := map[string]string{
		"WEIR_S3_ENDPOINT":           "http://minio:9000",
		"WEIR_S3_ACCESS_KEY":         "ak",
		"WEIR_S3_SECRET_KEY":         "sk",
		"WEIR_S3_PATH_STYLE_ACCESS":  "true",
		"WEIR_STATE_CHECKPOINTS_DIR": "s3://weir/checkpoints",
	}
	getenv := func(k string) string { return env[k] }
	s, err := parseSettings(nil, getenv)
	if err != nil {
		t.Fatal(err)
	}
	want := settings{host: "minio:9000", accessKey: "ak", secretKey: "sk", pathStyle: true, bucket: "weir", timeout: time.Minute}
	if s != want {
		t.Errorf("got %+v, want %+v", s, want)
	}
	s, err = parseSettings([]string{"-bucket", "other", "-path-style=false", "-endpoint", "https://s3.example:443"}, getenv)
	if err != nil {
		t.Fatal(err)
	}
	if s.bucket != "other" || s.pathStyle || !s.secure || s.host != "s3.example:443" {
		t.Errorf("flags: got %+v", s)
	}

	for _, tc := range []struct {
		env map[string]string
		err string
	}{
		{map[string]string{}, "no endpoint"},
		{map[string]string{"WEIR_S3_ENDPOINT": "minio:9000"}, "must be http"},
		{map[string]string{"WEIR_S3_ENDPOINT": "http://m:9000"}, "no credentials"},
		{map[string]string{"WEIR_S3_ENDPOINT": "http://m:9000", "WEIR_S3_ACCESS_KEY": "a", "WEIR_S3_SECRET_KEY": "s",
			"WEIR_STATE_CHECKPOINTS_DIR": "file:///tmp/x"}, "no bucket"},
	} {
		_, err := parseSettings(nil, func(k string) string { return tc.env[k] })
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%v: error %v, want one containing %q", tc.env, err, tc.err)
		}
	}
}

// TestRunAgainstMinIO creates a bucket in a real MinIO, then runs again to
// find it there, and gives up on a store that never answers.
func TestRunAgainstMinIO(t *testing.T) {
	if testing.Short() {
		t.Skip("starts MinIO")
	}
	endpoint, accessKey, secretKey := miniotest.Start(t)
	t.Setenv("WEIR_S3_ACCESS_KEY", accessKey)
	t.Setenv("WEIR_S3_SECRET_KEY", secretKey)
	t.Setenv("WEIR_S3_PATH_STYLE_ACCESS", "true")
	t.Setenv("WEIR_STATE_CHECKPOINTS_DIR", "s3://s3init-test/checkpoints")
	for i := range 2 { // creates, then finds it
		if err := run([]string{"-endpoint", endpoint, "-timeout", "20s"}); err != nil {
			t.Fatalf("run %d: %v", i+1, err)
		}
	}
	client, err := minio.New(strings.TrimPrefix(endpoint, "http://"), &minio.Options{
		Creds: credentials.NewStaticV4(accessKey, secretKey, ""), BucketLookup: minio.BucketLookupPath,
	})
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := client.BucketExists(t.Context(), "s3init-test"); !ok || err != nil {
		t.Errorf("bucket s3init-test exists: %v, %v", ok, err)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String()
	ln.Close()
	err = run([]string{"-endpoint", dead, "-timeout", "1s"})
	if err == nil || !strings.Contains(err.Error(), "not ready after 1s") {
		t.Errorf("unreachable store: error %v, want one saying it was not ready", err)
	}
}
