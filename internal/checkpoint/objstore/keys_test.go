package objstore_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/weirstream/weir/internal/checkpoint/objstore"
)

func TestValidateKey(t *testing.T) {
	for _, key := range []string{
		"_metadata",
		"job-1/chk-7/_metadata",
		"job-1/chk-7/op-2/subtask-0.state",
		"a.b/c..d/e.",
		"spaces are fine/ä/🙂",
		strings.Repeat("x", 255),
		strings.Repeat("abc/", 255) + "abcd", // 1024 bytes
	} {
		if err := objstore.ValidateKey(key); err != nil {
			t.Errorf("ValidateKey(%q) = %v, want nil", key, err)
		}
	}
	for key, reason := range map[string]string{
		"":                         "empty",
		"/a":                       "starts with /",
		"a/":                       "ends with /",
		"a//b":                     "empty segment",
		"a/../b":                   `".."`,
		"./a":                      `"."`,
		"a/.tmp-1":                 "starts with '.'",
		"a\\b":                     `'\\'`,
		"a\x00":                    `'\x00'`,
		"\xff":                     "UTF-8",
		strings.Repeat("x", 256):   "longer than 255",
		strings.Repeat("ab/", 342): "longer than 1024",
	} {
		err := objstore.ValidateKey(key)
		var ke *objstore.KeyError
		if !errors.Is(err, objstore.ErrInvalidKey) || !errors.As(err, &ke) || ke.Key != key || !strings.Contains(err.Error(), reason) {
			t.Errorf("ValidateKey(%q) = %v, want a KeyError saying %q", key, err, reason)
		}
	}
}

func TestValidatePrefix(t *testing.T) {
	for _, p := range []string{"", "a", "a/", "job-1/chk-", "job-1/chk-1/"} {
		if err := objstore.ValidatePrefix(p); err != nil {
			t.Errorf("ValidatePrefix(%q) = %v, want nil", p, err)
		}
	}
	for _, p := range []string{"/", "//", "a//", "/a/", "../", "a/./", ".x"} {
		err := objstore.ValidatePrefix(p)
		if !errors.Is(err, objstore.ErrInvalidKey) || !strings.Contains(err.Error(), "invalid prefix") {
			t.Errorf("ValidatePrefix(%q) = %v, want an invalid prefix error", p, err)
		}
	}
}
