package integration

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	weirv1 "github.com/weirstream/weir/api/proto/weir/v1"
)

// Larger than memory: WordCount on a taskmanager process whose Pebble
// budget (state.backend.pebble.memory) is a tenth of the keyed state,
// over input in which every one of n distinct words appears twice. The
// job completes with exact results, and the taskmanager's resident set,
// sampled throughout, stays within its resident set before the job plus
// the budget plus a stated overhead (network buffers, the file source and
// sink, Pebble's iterators and index blocks, Go's garbage).
//
// WEIRTEST_LARGE_STATE_WORDS sets n (default 700,000: about 23 MiB of
// state, 11 times the 2 MiB budget), WEIRTEST_LARGE_STATE_BACKEND the
// backend (default pebble; heap shows what the budget saves, and fails
// the bound).
func TestLargerThanMemoryRSS(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for about a minute")
	}
	const (
		budget   = 2 << 20
		overhead = 48 << 20
	)
	n := 700_000
	if s := os.Getenv("WEIRTEST_LARGE_STATE_WORDS"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil {
			t.Fatalf("WEIRTEST_LARGE_STATE_WORDS: %v", err)
		}
	}
	backend := "pebble"
	if s := os.Getenv("WEIRTEST_LARGE_STATE_BACKEND"); s != "" {
		backend = s
	}
	dir := t.TempDir()
	input := filepath.Join(dir, "words.txt")
	word := func(i int) string { return fmt.Sprintf("w%015d", i) }
	f, err := os.Create(input)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(f)
	for pass := range 2 {
		for i := range n {
			// The second pass visits the words in another order, so that
			// the reads go to all of the state, not just what was written
			// last.
			j := i
			if pass == 1 {
				j = (i * 7919) % n
			}
			w.WriteString(word(j))
			if i%8 == 7 {
				w.WriteByte('\n')
			} else {
				w.WriteByte(' ')
			}
		}
		w.WriteByte('\n')
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	// Keyed state: per word, the key (the word) and the value (the word
	// and its count), not counting Pebble's key prefix.
	stateBytes := int64(n) * int64(16+16+2)

	c := startCluster(t, 1, 1)
	tm := c.tms[0]
	pid := tm.cmd.Process.Pid
	idle := rss(t, pid)

	var (
		mu   sync.Mutex
		peak int64
	)
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			if v, err := procField(pid, "VmRSS:"); err == nil {
				mu.Lock()
				peak = max(peak, v)
				mu.Unlock()
			}
		}
	}()

	out := filepath.Join(dir, "out")
	start := time.Now()
	stdout, stderr, err := c.weir("run", "-d", "-p", "1",
		"-D", "state.backend="+backend, "-D", fmt.Sprintf("state.backend.pebble.memory=%d", budget),
		"wordcount", "--input", input, "--output", out)
	if err != nil {
		t.Fatalf("weir run: %v\n%s", err, stderr)
	}
	id := jobID(t, stdout)
	eventually(t, 10*time.Minute, func() (bool, string) {
		j := c.job(id).GetJob()
		if s := j.GetStatus(); s == weirv1.JobStatus_JOB_STATUS_FAILED || s == weirv1.JobStatus_JOB_STATUS_CANCELED {
			t.Fatalf("job ended %v: %s", s, j.GetStatusMessage())
		}
		return j.GetStatus() == weirv1.JobStatus_JOB_STATUS_FINISHED, j.GetStatus().String()
	})
	elapsed := time.Since(start)
	close(stop)
	<-sampled
	hwm := statusField(t, pid, "VmHWM:")

	// Exact results: for every word, the lines w,1 and w,2 and no other.
	seen := make([]uint8, n)
	lines := 0
	for _, l := range readOutput(t, out) {
		lines++
		wd, cnt, ok := strings.Cut(l, ",")
		i, err := strconv.Atoi(strings.TrimPrefix(wd, "w"))
		if !ok || err != nil || i < 0 || i >= n || (cnt != "1" && cnt != "2") {
			t.Fatalf("unexpected output line %q", l)
		}
		bit := uint8(1) << (cnt[0] - '1')
		if seen[i]&bit != 0 {
			t.Fatalf("output line %q twice", l)
		}
		seen[i] |= bit
	}
	if lines != 2*n {
		t.Fatalf("%d output lines, want %d", lines, 2*n)
	}

	mu.Lock()
	defer mu.Unlock()
	t.Logf("%s backend, budget %d MiB: %d words, keyed state >= %d MiB (%.1fx the budget); %s; "+
		"taskmanager RSS idle %d MiB, peak sampled %d MiB, VmHWM %d MiB; peak - idle = %d MiB",
		backend, budget>>20, n, stateBytes>>20, float64(stateBytes)/budget, elapsed.Round(100*time.Millisecond),
		idle>>20, peak>>20, hwm>>20, (max(peak, hwm)-idle)>>20)
	if stateBytes < 10*budget {
		t.Fatalf("the state (%d bytes) is not ten times the budget (%d bytes)", stateBytes, budget)
	}
	if limit := idle + budget + overhead; max(peak, hwm) > limit {
		t.Fatalf("taskmanager RSS peaked at %d MiB, over idle %d MiB + budget %d MiB + overhead %d MiB",
			max(peak, hwm)>>20, idle>>20, budget>>20, overhead>>20)
	}
}

// statusField returns a size field (VmRSS:, VmHWM:) of /proc/pid/status in bytes.
func statusField(t *testing.T, pid int, field string) int64 {
	t.Helper()
	v, err := procField(pid, field)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func procField(pid int, field string) (int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(l, field); ok {
			var kb int64
			if _, err := fmt.Sscanf(strings.TrimSpace(v), "%d", &kb); err != nil {
				return 0, fmt.Errorf("%s of pid %d: %w", field, pid, err)
			}
			return kb << 10, nil
		}
	}
	return 0, fmt.Errorf("no %s for pid %d", field, pid)
}
