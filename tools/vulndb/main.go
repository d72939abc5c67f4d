package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"
)

// module is the module the database comes from.
const module = "golang.org/x/vulndb"

// stampFile names the module version a database directory was built from.
const stampFile = "weir-vulndb.json"

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "vulndb:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fl := flag.NewFlagSet("vulndb", flag.ContinueOnError)
	version := fl.String("version", "", "version of "+module+" to download and index")
	src := fl.String("src", "", "index this directory of OSV entries instead of downloading the module")
	modified := fl.String("modified", "", "the database's modification time with -src (RFC 3339)")
	out := fl.String("out", "", "the database directory to write")
	if err := fl.Parse(args); err != nil {
		return err
	}
	switch {
	case fl.NArg() != 0:
		return fmt.Errorf("unexpected arguments %q", fl.Args())
	case *out == "":
		return errors.New("missing -out DIR")
	case (*version == "") == (*src == ""):
		return errors.New("give exactly one of -version (download the module) and -src (a directory of OSV entries)")
	}
	s := stamp{Module: module, Version: *version}
	if *src != "" {
		if *modified == "" {
			return errors.New("-src needs -modified, the database's modification time")
		}
		t, err := time.Parse(time.RFC3339, *modified)
		if err != nil {
			return fmt.Errorf("-modified: %w", err)
		}
		s = stamp{Module: *src, Modified: t.UTC()}
	} else {
		if old, err := readStamp(*out); err == nil && old.Module == module && old.Version == *version {
			fmt.Printf("vulndb: %s@%s of %s, %d entries, in %s (cached)\n", module, old.Version, old.Modified.Format(time.DateOnly), old.Entries, *out)
			return nil
		}
		dir, t, err := download(*version)
		if err != nil {
			return err
		}
		*src, s.Modified = filepath.Join(dir, "data", "osv"), t
	}
	n, err := build(os.DirFS(*src), *out, s)
	if err != nil {
		return fmt.Errorf("indexing %s: %w", *src, err)
	}
	what := s.Module
	if s.Version != "" {
		what += "@" + s.Version
	}
	fmt.Printf("vulndb: %s of %s, %d entries, in %s\n", what, s.Modified.Format(time.DateOnly), n, *out)
	return nil
}

// stamp is what DIR/weir-vulndb.json records.
type stamp struct {
	Module   string    `json:"module"`
	Version  string    `json:"version,omitempty"`
	Modified time.Time `json:"modified"`
	Entries  int       `json:"entries"`
}

func readStamp(dir string) (stamp, error) {
	var s stamp
	b, err := os.ReadFile(filepath.Join(dir, stampFile))
	if err != nil {
		return s, err
	}
	return s, json.Unmarshal(b, &s)
}

// download fetches module@version into the module cache and returns its
// directory and the version's time.
func download(version string) (dir string, t time.Time, err error) {
	cmd := exec.Command("go", "mod", "download", "-json", module+"@"+version)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	b, err := cmd.Output()
	var res struct {
		Dir, Info, Error string
	}
	if jerr := json.Unmarshal(b, &res); jerr == nil && res.Error != "" {
		return "", t, fmt.Errorf("go mod download %s@%s: %s", module, version, res.Error)
	}
	if err != nil {
		return "", t, fmt.Errorf("go mod download %s@%s: %w: %s", module, version, err, strings.TrimSpace(stderr.String()))
	}
	if err := json.Unmarshal(b, &res); err != nil || res.Dir == "" || res.Info == "" {
		return "", t, fmt.Errorf("go mod download %s@%s: unexpected output %.200q", module, version, b)
	}
	ib, err := os.ReadFile(res.Info)
	if err != nil {
		return "", t, err
	}
	var info struct{ Time time.Time }
	if err := json.Unmarshal(ib, &info); err != nil || info.Time.IsZero() {
		return "", t, fmt.Errorf("%s: no version time in %.200q", res.Info, ib)
	}
	return res.Dir, info.Time.UTC(), nil
}

// entry is the part of an OSV entry the indexes need.
type entry struct {
	ID       string    `json:"id"`
	Modified time.Time `json:"modified"`
	Aliases  []string  `json:"aliases,omitempty"`
	Affected []struct {
		Package struct {
			Name string `json:"name"`
		} `json:"package"`
	} `json:"affected"`
}

