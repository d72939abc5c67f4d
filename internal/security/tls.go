package security

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"sync"
)

// MinVersion is the oldest TLS version Weir speaks.
const MinVersion = tls.VersionTLS12

// Material is a process's TLS material: its certificate and key and the
// cluster CA, read from PEM files. Every handshake looks at the files and
// reads them again if they changed, so renewed certificates take effect on
// new connections without a restart. A changed set of files that does not
// load (a key that does not match its certificate, a half-written file)
// leaves the previous material in force and is logged.
type Material struct {
	certFile, keyFile, caFile string
	log                       *slog.Logger
	mu                        struct {
		sync.Mutex
		stamps  [3]fileStamp
		cert    *tls.Certificate // nil without a certificate file
		pool    *x509.CertPool   // nil without a CA file
		lastErr string
	}
}

// LoadMaterial reads the certificate and key (both or neither) and the CA
// bundle (optional). The error names the file at fault.
func LoadMaterial(certFile, keyFile, caFile string, log *slog.Logger) (*Material, error) {
	if (certFile == "") != (keyFile == "") {
		return nil, errors.New("security.ssl.cert and security.ssl.key: set both or neither")
	}
	if log == nil {
		log = slog.Default()
	}
	m := &Material{certFile: certFile, keyFile: keyFile, caFile: caFile, log: log}
	stamps, cert, pool, err := m.read()
	if err != nil {
		return nil, err
	}
	m.mu.stamps, m.mu.cert, m.mu.pool = stamps, cert, pool
	return m, nil
}

func (m *Material) read() ([3]fileStamp, *tls.Certificate, *x509.CertPool, error) {
	var stamps [3]fileStamp
	var cert *tls.Certificate
	var pool *x509.CertPool
	if m.certFile != "" {
		certPEM, st0, err := readSmall(m.certFile)
		if err != nil {
			return stamps, nil, nil, fmt.Errorf("security.ssl.cert: %w", err)
		}
		keyPEM, st1, err := readSmall(m.keyFile)
		if err != nil {
			return stamps, nil, nil, fmt.Errorf("security.ssl.key: %w", err)
		}
		c, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			return stamps, nil, nil, fmt.Errorf("security.ssl.cert %s and security.ssl.key %s: %w", m.certFile, m.keyFile, err)
		}
		stamps[0], stamps[1], cert = st0, st1, &c
	}
	if m.caFile != "" {
		caPEM, st2, err := readSmall(m.caFile)
		if err != nil {
			return stamps, nil, nil, fmt.Errorf("security.ssl.ca: %w", err)
		}
		pool = x509.NewCertPool()
		if !pool.AppendCertsFromPEM(caPEM) {
			return stamps, nil, nil, fmt.Errorf("security.ssl.ca %s: no PEM certificate in it", m.caFile)
		}
		stamps[2] = st2
	}
	return stamps, cert, pool, nil
}

// current returns the material as the files are now.
func (m *Material) current() (*tls.Certificate, *x509.CertPool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	changed := false
	for i, f := range []string{m.certFile, m.keyFile, m.caFile} {
		if f == "" {
			continue
		}
		if st, err := stamp(f); err != nil || st != m.mu.stamps[i] {
			changed = true
		}
	}
	if !changed {
		return m.mu.cert, m.mu.pool
	}
	stamps, cert, pool, err := m.read()
	if err != nil {
		if msg := err.Error(); msg != m.mu.lastErr {
			m.mu.lastErr = msg
			m.log.Warn("TLS files changed but cannot be used; keeping the certificates read before", "err", err)
		}
		return m.mu.cert, m.mu.pool
	}
	m.mu.stamps, m.mu.cert, m.mu.pool, m.mu.lastErr = stamps, cert, pool, ""
	m.log.Info("TLS certificates reloaded", "cert", m.certFile, "ca", m.caFile)
	return cert, pool
}

// ServerConfig returns the TLS configuration of a server. clientAuth is
// tls.NoClientCert, tls.VerifyClientCertIfGiven (the jobmanager, which
// serves users with tokens as well as cluster members) or
// tls.RequireAndVerifyClientCert (a taskmanager, which serves only cluster
// members). nextProtos are the ALPN protocols ("h2" for gRPC).
func (m *Material) ServerConfig(clientAuth tls.ClientAuthType, nextProtos ...string) *tls.Config {
	return &tls.Config{
		MinVersion: MinVersion,
		NextProtos: nextProtos,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			cert, pool := m.current()
			if cert == nil {
				return nil, errors.New("no server certificate (security.ssl.cert)")
			}
			c := &tls.Config{MinVersion: MinVersion, NextProtos: nextProtos, Certificates: []tls.Certificate{*cert}, ClientAuth: tls.NoClientCert}
			if clientAuth != tls.NoClientCert && pool != nil {
				c.ClientAuth, c.ClientCAs = clientAuth, pool
			}
			return c, nil
		},
	}
}

// InternalClientConfig returns the TLS configuration of a cluster member
// dialling another: it presents the member's certificate and accepts a
// server whose chain leads to the cluster CA and whose role is jobmanager or
// taskmanager. The host name is not checked: cluster members are
// identified by role, and their addresses (container names, pod IPs) are
// not known when certificates are issued.
func (m *Material) InternalClientConfig() *tls.Config {
	return &tls.Config{
		MinVersion: MinVersion,
		// The chain and the role are verified in VerifyConnection, against
		// the CA as the files are now; only the host name check is skipped.
		InsecureSkipVerify: true,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			if cert, _ := m.current(); cert != nil {
				return cert, nil
			}
			return &tls.Certificate{}, nil
		},
		VerifyConnection: func(cs tls.ConnectionState) error {
			_, pool := m.current()
			return verifyMember(cs.PeerCertificates, pool)
		},
	}
}

// verifyMember checks that chain[0] is a server certificate of the cluster
// CA held by a jobmanager or taskmanager.
func verifyMember(chain []*x509.Certificate, pool *x509.CertPool) error {
	if len(chain) == 0 {
		return errors.New("the peer sent no certificate")
	}
	if pool == nil {
		return errors.New("no cluster CA to verify the peer against (security.ssl.ca)")
	}
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	if _, err := chain[0].Verify(x509.VerifyOptions{Roots: pool, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
		return fmt.Errorf("the peer's certificate is not from the cluster CA: %w", err)
	}
	switch r := RoleOf(chain[0]); r {
	case RoleJobManager, RoleTaskManager:
		return nil
	default:
		return fmt.Errorf("the peer's certificate (%s) is not a jobmanager's or taskmanager's (OU %q)", chain[0].Subject, chain[0].Subject.OrganizationalUnit)
	}
}

// ClientConfig returns the TLS configuration of a user's client (the weir
// CLI): it verifies the server's chain against the CA and its host name, and
// presents the client certificate if there is one.
func (m *Material) ClientConfig() *tls.Config {
	cert, pool := m.current()
	c := &tls.Config{MinVersion: MinVersion, RootCAs: pool}
	if cert != nil {
		c.Certificates = []tls.Certificate{*cert}
	}
	return c
}
