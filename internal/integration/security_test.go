package integration

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"

	weirv1 "github.com/weirstream/weir/api/proto/weir/v1"
	"github.com/weirstream/weir/internal/security"
)

// certs are development certificates and tokens written by
// security.WriteDevCerts.
type certs struct {
	dir           string
	admin, viewer string
}

func writeCerts(t *testing.T) certs {
	t.Helper()
	dir := t.TempDir()
	if err := security.WriteDevCerts(dir, security.DevCertsOptions{}); err != nil {
		t.Fatal(err)
	}
	return certs{dir: dir, admin: readToken(t, dir, "admin.token"), viewer: readToken(t, dir, "viewer.token")}
}

func readToken(t *testing.T, dir, name string) string {
	t.Helper()
	return strings.TrimSpace(readFile(t, filepath.Join(dir, name)))
}

func (k certs) path(name string) string { return filepath.Join(k.dir, name) }

// roleArgs are the -D settings of a process with role's certificate.
func (k certs) roleArgs(role string) []string {
	return []string{"-D", "security.ssl.cert=" + k.path(role+".pem"), "-D", "security.ssl.key=" + k.path(role+"-key.pem")}
}

// secure returns a cluster description with mutual TLS and tokens on for
// every process, the test's own connections (admin token) and the CLI
// (admin token from WEIR_TOKEN).
func (k certs) secure() *cluster {
	return &cluster{
		env: []string{"WEIR_SECURITY_SSL_ENABLED=true", "WEIR_SECURITY_SSL_CA=" + k.path("ca.pem"),
			"WEIR_SECURITY_SSL_CLIENT_AUTH=required", "WEIR_SECURITY_AUTH_TOKENS_FILE=" + k.path("tokens")},
		tmArgs: k.roleArgs("taskmanager"),
		dial:   k.dial(k.admin),
		cliEnv: []string{"WEIR_TLS_CA=" + k.path("ca.pem"), "WEIR_TOKEN=" + k.admin},
	}
}

// dial returns the options of a TLS connection that sends token (none if
// empty).
func (k certs) dial(token string) []grpc.DialOption {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM([]byte(readFileOrEmpty(k.path("ca.pem")))) {
		panic("no CA in " + k.path("ca.pem"))
	}
	opts := []grpc.DialOption{grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: pool}))}
	if token != "" {
		opts = append(opts, grpc.WithPerRPCCredentials(security.BearerToken(token)))
	}
	return opts
}

func readFileOrEmpty(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}

