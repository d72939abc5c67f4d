# Weir's build. `make run` counts the words of a bundled text on a local
# cluster; `make test` is what CI runs.

GO      ?= go
BIN     := $(CURDIR)/bin
CACHE   := $(CURDIR)/.cache
export CGO_ENABLED ?= 0
# go.mod's toolchain line names the Go release Weir is built and tested with
# (the newest patch release of its Go, for the standard library's security
# fixes). With auto, a go command older than that fetches it from the module
# proxy once and runs it; a machine whose go.env says local would otherwise
# build with whatever Go it has.
export GOTOOLCHAIN ?= auto

.PHONY: all build run test fuzz test-short proto lint bench clean

all: build

## build: the jobmanager, taskmanager and weir binaries, in ./bin (static)
build:
	$(GO) build -o $(BIN)/ ./cmd/...

## run: WordCount over a bundled text on a local cluster (one jobmanager, two taskmanagers)
run: build
	@mkdir -p out
	$(BIN)/weir local --taskmanagers 2 --slots 1 -p 2 wordcount --input examples/wordcount/data/hamlet.txt --output - > out/wordcount.txt
	@echo "== most frequent words (word,count) =="
	@awk -F, '{ sub(/^[0-9]+> /, ""); if ($$2 > c[$$1]) c[$$1] = $$2 } END { for (w in c) print c[w] "\t" w }' out/wordcount.txt | sort -k1,1nr -k2 | head -10

## test: every test: unit tests with -race and invariants (and the heap backend's again without -race, whose allocation counts it changes), integration tests with real processes, lint (vet, gofmt, govulncheck), and the compose end-to-end test when Docker is reachable
test:
	CGO_ENABLED=1 $(GO) test -race -tags invariants -timeout 20m ./...
	$(GO) test -count=1 -tags invariants ./internal/statebackend/heap/
	$(MAKE) --no-print-directory lint
	bash scripts/fuzz.sh
	bash scripts/test-e2e.sh

## fuzz: every fuzz target for FUZZTIME (1s) each, after its seed corpus (testdata/fuzz)
fuzz:
	bash scripts/fuzz.sh

## test-short: unit tests only
test-short:
	CGO_ENABLED=1 $(GO) test -race -tags invariants -short ./...

## bench: the performance suite (a quarter of an hour on two quiet cores, more on a busy machine), printed as one table of every figure, its ratio and its target (docs/benchmarks.md); BENCHFLAGS=-short for a smoke test with tiny inputs, BENCHFLAGS='-steps state -state-mb 1024 -state-snapshots incremental' for the checkpointing targets' 1 GB (incremental checkpoints, three runs: about 40 minutes)
bench:
	@mkdir -p out
	$(GO) run ./tools/benchtable -raw out/bench-raw.txt $(BENCHFLAGS)

## proto: regenerate api/proto Go code (protoc from Debian, plugins from the Go module proxy)
proto:
	bash scripts/proto.sh

## lint: go vet, gofmt, and govulncheck with the database of the Go module proxy (scripts/vulncheck.sh)
lint:
	$(GO) vet ./...
	@out=$$(gofmt -l $$(git ls-files '*.go' | grep -v '\.pb\.go$$')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	bash scripts/vulncheck.sh

clean:
	rm -rf $(BIN) out

# The compose stack (deploy/). COMPOSE is docker compose (v2) where it
# exists, else docker-compose (v1, Debian's).
.PHONY: images certs up down e2e
COMPOSE ?= $(shell docker compose version >/dev/null 2>&1 && echo "docker compose" || echo docker-compose)
COMPOSE_STACK = $(COMPOSE) -p weir -f deploy/docker-compose.yml

## images: weir:dev and the MinIO and Kafka stand-ins, FROM scratch, no registry needed (deploy/README.md)
images:
	bash scripts/images.sh

## certs: the stack's CA, certificates and tokens in deploy/certs, once (scripts/certs.sh; never committed)
certs:
	bash scripts/certs.sh deploy/certs

## up: the stack of deploy/docker-compose.yml (after make images), TLS and tokens on: MinIO, Kafka, a jobmanager, two taskmanagers
up: certs
	@mkdir -p deploy/data && chmod 0777 deploy/data && cp examples/wordcount/data/hamlet.txt deploy/data/
	$(COMPOSE_STACK) up -d
	@echo "client: export WEIR_TLS_CA=deploy/certs/ca.pem WEIR_TOKEN=\$$(cat deploy/certs/admin.token)"

## down: stop the stack and delete its volumes
down:
	$(COMPOSE_STACK) down -v

## e2e: build the images, run the stack, run WordCount through a taskmanager kill, tear down
e2e:
	bash scripts/e2e.sh
