#!/usr/bin/env bash
# Builds the MinIO server that the s3 object store's tests run against, from
# the Go module proxy (no container registry), into .cache/bin/minio. Prints
# the binary's path on stdout; progress goes to stderr. Safe to run from many
# test binaries at once: a lock file makes one of them build and the others
# wait for it.
#
# The version is pinned: MinIO's answer to a conditional PUT (If-None-Match: *)
# has changed between releases (304 in old ones, 412 now), and the s3 store's
# PutIfAbsent depends on it.
set -euo pipefail
cd "$(dirname "$0")/.."

version="v0.0.0-20260212201848-7aac2a2c5b7c"
cache="$PWD/.cache"
bin="$cache/bin/minio"

if [ -x "$bin" ]; then
  echo "$bin"
  exit 0
fi

mkdir -p "$cache/bin"
exec 9>"$cache/minio.lock"
if ! flock -n 9; then
  echo "minio: another process is building MinIO; waiting for it" >&2
  flock 9
fi
if [ -x "$bin" ]; then # built while we waited
  echo "$bin"
  exit 0
fi

# Build into a private directory and rename, so nobody ever sees a half-written
# binary at $bin.
tmp="$(mktemp -d "$cache/minio-build.XXXXXX")"
ticker=""
cleanup() {
  [ -n "$ticker" ] && kill "$ticker" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

echo "minio: building github.com/minio/minio@$version into $bin (takes 2-5 minutes, once)" >&2
start=$SECONDS
# The ticker must not hold the lock (fd 9) or, through a lingering sleep, the
# caller's stderr pipe.
(
  exec 9>&-
  while sleep 15 </dev/null >/dev/null 2>&1; do echo "minio: still building ($((SECONDS - start))s)" >&2; done
) &
ticker=$!

# A static binary, and none of the caller's build settings (a test run's
# GOFLAGS=-race, say, needs cgo).
CGO_ENABLED=0 GOFLAGS= GOWORK=off GOBIN="$tmp" go install "github.com/minio/minio@$version" >&2

mv "$tmp/minio" "$bin"
echo "minio: built $bin in $((SECONDS - start))s" >&2
echo "$bin"
