package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strings"
	"time"
)

func main() {
	ok, err := run(os.Args[1:], os.Stdin, os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "vulnreport:", err)
		os.Exit(2)
	}
	if !ok {
		os.Exit(1)
	}
}

// The parts of govulncheck's JSON messages (protocol v1.0.0) read here.
type message struct {
	Config *struct {
		ProtocolVersion string     `json:"protocol_version"`
		ScannerName     string     `json:"scanner_name"`
		ScannerVersion  string     `json:"scanner_version"`
		DB              string     `json:"db"`
		DBLastModified  *time.Time `json:"db_last_modified"`
		GoVersion       string     `json:"go_version"`
	} `json:"config"`
	OSV *struct {
		ID      string `json:"id"`
		Summary string `json:"summary"`
	} `json:"osv"`
	Finding *finding `json:"finding"`
}

type finding struct {
	OSV          string  `json:"osv"`
	FixedVersion string  `json:"fixed_version"`
	Trace        []frame `json:"trace"`
}

type frame struct {
	Module   string `json:"module"`
	Version  string `json:"version"`
	Package  string `json:"package"`
	Function string `json:"function"`
	Receiver string `json:"receiver"`
	Position *struct {
		Filename string `json:"filename"`
		Line     int    `json:"line"`
	} `json:"position"`
}

func (f frame) String() string {
	s := f.Package
	if f.Receiver != "" {
		s += "." + strings.TrimPrefix(f.Receiver, "*")
	}
	if f.Function != "" {
		s += "." + f.Function
	}
	if f.Position != nil && f.Position.Filename != "" {
		s += fmt.Sprintf(" (%s:%d)", f.Position.Filename, f.Position.Line)
	}
	return s
}

// called reports whether a finding is at symbol level: Weir's code
// reaches the vulnerable function.
func (f *finding) called() bool { return len(f.Trace) > 0 && f.Trace[0].Function != "" }

func run(args []string, in io.Reader, out io.Writer) (ok bool, err error) {
	fl := flag.NewFlagSet("vulnreport", flag.ContinueOnError)
	acceptFile := fl.String("accept", "", "file of accepted vulnerability IDs, one a line with the reason")
	if err := fl.Parse(args); err != nil {
		return false, err
	}
	if fl.NArg() != 0 {
		return false, fmt.Errorf("unexpected arguments %q (govulncheck's JSON is read from standard input)", fl.Args())
	}
	accepted := map[string]string{}
	if *acceptFile != "" {
		if accepted, err = readAccept(*acceptFile); err != nil {
			return false, err
		}
	}

	summaries := map[string]string{}
	called := map[string]*finding{} // by ID: the first symbol-level finding
	imported := map[string]bool{}   // every ID found at any level
	configured := false
	dec := json.NewDecoder(in)
	for {
		var m message
		if err := dec.Decode(&m); err == io.EOF {
			break
		} else if err != nil {
			return false, fmt.Errorf("reading govulncheck's JSON output: %w", err)
		}
		switch {
		case m.Config != nil:
			c := m.Config
			if !strings.HasPrefix(c.ProtocolVersion, "v1.") {
				return false, fmt.Errorf("govulncheck protocol %q; this reads v1", c.ProtocolVersion)
			}
			configured = true
			db := c.DB
			if c.DBLastModified != nil {
				db += " (modified " + c.DBLastModified.UTC().Format(time.DateOnly) + ")"
			}
			fmt.Fprintf(out, "vulnreport: %s %s, database %s, %s\n", c.ScannerName, c.ScannerVersion, db, c.GoVersion)
		case m.OSV != nil:
			summaries[m.OSV.ID] = m.OSV.Summary
		case m.Finding != nil:
			f := m.Finding
			imported[f.OSV] = true
			if f.called() && called[f.OSV] == nil {
				called[f.OSV] = f
			}
		}
	}
	if !configured {
		return false, errors.New("no govulncheck configuration message in the input: did govulncheck run with -format json?")
	}

	ids := make([]string, 0, len(called))
	for id := range called {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	var failed []string
	for _, id := range ids {
		f := called[id]
		vuln := f.Trace[0]
		fixed := f.FixedVersion
		if fixed == "" {
			fixed = "no fixed version"
		} else {
			fixed = "fixed in " + fixed
		}
		verdict := "NOT ACCEPTED"
		if reason, ok := accepted[id]; ok {
			verdict = "accepted: " + reason
		} else {
			failed = append(failed, id)
		}
		fmt.Fprintf(out, "%s  %s@%s, %s: %s\n", id, vuln.Package, goVersion(vuln.Module, vuln.Version), goVersion(vuln.Module, fixed), summaries[id])
		fmt.Fprintf(out, "    called: %s <- %s\n", vuln, f.Trace[len(f.Trace)-1])
		fmt.Fprintf(out, "    %s\n", verdict)
	}
	var stale []string
	for id := range accepted {
		if called[id] == nil {
			stale = append(stale, id)
		}
	}
	sort.Strings(stale)
	for _, id := range stale {
		fmt.Fprintf(out, "note: %s is accepted in %s but no longer found: remove its line\n", id, *acceptFile)
	}
	fmt.Fprintf(out, "vulnreport: %d vulnerabilities called (%d accepted, %d not); %d more in required modules or imported packages, not called\n",
		len(called), len(called)-len(failed), len(failed), len(imported)-len(called))
	if len(failed) > 0 {
		fmt.Fprintf(out, "vulnreport: FAIL: %s: upgrade the module to a fixed version the proxy serves (go get MODULE@VERSION), or, if none is served, accept it in %s with the reason\n",
			strings.Join(failed, ", "), acceptOr(*acceptFile))
		return false, nil
	}
	return true, nil
}

// goVersion writes the versions of the standard library as Go does
// (go1.26.8), not as govulncheck's semver (v1.26.8).
func goVersion(module, s string) string {
	if module != "stdlib" && module != "toolchain" {
		return s
	}
	return strings.Replace(s, "v1.", "go1.", 1)
}

func acceptOr(f string) string {
	if f == "" {
		return "an accept file (-accept)"
	}
	return f
}

var idPattern = regexp.MustCompile(`^GO-[0-9]{4}-[0-9]{4,}$`)

// readAccept reads an accept file: "ID reason" lines, '#' comments.
func readAccept(name string) (map[string]string, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	accepted := map[string]string{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		id, reason, _ := strings.Cut(strings.TrimSpace(line), " ")
		reason = strings.TrimSpace(reason)
		switch {
		case id == "":
			continue
		case !idPattern.MatchString(id):
			return nil, fmt.Errorf("%s:%d: %q is not a vulnerability ID (GO-YYYY-NNNN)", name, n, id)
		case reason == "":
			return nil, fmt.Errorf("%s:%d: %s has no reason; say why it is accepted", name, n, id)
		case accepted[id] != "":
			return nil, fmt.Errorf("%s:%d: %s is listed twice", name, n, id)
		}
		accepted[id] = reason
	}
	return accepted, sc.Err()
}
