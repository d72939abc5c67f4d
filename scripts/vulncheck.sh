#!/usr/bin/env bash
# govulncheck over Weir's code, with the vulnerability database built from
# the Go module proxy (the last step of `make lint`). Both are pinned:
#
#   govulncheck  golang.org/x/vuln/cmd/govulncheck@$GOVULNCHECK_VERSION, installed
#                into .cache/bin (go install, once per version)
#   database     golang.org/x/vulndb@$VULNDB_VERSION, indexed by tools/vulndb into
#                .cache/vulndb (once per version); its date is printed
#
# tools/vulnreport reads govulncheck's findings: a vulnerability that Weir's
# code calls fails the check unless scripts/vulncheck.accept accepts it with
# a reason (one that no served version fixes). To take a newer database,
# change VULNDB_VERSION to a newer pseudo-version of golang.org/x/vulndb.
set -euo pipefail
cd "$(dirname "$0")/.."

GOVULNCHECK_VERSION=v1.9.0
VULNDB_VERSION=v0.0.0-20261105234957-e22db6528018

cache="$PWD/.cache"
bin="$cache/bin/govulncheck"
mkdir -p "$cache/bin"

# The build of govulncheck is static and version-stamped: reinstall when
# the pin changes.
if ! [ -x "$bin" ] || ! go version -m "$bin" 2>/dev/null | grep -q "^[[:space:]]*mod[[:space:]]*golang.org/x/vuln[[:space:]]*$GOVULNCHECK_VERSION[[:space:]]"; then
  echo "vulncheck: installing govulncheck $GOVULNCHECK_VERSION into $cache/bin" >&2
  GOBIN="$cache/bin" GOFLAGS= CGO_ENABLED=0 go install "golang.org/x/vuln/cmd/govulncheck@$GOVULNCHECK_VERSION"
fi

go run ./tools/vulndb -version "$VULNDB_VERSION" -out "$cache/vulndb"

out="$(mktemp "${TMPDIR:-/tmp}/weir-vulncheck.XXXXXX")"
trap 'rm -f "$out"' EXIT
# govulncheck exits 0 with -format json whatever it finds; vulnreport judges.
"$bin" -format json -db "file://$cache/vulndb" ./... >"$out"
go run ./tools/vulnreport -accept scripts/vulncheck.accept <"$out"
