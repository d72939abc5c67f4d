#!/usr/bin/env bash
# Makes headless Chromium available for the dashboard's browser test: prints
# the path of a chromium binary on stdout, installing Debian's `chromium`
# package with apt-get when there is none. Progress goes to stderr. Fails
# when it cannot install (not root and no sudo, or no package repository).
set -euo pipefail

for name in chromium chromium-browser; do
  if path=$(command -v "$name"); then
    echo "$path"
    exit 0
  fi
done

sudo=""
if [ "$(id -u)" != 0 ]; then
  if ! command -v sudo >/dev/null || ! sudo -n true 2>/dev/null; then
    echo "chromium: not installed, and installing it needs root (apt-get install chromium)" >&2
    exit 1
  fi
  sudo="sudo -n"
fi
if ! command -v apt-get >/dev/null; then
  echo "chromium: not installed, and there is no apt-get to install Debian's chromium package" >&2
  exit 1
fi
echo "chromium: installing Debian's chromium package" >&2
# One installer at a time: parallel test binaries may all get here.
exec 9>/tmp/weir-chromium-install.lock
flock 9
if ! command -v chromium >/dev/null; then
  $sudo apt-get update -q >&2
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends chromium fonts-dejavu-core >&2
fi
command -v chromium
