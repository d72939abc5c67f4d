package security

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/weirstream/weir/internal/config"
)

// Settings are the security.* keys of a process's configuration.
type Settings struct {
	Enabled      bool   // security.ssl.enabled
	Cert, Key    string // security.ssl.cert, security.ssl.key
	CA           string // security.ssl.ca
	RequireCerts bool   // security.ssl.client-auth: required
	TokensFile   string // security.auth.tokens-file
}

// SettingsFrom reads and checks the security.* keys of cfg. The error
// names the key.
func SettingsFrom(cfg *config.Config) (Settings, error) {
	var s Settings
	var errs []error
	get := func(k string) string {
		v, err := cfg.Get(k)
		errs = append(errs, err)
		return v
	}
	var err error
	s.Enabled, err = cfg.Bool(config.SSLEnabled)
	errs = append(errs, err)
	s.Cert, s.Key, s.CA = get(config.SSLCert), get(config.SSLKey), get(config.SSLCA)
	s.RequireCerts = get(config.SSLClientAuth) == "required"
	s.TokensFile = get(config.AuthTokensFile)
	if err := errors.Join(errs...); err != nil {
		return Settings{}, err
	}
	return s, s.check()
}

func (s Settings) check() error {
	if !s.Enabled {
		switch {
		case s.RequireCerts:
			return fmt.Errorf("%s: required needs %s: true", config.SSLClientAuth, config.SSLEnabled)
		case s.TokensFile != "":
			return fmt.Errorf("%s needs %s: true: bearer tokens are never sent in plaintext", config.AuthTokensFile, config.SSLEnabled)
		}
		return nil
	}
	var missing []error
	for k, v := range map[string]string{config.SSLCert: s.Cert, config.SSLKey: s.Key, config.SSLCA: s.CA} {
		if v == "" {
			missing = append(missing, fmt.Errorf("%s is required when %s is true", k, config.SSLEnabled))
		}
	}
	return errors.Join(missing...)
}

// Process is the security of one Weir process: its TLS material and the
// checks on the calls it serves. A nil *Process is security off: its
// methods return no options and leave handlers as they are.
type Process struct {
	material *Material
	auth     *Authorizer
}

// New loads what s names (certificates, tokens). It returns nil for
// security off.
func New(s Settings, log *slog.Logger) (*Process, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	if !s.Enabled {
		return nil, nil
	}
	m, err := LoadMaterial(s.Cert, s.Key, s.CA, log)
	if err != nil {
		return nil, err
	}
	p := &Process{material: m, auth: &Authorizer{RequireCerts: s.RequireCerts}}
	if s.TokensFile != "" {
		if p.auth.Tokens, err = LoadTokens(s.TokensFile, log); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// ServerOptions returns the gRPC server options of a jobmanager
// (members false: users call it too) or a taskmanager (members true: only
// cluster members call it, so the handshake itself needs a certificate when
// client authentication is required).
func (p *Process) ServerOptions(members bool) []grpc.ServerOption {
	if p == nil {
		return nil
	}
	auth := tls.NoClientCert
	if p.auth.RequireCerts {
		auth = tls.VerifyClientCertIfGiven
		if members {
			auth = tls.RequireAndVerifyClientCert
		}
	}
	return append([]grpc.ServerOption{grpc.Creds(credentials.NewTLS(p.material.ServerConfig(auth, "h2")))}, p.auth.ServerOptions()...)
}

// DialOptions returns the gRPC dial options of connections to other
// cluster members.
func (p *Process) DialOptions() []grpc.DialOption {
	if p == nil {
		return nil
	}
	return []grpc.DialOption{grpc.WithTransportCredentials(credentials.NewTLS(p.material.InternalClientConfig()))}
}

// HTTPTLS returns the TLS configuration of the jobmanager's HTTP server;
// nil for plain HTTP.
func (p *Process) HTTPTLS() *tls.Config {
	if p == nil {
		return nil
	}
	auth := tls.NoClientCert
	if p.auth.RequireCerts {
		auth = tls.VerifyClientCertIfGiven
	}
	return p.material.ServerConfig(auth, "h2", "http/1.1")
}

// HTTP wraps the jobmanager's HTTP handler with the API's access rules.
func (p *Process) HTTP(h http.Handler) http.Handler {
	if p == nil {
		return h
	}
	return p.auth.HTTP(h)
}

// BearerToken returns per-RPC credentials that send token as
// "authorization: Bearer TOKEN". They need a TLS connection.
func BearerToken(token string) credentials.PerRPCCredentials { return bearerCreds(token) }

type bearerCreds string

func (b bearerCreds) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(b)}, nil
}

func (bearerCreds) RequireTransportSecurity() bool { return true }

// Identity names the authenticated caller of a gRPC call, for per-client
// accounting such as the submission rate limit: "token:" and the first
// bytes of the SHA-256 of a bearer token the tokens file knows, or "cert:"
// and the subject of a verified client certificate. It is "" for a caller
// the process cannot tell apart from others (security off, or no
// credential): such callers share one identity. A token is never returned
// in clear.
func (p *Process) Identity(ctx context.Context) string {
	if p == nil {
		return ""
	}
	c := callerOf(ctx)
	if c.hasToken && p.auth.Tokens != nil {
		if _, ok := p.auth.Tokens.Lookup(c.token); ok {
			d := sha256.Sum256([]byte(c.token))
			return "token:" + hex.EncodeToString(d[:8])
		}
	}
	if leaf := peerLeaf(ctx); leaf != nil {
		return "cert:" + leaf.Subject.String()
	}
	return ""
}
