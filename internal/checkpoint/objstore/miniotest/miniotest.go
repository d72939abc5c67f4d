// Package miniotest runs a real MinIO server for tests, built from the Go
// module proxy by scripts/minio.sh (no container registry).
//
//	func TestS3(t *testing.T) {
//		endpoint, accessKey, secretKey := miniotest.Start(t)
//		// bucket miniotest.Bucket exists; use a prefix of your own in it
//	}
//
// One server serves every test of a test binary. Without help it stops when
// the last test using it ends, and the next Start starts a new one; a
// package whose tests call Start more than once should keep one server for
// the whole binary with
//
//	func TestMain(m *testing.M) { miniotest.Main(m) }
//
// The first Start on a machine builds MinIO into .cache/bin/minio, which
// takes minutes; later ones find it. When it cannot be built (no network,
// no Go toolchain), Start skips the test, or fails it if WEIRTEST_REQUIRE_MINIO=1
// is set, as CI does.
package miniotest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// Bucket is the bucket Start creates. Tests share it; each should keep to a
// prefix of its own.
const Bucket = "weir-test"

// RequireEnv names the environment variable that turns "MinIO cannot be
// built" from a skip into a failure. It is not WEIR_-prefixed: the
// processes under test reject unknown WEIR_ variables as misspelt
// configuration keys.
const RequireEnv = "WEIRTEST_REQUIRE_MINIO"

const (
	buildTimeout = 15 * time.Minute
	readyTimeout = time.Minute
	stopTimeout  = 10 * time.Second
	pollInterval = 50 * time.Millisecond
)

var build struct {
	once sync.Once
	path string
	err  error
}

// shared is the binary's one server and its users.
var shared struct {
	sync.Mutex
	srv    *server
	refs   int  // Start calls whose tests have not ended
	pinned bool // Main is running: keep the server until it returns
}

// Start returns the endpoint ("http://127.0.0.1:PORT") and root credentials
// of a running MinIO server whose bucket Bucket exists, starting the server
// if none is running. The server stops after the test (and its subtests)
// if no other test uses it and Main is not keeping it.
func Start(tb testing.TB) (endpoint, accessKey, secretKey string) {
	tb.Helper()
	bin, err := binary()
	if err != nil {
		if os.Getenv(RequireEnv) == "1" {
			tb.Fatalf("miniotest: MinIO is required (%s=1) but could not be built: %v", RequireEnv, err)
		}
		tb.Skipf("miniotest: skipping: MinIO could not be built (%v); set %s=1 to make this a failure", err, RequireEnv)
	}

	shared.Lock()
	defer shared.Unlock()
	if shared.srv == nil || shared.srv.hasExited() {
		srv, err := startServer(bin)
		if err != nil {
			tb.Fatalf("miniotest: %v", err)
		}
		shared.srv = srv
	}
	srv := shared.srv
	shared.refs++
	tb.Cleanup(func() {
		shared.Lock()
		defer shared.Unlock()
		shared.refs--
		if shared.refs == 0 && !shared.pinned && shared.srv == srv {
			shared.srv = nil
			if err := srv.stop(); err != nil {
				tb.Errorf("miniotest: %v", err)
			}
		}
	})
	return srv.endpoint, srv.accessKey, srv.secretKey
}

// Main runs the tests of m with one MinIO server for all of them (started
// by the first Start, if any) and stops it when they are done. Call it from
// TestMain; the test binary exits with m.Run's code when TestMain returns.
func Main(m *testing.M) {
	shared.Lock()
	shared.pinned = true
	shared.Unlock()

	code := m.Run()

	shared.Lock()
	srv := shared.srv
	shared.srv, shared.pinned = nil, false
	shared.Unlock()
	if srv != nil {
		if err := srv.stop(); err != nil {
			fmt.Fprintf(os.Stderr, "miniotest: %v\n", err)
			if code == 0 {
				os.Exit(1)
			}
		}
	}
}

// binary finds or builds the MinIO binary, once per test binary.
func binary() (string, error) {
	build.once.Do(func() { build.path, build.err = findOrBuild() })
	return build.path, build.err
}

func findOrBuild() (string, error) {
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	script := filepath.Join(root, "scripts", "minio.sh")
	if _, err := os.Stat(script); err != nil {
		return "", err
	}

	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", script)
	var stdout bytes.Buffer
	stderr := &tail{max: 8 << 10}
	cmd.Stdout = &stdout
	cmd.Stderr = io.MultiWriter(os.Stderr, stderr) // the build takes minutes: show its progress
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%s: %w\n%s", script, err, stderr)
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	bin := lines[len(lines)-1]
	if fi, err := os.Stat(bin); err != nil || fi.Mode()&0o111 == 0 {
		return "", fmt.Errorf("%s printed %q, which is not an executable", script, bin)
	}
	return bin, nil
}

// moduleRoot returns the directory of the module's go.mod: go env GOMOD
// says, or, without a go command (the script needs one only to build),
// the nearest go.mod above the working directory.
func moduleRoot() (string, error) {
	if out, err := exec.Command("go", "env", "GOMOD").Output(); err == nil {
		gomod := strings.TrimSpace(string(out))
		if gomod == "" || gomod == os.DevNull {
			return "", errors.New("not inside a Go module (go env GOMOD is empty)")
		}
		return filepath.Dir(gomod), nil
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go command, and no go.mod above the working directory")
		}
		dir = parent
	}
}

