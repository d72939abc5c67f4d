#!/usr/bin/env bash
# Runs every fuzz target of Weir's decoders of untrusted or persisted bytes
# for FUZZTIME each (default 1s), after the seed corpora in testdata/fuzz
# that plain `go test` runs. A failure leaves the crashing input in the
# target's testdata/fuzz directory, to be committed with the fix.
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
for t in "${targets[@]}"; do
	pkg=${t%%:*} name=${t#*:}
	echo "== $name ($pkg, $FUZZTIME)"
	go test -run '^$' -fuzz "^${name}\$" -fuzztime "$FUZZTIME" "$pkg" 2>&1 | tail -n 3
done
