package objstore_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/weirstream/weir/internal/checkpoint/objstore"
)

func TestConfine(t *testing.T) {
	var prefixes []objstore.Location
	for _, p := range []string{"file:///var/weir/checkpoints/", "s3://bucket/weir", "/srv/savepoints", "memory://checkpoints"} {
		l, err := objstore.ParseLocation(p)
		if err != nil {
			t.Fatal(err)
		}
		prefixes = append(prefixes, l)
	}
	for _, uri := range []string{
		"file:///var/weir/checkpoints",
		"file:///var/weir/checkpoints/",
		"file:///var/weir/checkpoints/job-a",
		"/var/weir/checkpoints/job-a",
		"file://localhost/srv/savepoints/sp-1",
		"s3://bucket/weir",
		"s3a://bucket/weir/x/y",
		"s3p://bucket/weir/",
		"memory://checkpoints",
	} {
		if err := objstore.Confine(uri, prefixes); err != nil {
			t.Errorf("Confine(%q) = %v, want nil", uri, err)
		}
	}
	for _, c := range []struct {
		uri, want string
		outside   bool
	}{
		{"file:///var/weir/checkpoints/../../../etc", `has a ".." segment`, false},
		{"/var/weir/checkpoints/./x", `has a "." segment`, false},
		{"file:///var/weir/checkpoints/%2e%2e/etc", `has a ".." segment`, false},
		{"s3://bucket/weir/../other", `has a ".." segment`, false},
		{"file:///var/weir/checkpoints-other", "is not under", true},
		{"file:///var/weir", "is not under", true},
		{"/etc/passwd", "is not under", true},
		{"s3://other-bucket/weir", "is not under", true},
		{"s3://bucket/weirdo", "is not under", true},
		{"s3://bucket", "is not under", true},
		{"memory://other", "is not under", true},
		{"file://evil.example.com/var/weir/checkpoints", "names a host", false},
		{"http://bucket/weir", `unknown scheme "http"`, false},
		{"s3://key:secret@bucket/weir", "must not contain credentials", false},
		{"relative/dir", "is not an absolute path", false},
		{"file:///var/weir/checkpoints\\..\\x", `contains '\\'`, false},
		{"", "is empty", false},
	} {
		err := objstore.Confine(c.uri, prefixes)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Confine(%q) = %v, want an error containing %q", c.uri, err, c.want)
			continue
		}
		if errors.Is(err, objstore.ErrOutsidePrefixes) != c.outside {
			t.Errorf("Confine(%q) = %v: errors.Is ErrOutsidePrefixes = %v, want %v", c.uri, err, !c.outside, c.outside)
		}
		if strings.Contains(err.Error(), "secret") {
			t.Errorf("Confine(%q) = %v shows the credentials", c.uri, err)
		}
	}
	if err := objstore.Confine("file:///var/weir/checkpoints", nil); !errors.Is(err, objstore.ErrOutsidePrefixes) {
		t.Errorf("Confine with no prefixes = %v, want ErrOutsidePrefixes", err)
	}
}
