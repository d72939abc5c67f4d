#!/usr/bin/env bash
# Runs every fuzz target of Weir's decoders of untrusted or persisted bytes
# for FUZZTIME each (default 1s), after the seed corpora in testdata/fuzz
# that plain `go test` runs. A failure leaves the crashing input in the
# target's testdata/fuzz directory, to be committed with the fix, and prints
# the whole output of the run.
#
# Go's fuzzing engine can end a run that found nothing with "context
# deadline exceeded" when -fuzztime expires while a worker is mid-input
# (golang/go#51484). A run that fails that way and writes no reproducer is
# run once more; a second failure of any kind fails the script.
set -euo pipefail
cd "$(dirname "$0")/.."
FUZZTIME=${FUZZTIME:-1s}
targets=(
	./internal/jobspec:FuzzDecode                # job specs (YAML)
	./internal/jobmanager:FuzzSubmitGraph        # job graphs (protobuf) as submitted
	./internal/checkpoint:FuzzDecodeMetadata     # _metadata
	./internal/checkpoint:FuzzDecodeSection      # state sections of checkpoint objects
	./internal/network:FuzzReader                # data-exchange buffers
	./internal/statebackend:FuzzDecodeSnapshot   # keyed state: keys and values
	./stream:FuzzCodecs                          # record codecs
	./connector/kafka:FuzzStateElements          # Kafka offsets and transactions in checkpoints
	./connector/file:FuzzStateElement            # file sink state in checkpoints
	./internal/security:FuzzParseTokens          # tokens files
)
out=$(mktemp)
trap 'rm -f "$out"' EXIT

# fuzz runs one target and prints the tail of its output, or all of it when
# it fails. It returns 0 when the run passed, 75 when it failed only at the
# -fuzztime deadline with no reproducer written, and 1 otherwise.
fuzz() {
	local pkg=$1 name=$2
	if go test -run '^$' -fuzz "^${name}\$" -fuzztime "$FUZZTIME" "$pkg" >"$out" 2>&1; then
		tail -n 3 "$out"
		return 0
	fi
	cat "$out"
	if grep -q 'context deadline exceeded' "$out" && ! grep -q 'Failing input written to' "$out"; then
		return 75
	fi
	return 1
}

for t in "${targets[@]}"; do
	pkg=${t%%:*} name=${t#*:}
	echo "== $name ($pkg, $FUZZTIME)"
	rc=0
	fuzz "$pkg" "$name" || rc=$?
	if [ "$rc" -eq 75 ]; then
		echo "== $name: the fuzzing engine stopped at its deadline without a finding; once more"
		rc=0
		fuzz "$pkg" "$name" || rc=$?
	fi
	if [ "$rc" -ne 0 ]; then
		echo "== $name failed"
		exit 1
	fi
done
