// Package integration holds the tests that run Weir as its users do: the
// real jobmanager, taskmanager and weir binaries as separate processes on
// loopback, talking real gRPC. TestMain builds the binaries once.
package integration
