// Command healthcheck is the probe that container healthchecks run in the
// weir image, which is FROM scratch and so has no shell, curl or nc:
//
//	healthcheck http://127.0.0.1:8081/healthz   # exit 0 on a 2xx answer
//	healthcheck http URL                        # the same
//	healthcheck tcp 127.0.0.1:6124              # exit 0 if a TCP connection opens
//	healthcheck -ca ca.pem https://127.0.0.1:8081/readyz
//
// An https server is verified against the CA certificates of -ca (the
// system's without it), host name included; -cert and -key present a
// client certificate, for a server that asks for one.
//
// It exits 1, saying why on stderr, on anything else or after -timeout
// (2s). It is deployment tooling for deploy/docker-compose.yml.
package main
