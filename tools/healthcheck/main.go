package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "healthcheck:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("healthcheck", flag.ContinueOnError)
	timeout := fs.Duration("timeout", 2*time.Second, "give up after this long")
	ca := fs.String("ca", "", "PEM CA certificates an https URL's server is verified against (default: the system's)")
	cert := fs.String("cert", "", "PEM client certificate to present over https (with -key)")
	key := fs.String("key", "", "PEM key of -cert")
	if err := fs.Parse(args); err != nil {
		return err
	}
	client, err := httpClient(*ca, *cert, *key)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	switch a := fs.Args(); {
	case len(a) == 2 && a[0] == "tcp":
		return checkTCP(ctx, a[1])
	case len(a) == 2 && a[0] == "http":
		return checkHTTP(ctx, client, a[1])
	case len(a) == 1 && (strings.HasPrefix(a[0], "http://") || strings.HasPrefix(a[0], "https://")):
		return checkHTTP(ctx, client, a[0])
	default:
		return errors.New("usage: healthcheck [-timeout 2s] [-ca FILE] [-cert FILE -key FILE] URL | http URL | tcp HOST:PORT")
	}
}

// checkTCP succeeds if a TCP connection to addr opens.
func checkTCP(ctx context.Context, addr string) error {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	return c.Close()
}

// httpClient returns the client of HTTP checks: the default one, or one
// that verifies https servers against the CA certificates in caFile and
// presents the client certificate certFile (key keyFile).
func httpClient(caFile, certFile, keyFile string) (*http.Client, error) {
	if (certFile == "") != (keyFile == "") {
		return nil, errors.New("-cert and -key go together")
	}
	if caFile == "" && certFile == "" {
		return http.DefaultClient, nil
	}
	c := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("-ca: %w", err)
		}
		c.RootCAs = x509.NewCertPool()
		if !c.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("-ca: no PEM certificate in %s", caFile)
		}
	}
	if certFile != "" {
		pair, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("-cert, -key: %w", err)
		}
		c.Certificates = []tls.Certificate{pair}
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSClientConfig = c
	return &http.Client{Transport: t}, nil
}

// checkHTTP succeeds if a GET of url answers 2xx.
func checkHTTP(ctx context.Context, client *http.Client, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return nil
}
