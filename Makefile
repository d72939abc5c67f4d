# Weir's build. `make run` counts the words of a bundled text on a local
# cluster; `make test` is what CI runs.

GO      ?= go
BIN     := $(CURDIR)/bin
CACHE   := $(CURDIR)/.cache
export CGO_ENABLED ?= 0

.PHONY: all build run test test-short proto lint bench clean

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

## test: every test: unit tests with -race and invariants, integration tests with real processes
test:
	CGO_ENABLED=1 $(GO) test -race -tags invariants -timeout 20m ./...

## test-short: unit tests only
test-short:
	CGO_ENABLED=1 $(GO) test -race -tags invariants -short ./...

## proto: regenerate api/proto Go code (protoc from Debian, plugins from the Go module proxy)
proto:
	bash scripts/proto.sh

## lint: go vet and gofmt
lint:
	$(GO) vet ./...
	@out=$$(gofmt -l $$(git ls-files '*.go' | grep -v '\.pb\.go$$')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

clean:
	rm -rf $(BIN) out
