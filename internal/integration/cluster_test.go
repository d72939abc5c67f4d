package integration

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	weirv1 "github.com/weirstream/weir/api/proto/weir/v1"
	"github.com/weirstream/weir/internal/checkpoint/objstore/miniotest"
)

// bin is the directory holding the binaries built by TestMain.
var bin string

func TestMain(m *testing.M) {
	os.Exit(buildAndRun(m))
}

func buildAndRun(m *testing.M) int {
	dir, err := os.MkdirTemp("", "weir-integration-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	root, err := moduleRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	cmd := exec.Command("go", "build", "-o", dir+"/", "./cmd/...", "./examples/custombinary")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building the binaries: %v\n%s", err, out)
		return 1
	}
	bin = dir
	return m.Run()
}

func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", err
	}
	return filepath.Dir(strings.TrimSpace(string(out))), nil
}

// proc is a running Weir process whose stderr is kept for the test log.
type proc struct {
	name string
	id   string // a taskmanager's id
	cmd  *exec.Cmd
	log  *syncBuffer
	done chan struct{}
	err  error
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// start runs binary with args. ready, if set, must match a line of its
// stderr before start returns; its first submatch is returned.
func start(t *testing.T, name, binary string, ready *regexp.Regexp, args ...string) (*proc, string) {
	return startEnv(t, nil, name, binary, ready, args...)
}

// startEnv is start with extra environment variables.
func startEnv(t *testing.T, env []string, name, binary string, ready *regexp.Regexp, args ...string) (*proc, string) {
	t.Helper()
	p := &proc{name: name, cmd: exec.Command(filepath.Join(bin, binary), args...), log: &syncBuffer{}, done: make(chan struct{})}
	p.cmd.Env = append(os.Environ(), env...)
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	p.cmd.Stdout = p.log
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	found := make(chan string, 1)
	go func(ready *regexp.Regexp) {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			p.log.Write([]byte(line + "\n"))
			if ready != nil {
				if m := ready.FindStringSubmatch(line); m != nil {
					found <- m[len(m)-1]
					ready = nil
				}
			}
		}
		_, _ = io.Copy(io.Discard, stderr)
		p.err = p.cmd.Wait()
		close(p.done)
	}(ready)
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("--- %s log ---\n%s", name, p.log.String())
		}
	})
	if ready == nil {
		return p, ""
	}
	select {
	case m := <-found:
		return p, m
	case <-p.done:
		t.Fatalf("%s exited before it was ready: %v\n%s", name, p.err, p.log.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("%s not ready after 30s\n%s", name, p.log.String())
	}
	return p, ""
}

// stop ends the process with SIGTERM and waits.
func (p *proc) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// kill ends the process with SIGKILL and waits.
func (p *proc) kill() {
	_ = p.cmd.Process.Kill()
	<-p.done
}

var (
	jmReady = regexp.MustCompile(`jobmanager started.* rpc=(\S+)`)
	tmReady = regexp.MustCompile(`registered with the jobmanager.*taskmanager=(\S+)`)
)

// cluster is a jobmanager and its taskmanagers, each a process.
type cluster struct {
	t      *testing.T
	addr   string
	jm     *proc
	tms    []*proc
	env    []string // for every process
	tmArgs []string // for every taskmanager
	// For a cluster with TLS and tokens: the options of the test's own
	// connections, and the environment of the CLI.
	dial   []grpc.DialOption
	cliEnv []string
}

// startCluster starts a jobmanager and n taskmanagers with slots each.
// jmArgs are extra jobmanager flags (e.g. -D settings).
func startCluster(t *testing.T, n, slots int, jmArgs ...string) *cluster {
	return startClusterWith(t, &cluster{}, n, slots, jmArgs...)
}

// startClusterWith starts a cluster whose processes get c's environment and
// taskmanager arguments.
func startClusterWith(t *testing.T, c *cluster, n, slots int, jmArgs ...string) *cluster {
	t.Helper()
	// Jobs keep their checkpoints and savepoints in temporary directories
	// of the test or its subtests, or in the MinIO bucket.
	storage := "security.storage.allowed-prefixes=file://" + os.TempDir() + ",s3://" + miniotest.Bucket
	args := append([]string{"--rpc-address", "127.0.0.1:0", "--http-address", "127.0.0.1:0", "-D", storage}, jmArgs...)
	jm, addr := startEnv(t, c.env, "jobmanager", "jobmanager", jmReady, args...)
	c.t, c.addr, c.jm = t, addr, jm
	for range n {
		c.addTaskManager(slots)
	}
	c.awaitSlots(n * slots)
	return c
}

// addTaskManager starts one more taskmanager process.
func (c *cluster) addTaskManager(slots int, extra ...string) *proc {
	c.t.Helper()
	args := append([]string{"--jobmanager", c.addr, "--slots", fmt.Sprint(slots), "--rpc-address", "127.0.0.1:0",
		"--data-dir", c.t.TempDir()}, append(c.tmArgs, extra...)...)
	p, id := startEnv(c.t, c.env, fmt.Sprintf("taskmanager-%d", len(c.tms)), "taskmanager", tmReady, args...)
	p.id = id
	c.tms = append(c.tms, p)
	return p
}

// restartTaskManager starts a stopped taskmanager again with the same
// arguments, data dir and id: the same taskmanager coming back.
func (c *cluster) restartTaskManager(old *proc) *proc {
	c.t.Helper()
	args := append(slices.Clone(old.cmd.Args[1:]), "--id", old.id)
	p, id := startEnv(c.t, c.env, fmt.Sprintf("taskmanager-%d", len(c.tms)), "taskmanager", tmReady, args...)
	p.id = id
	c.tms = append(c.tms, p)
	return p
}

func (c *cluster) client() weirv1.JobManagerServiceClient {
	c.t.Helper()
	opts := c.dial
	if opts == nil {
		opts = []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
	}
	conn, err := grpc.NewClient(c.addr, opts...)
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { conn.Close() })
	return weirv1.NewJobManagerServiceClient(conn)
}

// awaitSlots waits until the jobmanager has n slots registered.
func (c *cluster) awaitSlots(n int) {
	c.t.Helper()
	client := c.client()
	eventually(c.t, 30*time.Second, func() (bool, string) {
		o, err := client.GetClusterOverview(context.Background(), &weirv1.GetClusterOverviewRequest{})
		if err != nil {
			return false, err.Error()
		}
		return int(o.GetSlotsTotal()) >= n, fmt.Sprintf("%d slots registered, want %d", o.GetSlotsTotal(), n)
	})
}

// weir runs the CLI against the cluster and returns its stdout, stderr and error.
func (c *cluster) weir(args ...string) (string, string, error) {
	cmd := exec.Command(filepath.Join(bin, "weir"), append([]string{"-m", c.addr}, args...)...)
	cmd.Env = append(os.Environ(), c.cliEnv...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return stdout.String(), stderr.String(), err
}

// job returns a job's current description.
func (c *cluster) job(id string) *weirv1.GetJobResponse {
	c.t.Helper()
	resp, err := c.client().GetJob(context.Background(), &weirv1.GetJobRequest{JobId: id})
	if err != nil {
		c.t.Fatal(err)
	}
	return resp
}

// eventually polls cond until it holds or timeout passes. Polling observes
// another process's state; it never stands in for synchronisation inside
// one process.
func eventually(t *testing.T, timeout time.Duration, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, why := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %s: %s", timeout, why)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