func jmClient(t *testing.T, addr string, opts ...grpc.DialOption) weirv1.JobManagerServiceClient {
	t.Helper()
	conn, err := grpc.NewClient(addr, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return weirv1.NewJobManagerServiceClient(conn)
}

func wantCode(t *testing.T, what string, err error, want codes.Code) {
	t.Helper()
	if got := status.Code(err); got != want {
		t.Fatalf("%s: got %v (%v), want %v", what, got, err, want)
	}
}

var jmHTTP = regexp.MustCompile(`jobmanager started.* http=(\S+)`)

// The acceptance tests of access control, against real processes over
// real gRPC: mutual TLS between the jobmanager and taskmanagers, bearer
// tokens for users.
func TestSecureClusterAccess(t *testing.T) {
	k := writeCerts(t)
	c := startClusterWith(t, k.secure(), 1, 1, k.roleArgs("jobmanager")...)
	ctx := context.Background()

	t.Run("plaintext client fails", func(t *testing.T) {
		_, err := jmClient(t, c.addr, grpc.WithTransportCredentials(insecure.NewCredentials())).ListJobs(ctx, &weirv1.ListJobsRequest{})
		wantCode(t, "ListJobs over plaintext", err, codes.Unavailable)
	})
	t.Run("no token is Unauthenticated", func(t *testing.T) {
		_, err := jmClient(t, c.addr, k.dial("")...).ListJobs(ctx, &weirv1.ListJobsRequest{})
		wantCode(t, "ListJobs without a token", err, codes.Unauthenticated)
		_, err = jmClient(t, c.addr, k.dial("not-a-token-of-this-cluster")...).ListJobs(ctx, &weirv1.ListJobsRequest{})
		wantCode(t, "ListJobs with an unknown token", err, codes.Unauthenticated)
	})

	dir := t.TempDir()
	input := filepath.Join(dir, "text.txt")
	writeText(t, input, 10_000)
	submit := &weirv1.SubmitJobRequest{Job: &weirv1.SubmitJobRequest_Program{Program: &weirv1.Program{
		Name: "wordcount", Args: []string{"--input", input, "--rate", "10", "--output", filepath.Join(dir, "out")}}}}
	viewer := jmClient(t, c.addr, k.dial(k.viewer)...)
	admin := c.client()

	t.Run("viewer lists but cannot submit or cancel", func(t *testing.T) {
		if _, err := viewer.ListJobs(ctx, &weirv1.ListJobsRequest{}); err != nil {
			t.Fatalf("ListJobs as viewer: %v", err)
		}
		if _, err := viewer.GetClusterOverview(ctx, &weirv1.GetClusterOverviewRequest{}); err != nil {
			t.Fatalf("GetClusterOverview as viewer: %v", err)
		}
		_, err := viewer.SubmitJob(ctx, submit)
		wantCode(t, "SubmitJob as viewer", err, codes.PermissionDenied)
	})
	t.Run("admin submits and cancels", func(t *testing.T) {
		resp, err := admin.SubmitJob(ctx, submit)
		if err != nil {
			t.Fatalf("SubmitJob as admin: %v", err)
		}
		id := resp.GetJobId()
		eventually(t, 20*time.Second, statusIs(c, id, weirv1.JobStatus_JOB_STATUS_RUNNING))
		_, err = viewer.CancelJob(ctx, &weirv1.CancelJobRequest{JobId: id})
		wantCode(t, "CancelJob as viewer", err, codes.PermissionDenied)
		_, err = viewer.TriggerSavepoint(ctx, &weirv1.TriggerSavepointRequest{JobId: id})
		wantCode(t, "TriggerSavepoint as viewer", err, codes.PermissionDenied)
		if _, err := admin.CancelJob(ctx, &weirv1.CancelJobRequest{JobId: id}); err != nil {
			t.Fatalf("CancelJob as admin: %v", err)
		}
		eventually(t, 20*time.Second, statusIs(c, id, weirv1.JobStatus_JOB_STATUS_CANCELED))
	})
	t.Run("CLI with WEIR_TLS_CA and WEIR_TOKEN, or --tls-ca and --token", func(t *testing.T) {
		if out, stderr, err := c.weir("list"); err != nil {
			t.Fatalf("weir list: %v\n%s%s", err, out, stderr)
		}
		saved := c.cliEnv
		defer func() { c.cliEnv = saved }()
		c.cliEnv = nil
		if _, stderr, err := c.weir("--tls-ca", k.path("ca.pem"), "--token", k.viewer, "cancel", "no-such-job"); err == nil ||
			!strings.Contains(stderr, "permission denied") {
			t.Fatalf("weir cancel with a viewer token: %v\n%s", err, stderr)
		}
		if _, stderr, err := c.weir("list"); err == nil || !strings.Contains(stderr, "--tls-ca") {
			t.Fatalf("weir list without TLS settings: %v\n%s", err, stderr)
		}
		if _, stderr, err := c.weir("--tls-ca", k.path("ca.pem"), "list"); err == nil || !strings.Contains(stderr, "not authenticated") {
			t.Fatalf("weir list without a token: %v\n%s", err, stderr)
		}
		if _, stderr, err := c.weir("--tls-ca", k.path("ca.pem"), "--tls-cert", k.path("client.pem"), "--tls-key", k.path("client-key.pem"), "list"); err != nil {
			t.Fatalf("weir list with a client certificate: %v\n%s", err, stderr)
		}
	})
	t.Run("HTTP API: TLS, tokens, same roles", func(t *testing.T) {
		m := jmHTTP.FindStringSubmatch(c.jm.log.String())
		if m == nil {
			t.Fatal("no http address in the jobmanager's log")
		}
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM([]byte(readFile(t, k.path("ca.pem"))))
		hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: 10 * time.Second}
		get := func(url, token string) (int, string) {
			req, _ := http.NewRequest(http.MethodGet, url, nil)
			if token != "" {
				req.Header.Set("Authorization", "Bearer "+token)
			}
			resp, err := hc.Do(req)
			if err != nil {
				t.Fatalf("GET %s: %v", url, err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return resp.StatusCode, string(b)
		}
		if resp, err := (&http.Client{Timeout: 10 * time.Second}).Get("http://" + m[1] + "/api/v1/jobs"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				t.Fatal("plain HTTP served the job list")
			}
		}
		base := "https://" + m[1]
		if code, _ := get(base+"/healthz", ""); code != http.StatusOK {
			t.Fatalf("/healthz without a token: %d, want 200", code)
		}
		if code, body := get(base+"/api/v1/jobs", ""); code != http.StatusUnauthorized {
			t.Fatalf("/api/v1/jobs without a token: %d %s, want 401", code, body)
		}
		if code, body := get(base+"/api/v1/jobs", k.viewer); code != http.StatusOK || !strings.Contains(body, "jobs") {
			t.Fatalf("/api/v1/jobs as viewer: %d %s, want 200", code, body)
		}
		req, _ := http.NewRequest(http.MethodPost, base+"/api/v1/jobs", nil)
		req.Header.Set("Authorization", "Bearer "+k.viewer)
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("POST /api/v1/jobs as viewer: %d, want 403", resp.StatusCode)
		}
	})
	t.Run("taskmanager with a certificate from another CA cannot register", func(t *testing.T) {
		other := writeCerts(t)
		// It trusts the cluster CA (so the failure is the jobmanager's
		// refusal of its certificate), but its own certificate is from
		// another CA. In TLS 1.3 the client finishes its side of the
		// handshake before the server has checked its certificate, so the
		// refusal reaches the taskmanager either as the server's alert
		// ("bad certificate", "unknown certificate authority") or, when
		// the server has already closed the connection by the time the
		// client writes, as a broken pipe or a reset: which one is a race.
		p, _ := startEnv(t, c.env, "taskmanager-other-ca", "taskmanager", regexp.MustCompile(`registration failed.*(certificate|broken pipe|connection reset)`),
			append([]string{"--jobmanager", c.addr, "--slots", "1", "--rpc-address", "127.0.0.1:0", "--data-dir", t.TempDir()},
				other.roleArgs("taskmanager")...)...)
		defer p.stop()
		o, err := admin.GetClusterOverview(ctx, &weirv1.GetClusterOverviewRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if len(o.GetTaskManagers()) != 1 {
			t.Fatalf("%d taskmanagers registered, want 1 (the one with the cluster's certificate)", len(o.GetTaskManagers()))
		}
	})
	t.Run("a client certificate cannot register as a taskmanager", func(t *testing.T) {
		p, _ := startEnv(t, c.env, "taskmanager-client-cert", "taskmanager", regexp.MustCompile(`registration failed.*(PermissionDenied)`),
			append([]string{"--jobmanager", c.addr, "--slots", "1", "--rpc-address", "127.0.0.1:0", "--data-dir", t.TempDir()},
				k.roleArgs("client")...)...)
		defer p.stop()
		o, err := admin.GetClusterOverview(ctx, &weirv1.GetClusterOverviewRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if len(o.GetTaskManagers()) != 1 {
			t.Fatalf("%d taskmanagers registered, want 1", len(o.GetTaskManagers()))
		}
	})
}

// checkNoSecrets looks for each secret in every process's log, the CLI's
// output and the answers of the gRPC and HTTP APIs about job id. The
// configuration view must list the S3 keys, masked, so that the search has
// something to miss.
func checkNoSecrets(t *testing.T, c *cluster, id string, secrets []string) {
	t.Helper()
	var texts []string
	add := func(what, s string) { texts = append(texts, what+":\n"+s) }
	add("jobmanager log", c.jm.log.String())
	for _, p := range c.tms {
		add(p.name+" log", p.log.String())
	}
	for _, args := range [][]string{{"list"}, {"status", id}, {"checkpoints", "--json", id}} {
		out, stderr, err := c.weir(args...)
		if err != nil {
			t.Fatalf("weir %v: %v\n%s", args, err, stderr)
		}
		add(fmt.Sprint("weir ", args), out+stderr)
	}
	ctx := context.Background()
	client := c.client()
	job, err := client.GetJob(ctx, &weirv1.GetJobRequest{JobId: id})
	if err != nil {
		t.Fatal(err)
	}
	add("GetJob", protojson.Format(job))
	cps, err := client.ListCheckpoints(ctx, &weirv1.ListCheckpointsRequest{JobId: id})
	if err != nil {
		t.Fatal(err)
	}
	add("ListCheckpoints", protojson.Format(cps))

	m := jmHTTP.FindStringSubmatch(c.jm.log.String())
	if m == nil {
		t.Fatal("no http address in the jobmanager's log")
	}
	base, hc, token := "http://"+m[1], http.DefaultClient, ""
	if c.cliEnv != nil {
		pool := x509.NewCertPool()
		for _, e := range c.cliEnv {
			if f, ok := strings.CutPrefix(e, "WEIR_TLS_CA="); ok {
				pool.AppendCertsFromPEM([]byte(readFile(t, f)))
			}
			if v, ok := strings.CutPrefix(e, "WEIR_TOKEN="); ok {
				token = v
			}
		}
		base, hc = "https://"+m[1], &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	}
	for _, path := range []string{"/api/v1/jobs", "/api/v1/overview", "/api/v1/jobs/" + id + "/checkpoints", "/api/v1/jobmanager/config"} {
		req, _ := http.NewRequest(http.MethodGet, base+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %s\n%s", path, resp.Status, b)
		}
		add("GET "+path, string(b))
		if path == "/api/v1/jobmanager/config" && !strings.Contains(string(b), `"key": "s3.secret-key",
    "value": "******"`) {
			t.Fatalf("the configuration view does not show s3.secret-key masked:\n%s", b)
		}
	}
	for _, s := range secrets {
		if len(s) < 8 {
			t.Fatalf("secret %q is too short to search for", s)
		}
		for _, text := range texts {
			if strings.Contains(text, s) {
				what, _, _ := strings.Cut(text, ":\n")
				t.Errorf("a secret (%d characters, starting %.3s) shows in %s", len(s), s, what)
			}
		}
	}
}
