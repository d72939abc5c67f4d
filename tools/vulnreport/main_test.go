package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// findings is govulncheck -format json output, trimmed: GO-2026-0001 is
// called in the standard library, GO-2026-0002 in a module, and
// GO-2026-0003 is only in a required module's code that is not called.
const findings = `{"config":{"protocol_version":"v1.0.0","scanner_name":"govulncheck","scanner_version":"v1.9.0","db":"file:///x/vulndb","db_last_modified":"2026-11-05T23:49:57Z","go_version":"go1.26.8","scan_level":"symbol","scan_mode":"source"}}
{"progress":{"message":"Scanning your code..."}}
{"osv":{"id":"GO-2026-0001","summary":"Bad thing in net/http"}}
{"osv":{"id":"GO-2026-0002","summary":"Bad thing in a module"}}
{"osv":{"id":"GO-2026-0003","summary":"Never called"}}
{"finding":{"osv":"GO-2026-0001","fixed_version":"v1.26.9","trace":[{"module":"stdlib","version":"v1.26.8"}]}}
{"finding":{"osv":"GO-2026-0001","fixed_version":"v1.26.9","trace":[{"module":"stdlib","version":"v1.26.8","package":"net/http","function":"Serve","receiver":"*Server"},{"module":"github.com/weirstream/weir","package":"github.com/weirstream/weir/internal/jobmanager","function":"Serve","position":{"filename":"internal/jobmanager/serve.go","line":36}}]}}
{"finding":{"osv":"GO-2026-0002","fixed_version":"v1.2.0","trace":[{"module":"example.com/m","version":"v1.1.0","package":"example.com/m/p","function":"F"},{"module":"github.com/weirstream/weir","package":"github.com/weirstream/weir/cmd/weir","function":"main"}]}}
{"finding":{"osv":"GO-2026-0003","trace":[{"module":"example.com/n","version":"v0.1.0"}]}}
`

func accept(t *testing.T, text string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "accept")
	if err := os.WriteFile(f, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

func TestRun(t *testing.T) {
	for _, tc := range []struct {
		name   string
		accept string
		ok     bool
		want   []string
	}{
		{"nothing accepted", "", false, []string{
			"govulncheck v1.9.0, database file:///x/vulndb (modified 2026-11-05), go1.26.8",
			"GO-2026-0001  net/http@go1.26.8, fixed in go1.26.9: Bad thing in net/http",
			"called: net/http.Server.Serve <- github.com/weirstream/weir/internal/jobmanager.Serve (internal/jobmanager/serve.go:36)",
			"GO-2026-0002  example.com/m/p@v1.1.0, fixed in v1.2.0",
			"2 vulnerabilities called (0 accepted, 2 not); 1 more",
			"FAIL: GO-2026-0001, GO-2026-0002",
		}},
		{"the module's still fails", "# stdlib\nGO-2026-0001  fixed only in a newer Go\n", false, []string{
			"accepted: fixed only in a newer Go",
			"(1 accepted, 1 not)",
			"FAIL: GO-2026-0002:",
		}},
		{"all accepted, one stale", "GO-2026-0001 newer Go\nGO-2026-0002 no fix served\nGO-2025-0009 old # gone\n", true, []string{
			"(2 accepted, 0 not)",
			"note: GO-2025-0009 is accepted",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var args []string
			if tc.accept != "" {
				args = []string{"-accept", accept(t, tc.accept)}
			}
			var out bytes.Buffer
			ok, err := run(args, strings.NewReader(findings), &out)
			if err != nil {
				t.Fatal(err)
			}
			if ok != tc.ok {
				t.Errorf("ok %v, want %v", ok, tc.ok)
			}
			for _, w := range tc.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, out.String())
				}
			}
			if strings.Contains(out.String(), "GO-2026-0003  ") {
				t.Errorf("a vulnerability that is not called is listed as called:\n%s", out.String())
			}
		})
	}
}

func TestRunRefuses(t *testing.T) {
	for _, tc := range []struct {
		name, accept, input, err string
	}{
		{"not JSON", "", "vulnerabilities: none", "reading govulncheck's JSON output"},
		{"no config", "", `{"progress":{"message":"x"}}`, "no govulncheck configuration message"},
		{"other protocol", "", `{"config":{"protocol_version":"v2.0.0"}}`, `protocol "v2.0.0"`},
		{"bad ID", "CVE-2026-1 reason\n", findings, `:1: "CVE-2026-1" is not a vulnerability ID`},
		{"no reason", "\nGO-2026-0001\n", findings, ":2: GO-2026-0001 has no reason"},
		{"twice", "GO-2026-0001 a\nGO-2026-0001 b\n", findings, ":2: GO-2026-0001 is listed twice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var args []string
			if tc.accept != "" {
				args = []string{"-accept", accept(t, tc.accept)}
			}
			_, err := run(args, strings.NewReader(tc.input), &bytes.Buffer{})
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("error %v, want one containing %q", err, tc.err)
			}
		})
	}
}
