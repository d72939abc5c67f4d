package main

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/weirstream/weir/internal/security"
)

func TestRun(t *testing.T) {
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("ok\n")) }))
	defer ok.Close()
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "starting", http.StatusServiceUnavailable)
	}))
	defer bad.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	open := ln.Addr().String()
	ln.Close()
	closed := open // nothing listens there any more

	ln, err = net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()

	for _, tc := range []struct {
		args []string
		err  string // "" for success
	}{
		{[]string{ok.URL + "/healthz"}, ""},
		{[]string{"http", ok.URL}, ""},
		{[]string{bad.URL}, "503"},
		{[]string{"tcp", ln.Addr().String()}, ""},
		{[]string{"-timeout", "500ms", "tcp", closed}, "refused"},
		{[]string{"udp", "x"}, "usage"},
		{nil, "usage"},
	} {
		err := run(tc.args)
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("%v: %v", tc.args, err)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%v: error %v, want one containing %q", tc.args, err, tc.err)
		}
	}
}

func TestRunTLS(t *testing.T) {
	dir := t.TempDir()
	if err := security.WriteDevCerts(dir, security.DevCertsOptions{}); err != nil {
		t.Fatal(err)
	}
	f := func(name string) string { return filepath.Join(dir, name) }
	serverCert, err := tls.LoadX509KeyPair(f("jobmanager.pem"), f("jobmanager-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	caPEM, err := os.ReadFile(f("ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	serve := func(auth tls.ClientAuthType) string {
		s := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("ok\n")) }))
		s.TLS = &tls.Config{Certificates: []tls.Certificate{serverCert}, ClientAuth: auth, ClientCAs: pool}
		s.StartTLS()
		t.Cleanup(s.Close)
		return s.URL // https://127.0.0.1:PORT, a name in the certificate
	}
	open, mutual := serve(tls.NoClientCert), serve(tls.RequireAndVerifyClientCert)
	notPEM := f("tokens")

	for _, tc := range []struct {
		args []string
		err  string // "" for success
	}{
		{[]string{"-ca", f("ca.pem"), open + "/readyz"}, ""},
		{[]string{open + "/readyz"}, "certificate"}, // not the system's CAs
		{[]string{"-ca", f("ca.pem"), "-cert", f("client.pem"), "-key", f("client-key.pem"), mutual}, ""},
		{[]string{"-ca", f("ca.pem"), mutual}, "certificate"},
		{[]string{"-ca", notPEM, open}, "no PEM certificate"},
		{[]string{"-ca", f("missing.pem"), open}, "-ca"},
		{[]string{"-ca", f("ca.pem"), "-cert", f("client.pem"), open}, "-cert and -key go together"},
		{[]string{"-cert", f("client.pem"), "-key", f("ca.pem"), open}, "-cert, -key"},
	} {
		err := run(tc.args)
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("%v: %v", tc.args, err)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%v: error %v, want one containing %q", tc.args, err, tc.err)
		}
	}
}
