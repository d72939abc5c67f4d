// Command vulnreport judges what govulncheck found, for `make lint`
// (scripts/vulncheck.sh):
//
//	govulncheck -format json -db file://DIR ./... | vulnreport -accept scripts/vulncheck.accept
//
// It prints the database and Go version scanned, then every vulnerability
// that Weir's code calls, with the module version it is found in, the
// version that fixes it and one call path. It exits 1 if one of them is
// not accepted. The accept file lists, one a line, a vulnerability ID and
// why it is accepted, for a vulnerability no served version fixes (one
// fixed only in a Go release newer than the toolchain the project builds
// with, say):
//
//	GO-2026-6809  crypto/x509: fixed in go1.26.10; the toolchain here is go1.26.8
//
// '#' starts a comment. An accepted ID that is no longer found is reported
// so that the line can go. Vulnerabilities in modules Weir requires but
// does not call are counted, not failed: govulncheck itself reports them
// only as information.
package main
