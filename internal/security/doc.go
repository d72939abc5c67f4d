// Package security is Weir's transport security and access control:
//
//   - TLS material (certificate, key, CA) read from PEM files and reloaded
//     when the files change, for gRPC servers and clients and for the
//     jobmanager's HTTP server (TLS 1.2 minimum);
//   - cluster roles (jobmanager, taskmanager, client) carried in the
//     organizational unit of certificates issued by the cluster CA;
//   - user roles (admin, viewer) from a bearer tokens file, reloaded when it
//     changes, or from a client certificate;
//   - the per-RPC policy that says which role may call which method, applied
//     by gRPC interceptors and by an HTTP middleware with the same rules;
//   - development certificates made with Go's crypto (weir certs).
//
// Internal connections (jobmanager <-> taskmanager, taskmanager <->
// taskmanager) authenticate by certificate when security.ssl.client-auth is
// required: the chain must lead to the cluster CA and the role must be the
// one the method needs. Host names are not checked on internal connections,
// whose peers are identified by role; the CLI checks the jobmanager's host
// name as any TLS client does. docs/security.md is the user's guide.
package security
