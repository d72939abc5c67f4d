#!/usr/bin/env bash
# Builds the container images that deploy/docker-compose.yml runs, from our
# own static binaries and FROM scratch, so no registry is needed (`make
# images`):
#
#   weir:dev             jobmanager, taskmanager, weir, s3init, healthcheck (deploy/Dockerfile)
#   minio/minio:latest   stand-in: MinIO built from source by scripts/minio.sh
#   apache/kafka:latest  stand-in: tools/kafkabroker, franz-go's kfake (test tooling)
#
# The stand-ins carry the official images' names so that one compose file
# works both here and where the official images can be pulled. A stand-in
# never replaces an official image already present under its name (one
# without our org.weirstream.standin label); STANDINS=0 skips them, and
# STANDINS=force replaces whatever is there.
#
# Each image is built with `docker build` from a temporary context that holds
# only what it copies (never the repo, whose .cache holds gigabytes).
set -euo pipefail
cd "$(dirname "$0")/.."

standins="${STANDINS:-1}"
start=$SECONDS
log() { echo "images: $*" >&2; }
die() { log "error: $*"; exit 1; }

command -v docker >/dev/null || die "docker is not installed"
docker info >/dev/null 2>&1 || die "cannot reach the Docker daemon (docker info failed)"

ctx="$(mktemp -d "${TMPDIR:-/tmp}/weir-images.XXXXXX")"
trap 'rm -rf "$ctx"' EXIT

# static fails unless the Go binary $1 was built with CGO_ENABLED=0: FROM
# scratch has no libc to load.
static() {
  go version -m "$1" | grep -q 'CGO_ENABLED=0' || die "$1 is not a static (CGO_ENABLED=0) Go binary"
}

# rootfs DIR: the skeleton every image shares: /tmp (1777), /etc/passwd and
# /etc/group, and the CA bundle if this machine has one.
rootfs() {
  mkdir -p "$1/tmp" "$1/etc/ssl/certs"
  chmod 1777 "$1/tmp"
  printf 'root:x:0:0:root:/root:/sbin/nologin\nweir:x:65532:65532:weir:/var/lib/weir:/sbin/nologin\n' >"$1/etc/passwd"
  printf 'root:x:0:\nweir:x:65532:\n' >"$1/etc/group"
  if [ -f /etc/ssl/certs/ca-certificates.crt ]; then
    cp /etc/ssl/certs/ca-certificates.crt "$1/etc/ssl/certs/"
  else
    log "warning: no /etc/ssl/certs/ca-certificates.crt here; the images will not trust https endpoints"
  fi
}

# build TAG DOCKERFILE CONTEXT. Docker's output (and the legacy builder's
# deprecation notice, where buildx is missing) is shown only on failure.
# The image TAG named before is removed if nothing else uses it, so
# rebuilding leaves no dangling images behind.
build() {
  log "building $1"
  local old
  old="$(docker image inspect --format '{{.Id}}' "$1" 2>/dev/null || true)"
  if ! docker build --tag "$1" --file "$2" "$3" >"$ctx/build.log" 2>&1; then
    cat "$ctx/build.log" >&2
    die "docker build of $1 failed"
  fi
  if [ -n "$old" ] && [ "$old" != "$(docker image inspect --format '{{.Id}}' "$1")" ]; then
    docker rmi "$old" >/dev/null 2>&1 || true
  fi
}

# replaceable TAG: whether a stand-in may take TAG.
replaceable() {
  [ "$standins" = force ] && return 0
  docker image inspect "$1" >/dev/null 2>&1 || return 0
  local label
  label="$(docker image inspect --format '{{index .Config.Labels "org.weirstream.standin"}}' "$1")"
  if [ -z "$label" ] || [ "$label" = "<no value>" ]; then
    log "$1 is present and is not our stand-in (the official image?): leaving it (STANDINS=force replaces it)"
    return 1
  fi
}

log "building static binaries (CGO_ENABLED=0)"
CGO_ENABLED=0 GOFLAGS='' make --no-print-directory build CGO_ENABLED=0 >&2
mkdir -p "$ctx/weir/rootfs" "$ctx/weir/datadir"
rootfs "$ctx/weir/rootfs"
cp bin/jobmanager bin/taskmanager bin/weir "$ctx/weir/rootfs/"
CGO_ENABLED=0 GOFLAGS='' go build -trimpath -ldflags='-s -w' -o "$ctx/weir/rootfs/" ./tools/s3init ./tools/healthcheck
for b in jobmanager taskmanager weir s3init healthcheck; do static "$ctx/weir/rootfs/$b"; done
build weir:dev deploy/Dockerfile "$ctx/weir"
built=(weir:dev)

if [ "$standins" != 0 ]; then
  if replaceable minio/minio:latest; then
    minio="$(scripts/minio.sh)"
    static "$minio"
    mkdir -p "$ctx/minio/rootfs/data" "$ctx/minio/rootfs/root"
    rootfs "$ctx/minio/rootfs"
    cp "$minio" "$ctx/minio/rootfs/minio"
    build minio/minio:latest deploy/standins/minio.Dockerfile "$ctx/minio"
    built+=(minio/minio:latest)
  fi
  if replaceable apache/kafka:latest; then
    mkdir -p "$ctx/kafka/rootfs"
    rootfs "$ctx/kafka/rootfs"
    CGO_ENABLED=0 GOFLAGS='' go build -trimpath -ldflags='-s -w' -o "$ctx/kafka/rootfs/kafkabroker" ./tools/kafkabroker
    static "$ctx/kafka/rootfs/kafkabroker"
    build apache/kafka:latest deploy/standins/kafka.Dockerfile "$ctx/kafka"
    built+=(apache/kafka:latest)
  fi
fi

log "built in $((SECONDS - start))s:"
for t in "${built[@]}"; do
  read -r id size < <(docker image inspect --format '{{.Id}} {{.Size}}' "$t")
  printf '%-20s %s %4d MB\n' "$t" "${id:7:12}" "$((size / 1000000))"
done
