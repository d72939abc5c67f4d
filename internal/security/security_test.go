package security

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/weirstream/weir/internal/config"
)

func devCerts(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := WriteDevCerts(dir, DevCertsOptions{}); err != nil {
		t.Fatal(err)
	}
	return dir
}

func token(t *testing.T, dir, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

func TestParseTokensNamesTheLine(t *testing.T) {
	for _, tc := range []struct{ file, want string }{
		{"# c\n\n0123456789abcdef admin\nshort viewer\n", "line 4: token has 5 characters"},
		{"0123456789abcdef root\n", `line 1: role "root": want admin or viewer`},
		{"0123456789abcdef\n", "line 1: want \"token role\", got 1 fields"},
		{"0123456789abcdef admin\n0123456789abcdef viewer\n", "line 2: token listed twice"},
	} {
		_, err := parseTokens([]byte(tc.file))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("parseTokens(%q) = %v, want %q", tc.file, err, tc.want)
		}
	}
}

func TestTokensLookupAndReload(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tokens")
	write := func(s string) {
		t.Helper()
		if err := writeFile(path, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("aaaaaaaaaaaaaaaa admin\nbbbbbbbbbbbbbbbb viewer\n")
	tok, err := LoadTokens(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		token string
		want  Access
	}{{"aaaaaaaaaaaaaaaa", AccessAdmin}, {"bbbbbbbbbbbbbbbb", AccessViewer}, {"aaaaaaaaaaaaaaa", 0}, {"", 0}} {
		if got, _ := tok.Lookup(tc.token); got != tc.want {
			t.Errorf("Lookup(%q) = %v, want %v", tc.token, got, tc.want)
		}
	}
	write("cccccccccccccccc admin\n")
	if _, ok := tok.Lookup("aaaaaaaaaaaaaaaa"); ok {
		t.Error("a token removed from the file still works")
	}
	if got, _ := tok.Lookup("cccccccccccccccc"); got != AccessAdmin {
		t.Errorf("a token added to the file: %v, want admin", got)
	}
	write("broken\n")
	if got, _ := tok.Lookup("cccccccccccccccc"); got != AccessAdmin {
		t.Errorf("after a broken rewrite the previous tokens should stay: %v", got)
	}
}

func TestRoleOf(t *testing.T) {
	dir := devCerts(t)
	for name, want := range map[string]Role{"jobmanager.pem": RoleJobManager, "taskmanager.pem": RoleTaskManager, "client.pem": RoleClient, "ca.pem": 0} {
		c := readCert(t, filepath.Join(dir, name))
		if got := RoleOf(c); got != want {
			t.Errorf("RoleOf(%s) = %v, want %v", name, got, want)
		}
	}
}

func readCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	m, err := LoadMaterial(path, strings.TrimSuffix(path, ".pem")+"-key.pem", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := m.current()
	x, err := x509.ParseCertificate(c.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	return x
}

func TestAuthorizerDecisions(t *testing.T) {
	dir := devCerts(t)
	tok, err := LoadTokens(filepath.Join(dir, "tokens"), nil)
	if err != nil {
		t.Fatal(err)
	}
	admin, viewer := token(t, dir, "admin.token"), token(t, dir, "viewer.token")
	a := &Authorizer{Tokens: tok, RequireCerts: true}
	for _, tc := range []struct {
		name   string
		method string
		c      caller
		want   codes.Code
	}{
		{"no credentials", "/weir.v1.JobManagerService/ListJobs", caller{}, codes.Unauthenticated},
		{"unknown token", "/weir.v1.JobManagerService/ListJobs", caller{token: "x", hasToken: true}, codes.Unauthenticated},
		{"viewer lists", "/weir.v1.JobManagerService/ListJobs", caller{token: viewer, hasToken: true}, codes.OK},
		{"viewer cancels", "/weir.v1.JobManagerService/CancelJob", caller{token: viewer, hasToken: true}, codes.PermissionDenied},
		{"viewer submits", "/weir.v1.JobManagerService/SubmitJob", caller{token: viewer, hasToken: true}, codes.PermissionDenied},
		{"admin cancels", "/weir.v1.JobManagerService/CancelJob", caller{token: admin, hasToken: true}, codes.OK},
		{"client certificate is admin", "/weir.v1.JobManagerService/SubmitJob", caller{role: RoleClient, hasCert: true}, codes.OK},
		{"taskmanager certificate is no user", "/weir.v1.JobManagerService/SubmitJob", caller{role: RoleTaskManager, hasCert: true}, codes.Unauthenticated},
		{"taskmanager registers", "/weir.v1.ResourceManagerService/RegisterTaskManager", caller{role: RoleTaskManager, hasCert: true}, codes.OK},
		{"admin token cannot register", "/weir.v1.ResourceManagerService/RegisterTaskManager", caller{token: admin, hasToken: true}, codes.Unauthenticated},
		{"client cannot register", "/weir.v1.ResourceManagerService/RegisterTaskManager", caller{role: RoleClient, hasCert: true}, codes.PermissionDenied},
		{"taskmanager cannot deploy", "/weir.v1.TaskManagerService/DeployTask", caller{role: RoleTaskManager, hasCert: true}, codes.PermissionDenied},
		{"jobmanager deploys", "/weir.v1.TaskManagerService/DeployTask", caller{role: RoleJobManager, hasCert: true}, codes.OK},
		{"jobmanager cannot exchange data", "/weir.v1.DataExchangeService/Exchange", caller{role: RoleJobManager, hasCert: true}, codes.PermissionDenied},
		{"unknown method", "/weir.v1.Secret/Read", caller{token: admin, hasToken: true}, codes.PermissionDenied},
	} {
		if got := status.Code(a.check(tc.method, tc.c)); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
	// Without client-auth required, internal services are not checked by
	// role (they have only TLS); with neither, nothing is checked.
	if err := (&Authorizer{Tokens: tok}).check("/weir.v1.ResourceManagerService/Heartbeat", caller{}); err != nil {
		t.Errorf("tokens only, internal call: %v", err)
	}
	if err := (&Authorizer{}).check("/weir.v1.JobManagerService/SubmitJob", caller{}); err != nil {
		t.Errorf("security off: %v", err)
	}
}

func TestPolicyCoversEveryMethod(t *testing.T) {
	for _, svc := range []string{"JobManagerService", "ResourceManagerService", "TaskManagerService", "DataExchangeService"} {
		n := 0
		for m := range Policy {
			if strings.HasPrefix(m, "/weir.v1."+svc+"/") {
				n++
			}
		}
		if n == 0 {
			t.Errorf("no method of %s in Policy", svc)
		}
	}
}

func TestHTTPRules(t *testing.T) {
	dir := devCerts(t)
	tok, err := LoadTokens(filepath.Join(dir, "tokens"), nil)
	if err != nil {
		t.Fatal(err)
	}
	h := (&Authorizer{Tokens: tok}).HTTP(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) }))
	for _, tc := range []struct {
		method, path, token string
		want                int
	}{
		{"GET", "/healthz", "", 200},
		{"GET", "/readyz", "", 200},
		{"GET", "/metrics", "", 401},
		{"GET", "/api/v1/jobs", "", 401},
		{"GET", "/api/v1/jobs", "wrong-token-wrong-token", 401},
		{"GET", "/api/v1/jobs", token(t, dir, "viewer.token"), 200},
		{"POST", "/api/v1/jobs", token(t, dir, "viewer.token"), 403},
		{"POST", "/api/v1/jobs", token(t, dir, "admin.token"), 200},
	} {
		r := httptest.NewRequest(tc.method, tc.path, nil)
		if tc.token != "" {
			r.Header.Set("Authorization", "Bearer "+tc.token)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != tc.want {
			t.Errorf("%s %s: %d, want %d (%s)", tc.method, tc.path, w.Code, tc.want, w.Body)
		}
	}
}

// A server picks up a renewed certificate on the next handshake.
func TestCertificateReload(t *testing.T) {
	dir := devCerts(t)
	m, err := LoadMaterial(filepath.Join(dir, "jobmanager.pem"), filepath.Join(dir, "jobmanager-key.pem"), filepath.Join(dir, "ca.pem"), nil)
	if err != nil {
		t.Fatal(err)
	}
	lis, err := tls.Listen("tcp", "127.0.0.1:0", m.ServerConfig(tls.NoClientCert))
	if err != nil {
		t.Fatal(err)
	}
	defer lis.Close()
	go func() {
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			_ = c.(*tls.Conn).Handshake()
			c.Close()
		}
	}()
	serverCert := func(caFile string) (*x509.Certificate, error) {
		pool := x509.NewCertPool()
		pem, _ := os.ReadFile(caFile)
		pool.AppendCertsFromPEM(pem)
		c, err := tls.Dial("tcp", lis.Addr().String(), &tls.Config{RootCAs: pool, ServerName: "localhost"})
		if err != nil {
			return nil, err
		}
		defer c.Close()
		return c.ConnectionState().PeerCertificates[0], nil
	}
	first, err := serverCert(filepath.Join(dir, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	// Renew: a new CA and certificates replace the files in place.
	if err := WriteDevCerts(dir, DevCertsOptions{Force: true}); err != nil {
		t.Fatal(err)
	}
	second, err := serverCert(filepath.Join(dir, "ca.pem"))
	if err != nil {
		t.Fatalf("after renewal: %v", err)
	}
	if first.SerialNumber.Cmp(second.SerialNumber) == 0 {
		t.Fatal("the server still presents the certificate it had before the files changed")
	}
}

// Internal clients accept only cluster members of the cluster CA, whatever
// the host name.
func TestInternalClientVerifiesCAAndRole(t *testing.T) {
	dir, other := devCerts(t), devCerts(t)
	load := func(d, role string) *Material {
		m, err := LoadMaterial(filepath.Join(d, role+".pem"), filepath.Join(d, role+"-key.pem"), filepath.Join(dir, "ca.pem"), nil)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	client := load(dir, "taskmanager")
	for _, tc := range []struct {
		name   string
		server *Material
		ok     bool
	}{
		{"taskmanager of the cluster CA", load(dir, "taskmanager"), true},
		{"jobmanager of the cluster CA", load(dir, "jobmanager"), true},
		{"taskmanager of another CA", load(other, "taskmanager"), false},
	} {
		lis, err := tls.Listen("tcp", "127.0.0.1:0", tc.server.ServerConfig(tls.RequireAndVerifyClientCert))
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			c, err := lis.Accept()
			if err == nil {
				_ = c.(*tls.Conn).Handshake()
				c.Close()
			}
		}()
		// Dial by an address no certificate names.
		raw, err := net.Dial("tcp", lis.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		cfg := client.InternalClientConfig()
		cfg.ServerName = "not-in-any-certificate"
		err = tls.Client(raw, cfg).HandshakeContext(context.Background())
		raw.Close()
		lis.Close()
		if (err == nil) != tc.ok {
			t.Errorf("%s: handshake error %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}

func TestSettingsNameTheKey(t *testing.T) {
	for _, tc := range []struct {
		m    map[string]string
		want string
	}{
		{map[string]string{config.AuthTokensFile: "/x"}, "bearer tokens are never sent in plaintext"},
		{map[string]string{config.SSLClientAuth: "required"}, "security.ssl.client-auth: required needs security.ssl.enabled: true"},
		{map[string]string{config.SSLEnabled: "true", config.SSLCert: "/c", config.SSLKey: "/k"}, "security.ssl.ca is required"},
	} {
		cfg, err := config.Default().With(tc.m)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := SettingsFrom(cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want %q", tc.m, err, tc.want)
		}
	}
	cfg, _ := config.Default().With(map[string]string{config.SSLEnabled: "true", config.SSLCert: "/nonexistent.pem", config.SSLKey: "/k", config.SSLCA: "/ca"})
	s, err := SettingsFrom(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := New(s, nil); err == nil || !strings.Contains(err.Error(), "security.ssl.cert") {
		t.Errorf("a missing certificate file: %v", err)
	}
}

// Identity tells callers apart by what was verified: a known token (never
// shown in clear) or a verified certificate; anything else is the shared
// identity "".
func TestIdentity(t *testing.T) {
	dir := devCerts(t)
	tok, err := LoadTokens(filepath.Join(dir, "tokens"), nil)
	if err != nil {
		t.Fatal(err)
	}
	admin, viewer := token(t, dir, "admin.token"), token(t, dir, "viewer.token")
	p := &Process{auth: &Authorizer{Tokens: tok}}
	withToken := func(tk string) context.Context {
		return metadata.NewIncomingContext(context.Background(), metadata.Pairs("authorization", "Bearer "+tk))
	}
	a, v := p.Identity(withToken(admin)), p.Identity(withToken(viewer))
	if !strings.HasPrefix(a, "token:") || !strings.HasPrefix(v, "token:") || a == v {
		t.Errorf("tokens: %q and %q, want two distinct token: identities", a, v)
	}
	if strings.Contains(a, admin) || strings.Contains(v, viewer) {
		t.Error("Identity shows a token in clear")
	}
	if got := p.Identity(withToken("unknown")); got != "" {
		t.Errorf("an unknown token: %q, want the shared identity", got)
	}
	if got := p.Identity(context.Background()); got != "" {
		t.Errorf("no credential: %q", got)
	}
	var off *Process
	if got := off.Identity(withToken(admin)); got != "" {
		t.Errorf("security off: %q", got)
	}
	cert := readCert(t, filepath.Join(dir, "client.pem"))
	ctx := peer.NewContext(context.Background(), &peer.Peer{AuthInfo: credentials.TLSInfo{
		State: tls.ConnectionState{VerifiedChains: [][]*x509.Certificate{{cert}}}}})
	if got := p.Identity(ctx); got != "cert:"+cert.Subject.String() {
		t.Errorf("client certificate: %q", got)
	}
	unverified := peer.NewContext(context.Background(), &peer.Peer{AuthInfo: credentials.TLSInfo{
		State: tls.ConnectionState{PeerCertificates: []*x509.Certificate{cert}}}})
	if got := p.Identity(unverified); got != "" {
		t.Errorf("an unverified certificate: %q", got)
	}
}
