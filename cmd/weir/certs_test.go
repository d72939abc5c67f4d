package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/weirstream/weir/internal/security"
)

func TestCertsWritesAndRefusesToOverwrite(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "certs")
	c, out, _ := testCLI(nil)
	if err := run(t.Context(), []string{"certs", "--out", dir, "--host", "weir.example", "--host", "10.1.2.3"}, c); err != nil {
		t.Fatal(err)
	}
	for _, f := range security.DevFiles {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
	if !strings.Contains(out.String(), "weir.example, 10.1.2.3") {
		t.Errorf("output does not name the hosts:\n%s", out)
	}
	if fi, err := os.Stat(filepath.Join(dir, "jobmanager-key.pem")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("key mode %v, %v; want 0600", fi.Mode().Perm(), err)
	}
	c, _, _ = testCLI(nil)
	err := run(t.Context(), []string{"certs", "--out", dir}, c)
	if err == nil || !strings.Contains(err.Error(), "ca.pem already exists") {
		t.Fatalf("second run: %v, want a refusal naming ca.pem", err)
	}
	c, _, _ = testCLI(nil)
	if err := run(t.Context(), []string{"certs", "--out", dir, "--force"}, c); err != nil {
		t.Fatalf("--force: %v", err)
	}
}

func TestTokenNeedsTLS(t *testing.T) {
	c, _, _ := testCLI(map[string]string{"WEIR_TOKEN": "0123456789abcdef0123"})
	err := run(t.Context(), []string{"-m", "127.0.0.1:1", "list"}, c)
	if err == nil || !strings.Contains(err.Error(), "only sent over TLS") {
		t.Fatalf("a token without TLS: %v", err)
	}
}
