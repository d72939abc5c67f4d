#!/usr/bin/env bash
# Certificates and bearer tokens of the compose stack (`make certs`, run by
# `make up`; scripts/e2e.sh runs it on a directory of its own):
#
#   bash scripts/certs.sh [DIR]    # default deploy/certs
#
# writes with `weir certs` a development CA, the jobmanager's, the
# taskmanagers' and a client's certificates (SANs: jobmanager,
# taskmanager-1, taskmanager-2, localhost, 127.0.0.1, ::1) and a tokens
# file with a random admin and viewer token (also in admin.token and
# viewer.token, for the CLI). A DIR that has them already is kept: delete
# it for new ones (then make down && make up).
#
# Keys and tokens are mode 0600. The containers run as uid 65532, so the
# files they read (jobmanager-key.pem, taskmanager-key.pem, tokens) are
# given to that uid: chown as root, or through `sudo -n` where that works
# without a password. Otherwise they are made readable by every local user
# instead (0644), which is said. The CA's key, the client's key and the
# .token files stay the caller's, 0600; no container mounts them.
set -euo pipefail
cd "$(dirname "$0")/.."

dir="${1:-deploy/certs}"
uid=65532
log() { echo "certs: $*" >&2; }

if [ -f "$dir/ca.pem" ]; then
  log "using the certificates and tokens in $dir (delete the directory for new ones)"
else
  if ! [ -x bin/weir ]; then
    log "building bin/weir"
    CGO_ENABLED=0 go build -o bin/weir ./cmd/weir
  fi
  ./bin/weir certs --out "$dir" --host jobmanager,taskmanager-1,taskmanager-2,localhost,127.0.0.1,::1 >/dev/null
  log "wrote a CA, certificates and tokens into $dir"
fi

container_files=("$dir/jobmanager-key.pem" "$dir/taskmanager-key.pem" "$dir/tokens")
owned() { [ "$(stat -c %u "$1")" = "$uid" ]; }
all_owned=1
for f in "${container_files[@]}"; do owned "$f" || all_owned=0; done
if [ "$all_owned" = 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    chown "$uid:$uid" "${container_files[@]}"
  elif sudo -n true 2>/dev/null; then
    sudo -n chown "$uid:$uid" "${container_files[@]}"
  else
    chmod 0644 "${container_files[@]}"
    log "warning: cannot give ${container_files[*]} to uid $uid (not root, no sudo): made them readable by every local user instead"
  fi
fi
