#!/usr/bin/env bash
# The end-to-end part of `make test`: runs scripts/e2e.sh (the compose stack
# through a taskmanager crash) when a Docker engine is reachable, and says so
# plainly when it is not. WEIRTEST_REQUIRE_DOCKER=1 (CI sets it) turns the
# skip into a failure, so CI always runs it.
set -uo pipefail
cd "$(dirname "$0")/.."
if ! docker info >/dev/null 2>&1; then
  if [ "${WEIRTEST_REQUIRE_DOCKER:-}" = 1 ]; then
    echo "e2e: FAIL: no Docker engine reachable, and WEIRTEST_REQUIRE_DOCKER=1 requires it" >&2
    echo "e2e: 0 passed, 1 failed"
    exit 1
  fi
  echo "e2e: SKIPPED: no Docker engine reachable (the compose walkthrough did not run; set WEIRTEST_REQUIRE_DOCKER=1 to require it)"
  exit 0
fi
if bash scripts/e2e.sh; then
  echo "e2e: 1 passed, 0 failed"
else
  echo "e2e: 0 passed, 1 failed"
  exit 1
fi