type server struct {
	endpoint, accessKey, secretKey string
	dir                            string // data, certs and nothing else
	cmd                            *exec.Cmd
	log                            *tail
	exited                         chan struct{} // closed when cmd.Wait returns
}

func (s *server) hasExited() bool {
	select {
	case <-s.exited:
		return true
	default:
		return false
	}
}

// startServer starts MinIO on free loopback ports and creates Bucket. A port
// can be taken between choosing and binding it, so it tries a few times.
func startServer(bin string) (*server, error) {
	var err error
	for range 3 {
		var srv *server
		srv, err = tryStart(bin)
		if err == nil {
			return srv, nil
		}
		if !errors.Is(err, errPortTaken) {
			return nil, err
		}
	}
	return nil, err
}

var errPortTaken = errors.New("port taken")

func tryStart(bin string) (*server, error) {
	ports, err := freePorts(2)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "weir-minio-")
	if err != nil {
		return nil, err
	}
	srv := &server{
		endpoint:  "http://127.0.0.1:" + strconv.Itoa(ports[0]),
		accessKey: "weir-" + randomHex(6),
		secretKey: randomHex(16),
		dir:       dir,
		log:       &tail{max: 32 << 10},
		exited:    make(chan struct{}),
	}
	srv.cmd = exec.Command(bin, "server", filepath.Join(dir, "data"),
		"--address", "127.0.0.1:"+strconv.Itoa(ports[0]),
		"--console-address", "127.0.0.1:"+strconv.Itoa(ports[1]),
		"--certs-dir", filepath.Join(dir, "certs"),
	)
	srv.cmd.Env = append(environWithout("MINIO_", "AWS_"),
		"MINIO_ROOT_USER="+srv.accessKey,
		"MINIO_ROOT_PASSWORD="+srv.secretKey,
		"MINIO_UPDATE=off",
		"MINIO_CI_CD=on",
	)
	srv.cmd.Stdout, srv.cmd.Stderr = srv.log, srv.log
	srv.cmd.SysProcAttr = dieWithParent()
	started := make(chan error, 1)
	go func() {
		// Where MinIO is told to die with the test binary (Linux's
		// Pdeathsig), the signal comes when the OS thread that started it
		// ends, so that thread is kept, locked, until MinIO has exited.
		runtime.LockOSThread()
		if err := srv.cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		_ = srv.cmd.Wait()
		close(srv.exited)
	}()
	if err := <-started; err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("starting %s: %w", bin, err)
	}
	if err := srv.awaitReady(); err != nil {
		_ = srv.stop()
		if strings.Contains(srv.log.String(), "address already in use") {
			return nil, errPortTaken
		}
		return nil, fmt.Errorf("MinIO did not come up: %w\n--- MinIO output ---\n%s", err, srv.log)
	}
	return srv, nil
}

// awaitReady polls the liveness endpoint, then creates Bucket (which fails
// while the object layer is still initializing), until both succeed, MinIO
// exits, or readyTimeout passes.
func (s *server) awaitReady() error {
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	transport := &http.Transport{}
	defer transport.CloseIdleConnections()
	client, err := minio.New(strings.TrimPrefix(s.endpoint, "http://"), &minio.Options{
		Creds:     credentials.NewStaticV4(s.accessKey, s.secretKey, ""),
		Region:    "us-east-1",
		Transport: transport,
	})
	if err != nil {
		return err
	}
	httpClient := &http.Client{Timeout: 2 * time.Second, Transport: transport}
	live := false
	ticker := time.NewTicker(pollInterval)
	defer ticker.Stop()
	var last error
	for {
		if !live {
			resp, err := httpClient.Get(s.endpoint + "/minio/health/live")
			if err == nil {
				resp.Body.Close()
				live = resp.StatusCode == http.StatusOK
				err = fmt.Errorf("health/live: %s", resp.Status)
			}
			last = err
		}
		if live {
			err := client.MakeBucket(ctx, Bucket, minio.MakeBucketOptions{})
			if err == nil || minio.ToErrorResponse(err).Code == "BucketAlreadyOwnedByYou" {
				return nil
			}
			last = fmt.Errorf("creating bucket %s: %w", Bucket, err)
		}
		select {
		case <-s.exited:
			return fmt.Errorf("MinIO exited: %v", s.cmd.ProcessState)
		case <-ctx.Done():
			return fmt.Errorf("not ready after %v: %w", readyTimeout, last)
		case <-ticker.C:
		}
	}
}

// stop terminates MinIO (SIGTERM, then SIGKILL after stopTimeout), waits
// for it, and removes its data.
func (s *server) stop() error {
	defer os.RemoveAll(s.dir)
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
		return nil
	case <-time.After(stopTimeout):
	}
	_ = s.cmd.Process.Kill()
	<-s.exited
	return fmt.Errorf("MinIO ignored SIGTERM for %v and was killed", stopTimeout)
}

func freePorts(n int) ([]int, error) {
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer l.Close() // held until all are chosen, so they differ
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func environWithout(prefixes ...string) []string {
	var env []string
outer:
	for _, kv := range os.Environ() {
		for _, p := range prefixes {
			if strings.HasPrefix(kv, p) {
				continue outer
			}
		}
		env = append(env, kv)
	}
	return env
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// tail is a concurrency-safe writer that keeps the last max bytes.
type tail struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > t.max {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-t.max:]...)
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}
