// Command vulndb builds the Go vulnerability database that `make lint`
// gives govulncheck (-db file://DIR), from the golang.org/x/vulndb module
// served by the Go module proxy, so no other host is needed:
//
//	vulndb -version v0.0.0-20261105234957-e22db6528018 -out .cache/vulndb
//	vulndb -src DIR/data/osv -modified 2026-11-05T23:49:57Z -out DIR2
//
// The first form downloads the module (go mod download -json) and indexes
// its data/osv; the second indexes a directory of OSV entries. DIR is laid
// out as the database's v1 HTTP API (https://go.dev/security/vuln/database#api),
// which is what govulncheck reads from a file:// URL:
//
//	index/db.json       {"modified": TIME}
//	index/modules.json  [{"path": MODULE, "vulns": [{"id", "modified"}]}], by path
//	index/vulns.json    [{"id", "modified", "aliases"}], by ID
//	ID/GO-YYYY-NNNN.json  each OSV entry, as the module holds it
//
// The module's entries carry no modification time (the served database
// takes it from the repository's history), so index/db.json's "modified"
// is the time of the module version: the database's date, which
// govulncheck prints. The modules index leaves out each vulnerability's
// "fixed" version, an optional hint: without it govulncheck reads every
// entry of a module it uses and decides from the entry's version ranges.
//
// DIR/weir-vulndb.json records the module version a DIR was built from; a
// DIR already built from -version is left as it is. A DIR is built beside
// the old one and renamed into place, so a reader never sees half of one.
// It is build tooling for `make lint` (scripts/vulncheck.sh).
package main
