package security

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"net/http"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

// Requirement is what a method asks of its caller: a cluster role (Peer),
// for the internal services, or a user's access (Access), for the job API.
type Requirement struct {
	Peer   Role
	Access Access
}

// Policy maps full gRPC method names to their requirement. A method not in
// it is refused whenever access control is on.
var Policy = map[string]Requirement{
	"/weir.v1.JobManagerService/ListJobs":           {Access: AccessViewer},
	"/weir.v1.JobManagerService/GetJob":             {Access: AccessViewer},
	"/weir.v1.JobManagerService/ListPrograms":       {Access: AccessViewer},
	"/weir.v1.JobManagerService/GetClusterOverview": {Access: AccessViewer},
	"/weir.v1.JobManagerService/ListCheckpoints":    {Access: AccessViewer},
	"/weir.v1.JobManagerService/SubmitJob":          {Access: AccessAdmin},
	"/weir.v1.JobManagerService/CancelJob":          {Access: AccessAdmin},
	"/weir.v1.JobManagerService/TriggerSavepoint":   {Access: AccessAdmin},

	"/weir.v1.ResourceManagerService/RegisterTaskManager":      {Peer: RoleTaskManager},
	"/weir.v1.ResourceManagerService/Heartbeat":                {Peer: RoleTaskManager},
	"/weir.v1.ResourceManagerService/UpdateTaskExecutionState": {Peer: RoleTaskManager},
	"/weir.v1.ResourceManagerService/AcknowledgeCheckpoint":    {Peer: RoleTaskManager},
	"/weir.v1.ResourceManagerService/DeclineCheckpoint":        {Peer: RoleTaskManager},

	"/weir.v1.TaskManagerService/DeployTask":               {Peer: RoleJobManager},
	"/weir.v1.TaskManagerService/CancelTask":               {Peer: RoleJobManager},
	"/weir.v1.TaskManagerService/TriggerCheckpoint":        {Peer: RoleJobManager},
	"/weir.v1.TaskManagerService/NotifyCheckpointComplete": {Peer: RoleJobManager},
	"/weir.v1.TaskManagerService/AbortCheckpoint":          {Peer: RoleJobManager},

	"/weir.v1.DataExchangeService/Exchange": {Peer: RoleTaskManager},

	"/grpc.reflection.v1.ServerReflection/ServerReflectionInfo":      {Access: AccessViewer},
	"/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo": {Access: AccessViewer},
}

// Authorizer checks every call against Policy. With neither tokens nor
// client certificates required it allows everything (a cluster with
// security off).
type Authorizer struct {
	// Tokens are the users' bearer tokens; nil if there is no tokens file.
	Tokens *Tokens
	// RequireCerts is security.ssl.client-auth: required. Internal methods
	// then need a verified certificate with the right role, and a client
	// certificate is one way for a user to authenticate.
	RequireCerts bool
}

// Enabled reports whether a calls are checked at all.
func (a *Authorizer) Enabled() bool { return a != nil && (a.Tokens != nil || a.RequireCerts) }

// caller is what a call presents: a verified certificate's role, and a
// bearer token.
type caller struct {
	role     Role // 0: no verified certificate, or one without a role
	hasCert  bool
	token    string
	hasToken bool
}

// check decides a call to method by c. The error is a gRPC status:
// Unauthenticated when the caller is not known, PermissionDenied when it is
// known but may not call method.
func (a *Authorizer) check(method string, c caller) error {
	if !a.Enabled() {
		return nil
	}
	req, ok := Policy[method]
	if !ok {
		return status.Errorf(codes.PermissionDenied, "%s: no role may call it", method)
	}
	return a.require(method, req, c)
}

// require decides a call to method (a gRPC method, or an HTTP method and
// path), which needs req, by c.
func (a *Authorizer) require(method string, req Requirement, c caller) error {
	if req.Peer != 0 {
		if !a.RequireCerts {
			return nil // internal services are authenticated only by mutual TLS
		}
		if !c.hasCert {
			return status.Errorf(codes.Unauthenticated, "%s: needs a %s certificate from the cluster CA", method, req.Peer)
		}
		if c.role != req.Peer {
			return status.Errorf(codes.PermissionDenied, "%s: needs the %s role; the certificate has %s", method, req.Peer, roleText(c.role))
		}
		return nil
	}
	var access Access
	switch {
	case c.hasToken && a.Tokens != nil:
		got, ok := a.Tokens.Lookup(c.token)
		if !ok {
			return status.Errorf(codes.Unauthenticated, "%s: unknown bearer token", method)
		}
		access = got
	case c.hasCert && c.role == RoleClient:
		access = AccessAdmin
	}
	if access == 0 {
		return status.Errorf(codes.Unauthenticated, "%s: needs a bearer token (--token or WEIR_TOKEN) or a client certificate", method)
	}
	if access < req.Access {
		return status.Errorf(codes.PermissionDenied, "%s: needs the %s role; the caller has %s", method, req.Access, access)
	}
	return nil
}

