package security

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// DevHosts are the host names and addresses of development certificates
// when none are given: loopback and the compose cluster's service names.
var DevHosts = []string{"localhost", "127.0.0.1", "::1", "jobmanager", "taskmanager-1", "taskmanager-2"}

// DevFiles are the files WriteDevCerts writes.
var DevFiles = []string{
	"ca.pem", "ca-key.pem",
	"jobmanager.pem", "jobmanager-key.pem",
	"taskmanager.pem", "taskmanager-key.pem",
	"client.pem", "client-key.pem",
	"tokens", "admin.token", "viewer.token",
}

// DevCertsOptions configure WriteDevCerts.
type DevCertsOptions struct {
	// Hosts are the DNS names and IP addresses in the jobmanager's and
	// taskmanagers' certificates; DevHosts if empty.
	Hosts []string
	// Now is the start of validity; Validity its length (one year if 0).
	Now      time.Time
	Validity time.Duration
	// Force replaces files that exist.
	Force bool
	// FileMode is the mode of keys and tokens (0600 if 0). A cluster whose
	// processes run as another user than the one writing the files (a
	// container's) needs them readable by that user.
	FileMode fs.FileMode
}

// WriteDevCerts writes into dir a new CA, certificates and keys for a
// jobmanager, the taskmanagers and a client (role in the OU), and a tokens
// file with one admin and one viewer token (also in admin.token and
// viewer.token). It is for development and test clusters: the CA key sits
// beside the certificates.
func WriteDevCerts(dir string, o DevCertsOptions) error {
	if len(o.Hosts) == 0 {
		o.Hosts = DevHosts
	}
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	if o.Validity == 0 {
		o.Validity = 365 * 24 * time.Hour
	}
	if o.FileMode == 0 {
		o.FileMode = 0o600
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if !o.Force {
		for _, f := range DevFiles {
			if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
				return fmt.Errorf("%s already exists (replace it with --force)", filepath.Join(dir, f))
			}
		}
	}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{Organization: []string{"Weir"}, CommonName: "Weir development CA"},
		NotBefore:             o.Now.Add(-time.Hour),
		NotAfter:              o.Now.Add(o.Validity),
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLenZero:        true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return err
	}
	if err := writeCert(dir, "ca", caDER, caKey, o.FileMode); err != nil {
		return err
	}
	var dns []string
	var ips []net.IP
	for _, h := range o.Hosts {
		if ip := net.ParseIP(h); ip != nil {
			ips = append(ips, ip)
		} else {
			dns = append(dns, h)
		}
	}
	for _, leaf := range []struct {
		role Role
		ext  []x509.ExtKeyUsage
	}{
		{RoleJobManager, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}},
		{RoleTaskManager, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}},
		{RoleClient, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}},
	} {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return err
		}
		tmpl := &x509.Certificate{
			SerialNumber: serial(),
			Subject:      pkix.Name{Organization: []string{"Weir"}, OrganizationalUnit: []string{leaf.role.String()}, CommonName: "weir " + leaf.role.String()},
			NotBefore:    o.Now.Add(-time.Hour),
			NotAfter:     o.Now.Add(o.Validity),
			KeyUsage:     x509.KeyUsageDigitalSignature,
			ExtKeyUsage:  leaf.ext,
		}
		if leaf.role != RoleClient {
			tmpl.DNSNames, tmpl.IPAddresses = dns, ips
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			return err
		}
		if err := writeCert(dir, leaf.role.String(), der, key, o.FileMode); err != nil {
			return err
		}
	}
	admin, viewer := randomToken(), randomToken()
	tokens := "# Bearer tokens of the Weir API: token role (admin or viewer).\n" + admin + " admin\n" + viewer + " viewer\n"
	for name, data := range map[string]string{"tokens": tokens, "admin.token": admin + "\n", "viewer.token": viewer + "\n"} {
		if err := writeFile(filepath.Join(dir, name), []byte(data), o.FileMode); err != nil {
			return err
		}
	}
	return nil
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic(err) // crypto/rand does not fail
	}
	return n
}

func randomToken() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func writeCert(dir, name string, der []byte, key *ecdsa.PrivateKey, keyMode fs.FileMode) error {
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	return errors.Join(
		writeFile(filepath.Join(dir, name+".pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644),
		writeFile(filepath.Join(dir, name+"-key.pem"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), keyMode),
	)
}

// writeFile writes data to path through a temporary file and a rename, so
// a process that reloads path never reads it half written.
func writeFile(path string, data []byte, mode fs.FileMode) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, mode); err != nil {
		return err
	}
	if err := os.Chmod(tmp, mode); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
