package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"
)

const entryA = `{"schema_version":"1.3.1","id":"GO-2024-0001","modified":"2024-01-02T00:00:00Z","aliases":["CVE-2024-1"],
"affected":[{"package":{"name":"example.com/a","ecosystem":"Go"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"1.2.0"}]}]},
{"package":{"name":"example.com/a","ecosystem":"Go"},"ranges":[{"type":"SEMVER","events":[{"introduced":"2.0.0"},{"fixed":"2.0.1"}]}]},
{"package":{"name":"stdlib","ecosystem":"Go"}}]}`

const entryB = `{"schema_version":"1.3.1","id":"GO-2023-0002","modified":"0001-01-01T00:00:00Z",
"affected":[{"package":{"name":"example.com/a","ecosystem":"Go"}}]}`

func TestBuild(t *testing.T) {
	out := filepath.Join(t.TempDir(), "db")
	src := fstest.MapFS{
		"GO-2024-0001.json": {Data: []byte(entryA)},
		"GO-2023-0002.json": {Data: []byte(entryB)},
		"README.md":         {Data: []byte("not an entry")},
	}
	modified := time.Date(2026, 11, 5, 23, 49, 57, 0, time.UTC)
	n, err := build(src, out, stamp{Module: "m", Version: "v1", Modified: modified})
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Errorf("indexed %d entries, want 2", n)
	}
	read := func(name string) string {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(out, name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	for name, want := range map[string]string{
		"index/db.json": `{"modified":"2026-11-05T23:49:57Z"}`,
		// By path, each module's vulnerabilities by ID, a module named
		// twice in one entry listed once.
		"index/modules.json": `[{"path":"example.com/a","vulns":[{"id":"GO-2023-0002","modified":"0001-01-01T00:00:00Z"},{"id":"GO-2024-0001","modified":"2024-01-02T00:00:00Z"}]},` +
			`{"path":"stdlib","vulns":[{"id":"GO-2024-0001","modified":"2024-01-02T00:00:00Z"}]}]`,
		"index/vulns.json":     `[{"id":"GO-2023-0002","modified":"0001-01-01T00:00:00Z"},{"id":"GO-2024-0001","modified":"2024-01-02T00:00:00Z","aliases":["CVE-2024-1"]}]`,
		"ID/GO-2024-0001.json": entryA, // as the source holds it
	} {
		if got := read(name); got != want {
			t.Errorf("%s:\n got %s\nwant %s", name, got, want)
		}
	}
	var s stamp
	if err := json.Unmarshal([]byte(read(stampFile)), &s); err != nil || s.Version != "v1" || s.Entries != 2 {
		t.Errorf("stamp %+v, %v", s, err)
	}

	// A rebuild replaces the directory whole: nothing of the old one stays.
	if _, err := build(fstest.MapFS{"GO-2023-0002.json": {Data: []byte(entryB)}}, out, stamp{Modified: modified}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(out, "ID", "GO-2024-0001.json")); !os.IsNotExist(err) {
		t.Errorf("an entry of the old database is still there after a rebuild (%v)", err)
	}
	if left, _ := filepath.Glob(out + ".new-*"); len(left) != 0 {
		t.Errorf("temporary directories left behind: %v", left)
	}
}

func TestBuildRefusesBadEntries(t *testing.T) {
	for _, tc := range []struct {
		name string
		src  fstest.MapFS
		err  string
	}{
		{"empty", fstest.MapFS{"x.txt": {}}, "no OSV entries"},
		{"not JSON", fstest.MapFS{"GO-2024-0001.json": {Data: []byte("{")}}, "GO-2024-0001.json: not an OSV entry"},
		{"wrong file", fstest.MapFS{"GO-2024-0009.json": {Data: []byte(entryA)}}, "holds entry GO-2024-0001"},
		{"bad ID", fstest.MapFS{"x.json": {Data: []byte(`{"id":"../x","affected":[{"package":{"name":"m"}}]}`)}}, `id "../x" is not of the form`},
		{"no module", fstest.MapFS{"GO-2024-0001.json": {Data: []byte(`{"id":"GO-2024-0001"}`)}}, "affects no module"},
		{"unnamed module", fstest.MapFS{"GO-2024-0001.json": {Data: []byte(`{"id":"GO-2024-0001","affected":[{"package":{}}]}`)}}, "no name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			out := filepath.Join(dir, "db")
			_, err := build(tc.src, out, stamp{})
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("error %v, want one containing %q", err, tc.err)
			}
			if left, _ := os.ReadDir(dir); len(left) != 0 {
				t.Errorf("a refused build left %v in %s", left, dir)
			}
		})
	}
}

func TestRunFlags(t *testing.T) {
	out := t.TempDir()
	for _, tc := range []struct {
		args []string
		err  string
	}{
		{nil, "missing -out"},
		{[]string{"-out", out}, "exactly one of -version"},
		{[]string{"-out", out, "-version", "v1", "-src", out}, "exactly one of -version"},
		{[]string{"-out", out, "-src", out}, "-src needs -modified"},
		{[]string{"-out", out, "-src", out, "-modified", "yesterday"}, "-modified"},
		{[]string{"-out", out, "extra"}, "unexpected arguments"},
	} {
		if err := run(tc.args); err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%q: error %v, want one containing %q", tc.args, err, tc.err)
		}
	}
}

// A database built from the pinned version is not downloaded again: the
// stamp says which version it holds.
func TestRunCached(t *testing.T) {
	out := t.TempDir()
	b, _ := json.Marshal(stamp{Module: module, Version: "v0.0.0-20990101000000-000000000000", Entries: 1})
	if err := os.WriteFile(filepath.Join(out, stampFile), b, 0o644); err != nil {
		t.Fatal(err)
	}
	// The version does not exist: any download would fail.
	if err := run([]string{"-out", out, "-version", "v0.0.0-20990101000000-000000000000"}); err != nil {
		t.Fatalf("a cached database was not taken as it is: %v", err)
	}
}