func roleText(r Role) string {
	if r == 0 {
		return "none"
	}
	return r.String()
}

// callerOf reads the caller of a gRPC call from its context.
func callerOf(ctx context.Context) caller {
	var c caller
	c.role, c.hasCert = leafRole(peerLeaf(ctx))
	if md, ok := metadata.FromIncomingContext(ctx); ok {
		if v := md.Get("authorization"); len(v) > 0 {
			c.token, c.hasToken = bearer(v[0])
		}
	}
	return c
}

// verifiedLeaf returns the certificate of the first verified chain; nil if
// none was verified.
func verifiedLeaf(chains [][]*x509.Certificate) *x509.Certificate {
	if len(chains) == 0 || len(chains[0]) == 0 {
		return nil
	}
	return chains[0][0]
}

// peerLeaf returns the verified client certificate of a gRPC call; nil if
// there is none.
func peerLeaf(ctx context.Context) *x509.Certificate {
	if p, ok := peer.FromContext(ctx); ok {
		if ti, ok := p.AuthInfo.(credentials.TLSInfo); ok {
			return verifiedLeaf(ti.State.VerifiedChains)
		}
	}
	return nil
}

// leafRole returns the role of a verified certificate, and whether there is
// one.
func leafRole(leaf *x509.Certificate) (Role, bool) {
	if leaf == nil {
		return 0, false
	}
	return RoleOf(leaf), true
}

// bearer returns the token of an Authorization value "Bearer TOKEN".
func bearer(v string) (string, bool) {
	scheme, tok, ok := strings.Cut(strings.TrimSpace(v), " ")
	if !ok || !strings.EqualFold(scheme, "bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}

// UnaryInterceptor checks unary calls.
func (a *Authorizer) UnaryInterceptor(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	if err := a.check(info.FullMethod, callerOf(ctx)); err != nil {
		return nil, err
	}
	return h(ctx, req)
}

// StreamInterceptor checks streaming calls.
func (a *Authorizer) StreamInterceptor(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	if err := a.check(info.FullMethod, callerOf(ss.Context())); err != nil {
		return err
	}
	return h(srv, ss)
}

// ServerOptions returns the interceptors that apply a.
func (a *Authorizer) ServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{grpc.ChainUnaryInterceptor(a.UnaryInterceptor), grpc.ChainStreamInterceptor(a.StreamInterceptor)}
}

// HTTP wraps an HTTP API (the jobmanager's, a taskmanager's /metrics) with
// the same rules as the gRPC API: /healthz and /readyz are open (container
// probes), every other GET needs viewer access, and anything else admin
// access. Unauthenticated is 401,
// PermissionDenied 403, each with a JSON {"errors": [...]} body.
func (a *Authorizer) HTTP(next http.Handler) http.Handler {
	if !a.Enabled() {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" || r.URL.Path == "/readyz" {
			next.ServeHTTP(w, r)
			return
		}
		var c caller
		if r.TLS != nil {
			c.role, c.hasCert = leafRole(verifiedLeaf(r.TLS.VerifiedChains))
		}
		c.token, c.hasToken = bearer(r.Header.Get("Authorization"))
		need := AccessAdmin
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			need = AccessViewer
		}
		if err := a.require(r.Method+" "+r.URL.Path, Requirement{Access: need}, c); err != nil {
			st := status.Convert(err)
			code := http.StatusForbidden
			if st.Code() == codes.Unauthenticated {
				code = http.StatusUnauthorized
				w.Header().Set("WWW-Authenticate", `Bearer realm="weir"`)
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(code)
			_ = json.NewEncoder(w).Encode(map[string][]string{"errors": {st.Message()}})
			return
		}
		next.ServeHTTP(w, r)
	})
}
