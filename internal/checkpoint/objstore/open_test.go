package objstore_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/weirstream/weir/internal/checkpoint/objstore"
	"github.com/weirstream/weir/internal/checkpoint/objstore/file"
	"github.com/weirstream/weir/internal/checkpoint/objstore/memory"
)

func TestOpenMemory(t *testing.T) {
	ctx := t.Context()
	t.Cleanup(func() { memory.Drop("open-test") })
	s, err := objstore.Open(ctx, "memory://open-test", objstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	if got, err := memory.Named("open-test").Get(ctx, "k"); err != nil || string(got) != "v" {
		t.Fatalf("memory://open-test and memory.Named(\"open-test\") differ: %q, %v", got, err)
	}
}

func TestOpenFile(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	for _, uri := range []string{"file://" + dir + "/a", dir + "/a", "file://localhost" + dir + "/a"} {
		s, err := objstore.Open(ctx, uri, objstore.Options{})
		if err != nil {
			t.Fatalf("Open(%q): %v", uri, err)
		}
		fs, ok := s.(*file.Store)
		if !ok || fs.Dir() != filepath.Join(dir, "a") {
			t.Fatalf("Open(%q) = %T in %v", uri, s, fs.Dir())
		}
		_ = s.Close()
	}
}

func TestOpenRejects(t *testing.T) {
	for _, tc := range []struct{ uri, want string }{
		{"", "not an absolute path"},
		{"relative/dir", "not an absolute path"},
		{"memory://", "needs a name"},
		{"file://", "names no directory"},
		{"file://otherhost/dir", "host must be empty"},
		{"s3:///prefix", "names no bucket"},
		{"ftp://host/dir", `unknown scheme "ftp"`},
		{"hdfs://namenode/flink", `unknown scheme "hdfs"`},
	} {
		_, err := objstore.Open(t.Context(), tc.uri, objstore.Options{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Open(%q) = %v, want an error containing %q", tc.uri, err, tc.want)
		}
	}
}

func TestOpenNeverEchoesCredentials(t *testing.T) {
	_, err := objstore.Open(t.Context(), "s3://AKIAEXAMPLE:hunter2secret@bucket/prefix", objstore.Options{})
	if err == nil || strings.Contains(err.Error(), "hunter2secret") {
		t.Fatalf("Open with credentials in the URI = %v; want an error without them", err)
	}
}

func TestOpenS3NeedsCredentials(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	_, err := objstore.Open(t.Context(), "s3://bucket/prefix", objstore.Options{Endpoint: "http://127.0.0.1:1"})
	if err == nil || !strings.Contains(err.Error(), "AWS_ACCESS_KEY_ID") {
		t.Fatalf("Open without credentials = %v, want an error saying where they come from", err)
	}
}