type moduleVuln struct {
	ID       string    `json:"id"`
	Modified time.Time `json:"modified"`
}

type moduleMeta struct {
	Path  string       `json:"path"`
	Vulns []moduleVuln `json:"vulns"`
}

type vulnMeta struct {
	ID       string    `json:"id"`
	Modified time.Time `json:"modified"`
	Aliases  []string  `json:"aliases,omitempty"`
}

var idPattern = regexp.MustCompile(`^GO-[0-9]{4}-[0-9]{4,}$`)

// build writes the database of the OSV entries in src (*.json at its top;
// other files are skipped) into out, and returns the number of entries.
func build(src fs.FS, out string, s stamp) (int, error) {
	names, err := fs.Glob(src, "*.json")
	if err != nil {
		return 0, err
	}
	if len(names) == 0 {
		return 0, errors.New("no OSV entries (*.json)")
	}
	parent := filepath.Dir(filepath.Clean(out))
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return 0, err
	}
	tmp, err := os.MkdirTemp(parent, filepath.Base(out)+".new-*")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(tmp)
	if err := os.Mkdir(filepath.Join(tmp, "ID"), 0o755); err != nil {
		return 0, err
	}
	if err := os.Mkdir(filepath.Join(tmp, "index"), 0o755); err != nil {
		return 0, err
	}
	modules := map[string]*moduleMeta{}
	var vulns []vulnMeta
	for _, name := range names {
		b, err := fs.ReadFile(src, name)
		if err != nil {
			return 0, err
		}
		var e entry
		if err := json.Unmarshal(b, &e); err != nil {
			return 0, fmt.Errorf("%s: not an OSV entry: %w", name, err)
		}
		switch {
		case !idPattern.MatchString(e.ID):
			return 0, fmt.Errorf("%s: id %q is not of the form GO-YYYY-NNNN", name, e.ID)
		case name != e.ID+".json":
			return 0, fmt.Errorf("%s: holds entry %s; an entry's file is ID.json", name, e.ID)
		case len(e.Affected) == 0:
			return 0, fmt.Errorf("%s: affects no module", name)
		}
		seen := map[string]bool{}
		for _, a := range e.Affected {
			p := a.Package.Name
			if p == "" {
				return 0, fmt.Errorf("%s: an affected package has no name (module path)", name)
			}
			if seen[p] {
				continue
			}
			seen[p] = true
			m := modules[p]
			if m == nil {
				m = &moduleMeta{Path: p}
				modules[p] = m
			}
			m.Vulns = append(m.Vulns, moduleVuln{ID: e.ID, Modified: e.Modified})
		}
		vulns = append(vulns, vulnMeta{ID: e.ID, Modified: e.Modified, Aliases: e.Aliases})
		if err := os.WriteFile(filepath.Join(tmp, "ID", name), b, 0o644); err != nil {
			return 0, err
		}
	}
	mods := make([]*moduleMeta, 0, len(modules))
	for _, m := range modules {
		sort.Slice(m.Vulns, func(i, j int) bool { return m.Vulns[i].ID < m.Vulns[j].ID })
		mods = append(mods, m)
	}
	sort.Slice(mods, func(i, j int) bool { return mods[i].Path < mods[j].Path })
	sort.Slice(vulns, func(i, j int) bool { return vulns[i].ID < vulns[j].ID })
	s.Entries = len(vulns)
	for name, v := range map[string]any{
		"index/db.json": struct {
			Modified time.Time `json:"modified"`
		}{s.Modified},
		"index/modules.json": mods,
		"index/vulns.json":   vulns,
		stampFile:            s,
	} {
		b, err := json.Marshal(v)
		if err != nil {
			return 0, err
		}
		if err := os.WriteFile(filepath.Join(tmp, name), b, 0o644); err != nil {
			return 0, err
		}
	}
	// Swap the new directory in: the old one moves aside first, since a
	// rename does not replace a non-empty directory.
	old := ""
	if _, err := os.Stat(out); err == nil {
		old = tmp + ".old"
		if err := os.Rename(out, old); err != nil {
			return 0, err
		}
	}
	if err := os.Rename(tmp, out); err != nil {
		return 0, err
	}
	if old != "" {
		if err := os.RemoveAll(old); err != nil {
			return 0, err
		}
	}
	return s.Entries, nil
}
