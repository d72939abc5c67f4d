package integration

import (
	"bufio"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// A taskmanager process sets the Go runtime's soft memory limit to 90% of
// taskmanager.memory.process.size, as the Go collector's gauge on its
// /metrics shows, and refuses to start when GOMEMLIMIT sets the limit too.
func TestTaskManagerMemoryLimit(t *testing.T) {
	c := startCluster(t, 0, 1)
	args := []string{"--jobmanager", c.addr, "--rpc-address", "127.0.0.1:0", "--data-dir", t.TempDir(),
		"--metrics-address", "127.0.0.1:0", "-D", "taskmanager.memory.process.size=512mb"}
	started := regexp.MustCompile(`taskmanager started.* metrics=(\S+).* memory-limit=460MiB memory-limit-source=taskmanager.memory.process.size`)
	_, metrics := start(t, "taskmanager", "taskmanager", started, args...)
	resp, err := http.Get("http://" + metrics + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var limit string
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "go_gc_gomemlimit_bytes "); ok {
			limit = v
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	got, err := strconv.ParseFloat(limit, 64)
	size := 512 << 20
	if want := float64(int64(float64(size) * 0.9)); err != nil || got != want {
		t.Errorf("go_gc_gomemlimit_bytes %q, want %.0f", limit, want)
	}

	both, _ := startEnv(t, []string{"GOMEMLIMIT=1GiB"}, "taskmanager-gomemlimit", "taskmanager", nil, args...)
	select {
	case <-both.done:
	case <-time.After(30 * time.Second):
		t.Fatal("a taskmanager with GOMEMLIMIT and taskmanager.memory.process.size set is still running")
	}
	if want := "taskmanager.memory.process.size and GOMEMLIMIT=1GiB are both set"; both.err == nil || !strings.Contains(both.log.String(), want) {
		t.Errorf("a taskmanager with GOMEMLIMIT and taskmanager.memory.process.size set exited with %v; want an error saying %q:\n%s",
			both.err, want, both.log.String())
	}
}
