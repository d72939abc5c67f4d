package main

import (
	"bufio"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Results is what a run of the suite measured: the metrics of every
// benchmark, the figures the integration tests log, and the steps that
// failed.
type Results struct {
	// Bench holds, per benchmark name without its -GOMAXPROCS suffix, per
	// unit, the value of every run (-count) in order.
	Bench map[string]map[string][]float64
	// Logs holds, per test name, the figures its log lines carry.
	Logs map[string]map[string]float64
	// Failed holds, per step name, why the step failed.
	Failed map[string]string
	// Header holds the `key: value` lines the suite recorded about the run
	// (commit, machine, load) in order.
	Header [][2]string
}

// Mean is the mean of a benchmark's metric over its runs, and false if the
// benchmark or metric is absent.
func (r *Results) Mean(bench, unit string) (float64, bool) {
	vs := r.Bench[bench][unit]
	if len(vs) == 0 {
		return 0, false
	}
	var sum float64
	for _, v := range vs {
		sum += v
	}
	return sum / float64(len(vs)), true
}

// Max is the largest value of a benchmark's metric over its runs, and
// false if the benchmark or metric is absent.
func (r *Results) Max(bench, unit string) (float64, bool) {
	vs := r.Bench[bench][unit]
	if len(vs) == 0 {
		return 0, false
	}
	return slices.Max(vs), true
}

// Log is a figure logged by a test, and false if absent.
func (r *Results) Log(test, key string) (float64, bool) {
	v, ok := r.Logs[test][key]
	return v, ok
}

var (
	// A benchmark result line: name, iterations, then value-unit pairs.
	benchLine = regexp.MustCompile(`^(Benchmark\S+)\s+(\d+)\s+(.+)$`)
	procs     = regexp.MustCompile(`-\d+$`)
	// A test's verbose header names the test whose output follows.
	testHeader = regexp.MustCompile(`^=== (?:RUN|NAME|CONT|PAUSE)\s+(\S+)`)
	// internal/integration/recovery_test.go's kill tests.
	killLine = regexp.MustCompile(`kill -> running again (\S+), -> first checkpoint after restore (\S+)`)
	// internal/integration/largestate_test.go.
	rssLine = regexp.MustCompile(`budget (\d+) MiB: .*taskmanager RSS idle (\d+) MiB, peak sampled (\d+) MiB, VmHWM (\d+) MiB; peak - idle = (\d+) MiB`)
)

// Markers the suite writes around each step's output.
const (
	stepMarker   = "### step "   // ### step NAME: COMMAND
	failMarker   = "### failed " // ### failed NAME: REASON
	headerMarker = "### "        // ### key: value
)

// Parse reads the output of a suite run: go test output of benchmarks
// (standard result lines) and of verbose tests, between the suite's
// marker lines. Lines it does not know are skipped; a malformed
// benchmark line is an error, so that a change of format shows.
func Parse(in io.Reader) (*Results, error) {
	r := &Results{
		Bench:  map[string]map[string][]float64{},
		Logs:   map[string]map[string]float64{},
		Failed: map[string]string{},
	}
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	test := ""
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, stepMarker):
			test = ""
			continue
		case strings.HasPrefix(line, failMarker):
			name, why, _ := strings.Cut(strings.TrimPrefix(line, failMarker), ": ")
			r.Failed[name] = why
			continue
		case strings.HasPrefix(line, headerMarker):
			k, v, ok := strings.Cut(strings.TrimPrefix(line, headerMarker), ": ")
			if ok {
				r.Header = append(r.Header, [2]string{k, v})
			}
			continue
		}
		if m := testHeader.FindStringSubmatch(line); m != nil {
			test = m[1]
			continue
		}
		if m := benchLine.FindStringSubmatch(line); m != nil {
			if err := r.addBench(m[1], m[3]); err != nil {
				return nil, fmt.Errorf("line %d: %w", n, err)
			}
			continue
		}
		if m := killLine.FindStringSubmatch(line); m != nil {
			running, err1 := time.ParseDuration(m[1])
			first, err2 := time.ParseDuration(m[2])
			if err1 != nil || err2 != nil {
				return nil, fmt.Errorf("line %d: kill test durations %q, %q", n, m[1], m[2])
			}
			r.setLog(test, "kill-running-s", running.Seconds())
			r.setLog(test, "kill-first-checkpoint-s", first.Seconds())
			continue
		}
		if m := rssLine.FindStringSubmatch(line); m != nil {
			for i, k := range []string{"budget-MiB", "idle-MiB", "peak-MiB", "hwm-MiB", "growth-MiB"} {
				v, _ := strconv.ParseFloat(m[i+1], 64) // digits by the pattern
				r.setLog(test, k, v)
			}
		}
	}
	return r, sc.Err()
}

// addBench records the value-unit pairs of one benchmark result line.
func (r *Results) addBench(name, rest string) error {
	name = procs.ReplaceAllString(name, "")
	f := strings.Fields(rest)
	if len(f)%2 != 0 {
		return fmt.Errorf("benchmark %s: odd number of fields in %q", name, rest)
	}
	if r.Bench[name] == nil {
		r.Bench[name] = map[string][]float64{}
	}
	for i := 0; i < len(f); i += 2 {
		v, err := strconv.ParseFloat(f[i], 64)
		if err != nil {
			return fmt.Errorf("benchmark %s: value %q of %s: %w", name, f[i], f[i+1], err)
		}
		r.Bench[name][f[i+1]] = append(r.Bench[name][f[i+1]], v)
	}
	return nil
}

func (r *Results) setLog(test, key string, v float64) {
	if r.Logs[test] == nil {
		r.Logs[test] = map[string]float64{}
	}
	r.Logs[test][key] = v
}
