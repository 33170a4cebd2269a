# sharesvc — the two README commands are `make demo` and `make test`.
# Everything a target needs is installed or built by the target itself.

GO ?= go
export CGO_ENABLED ?= 1

.PHONY: demo test lint build tools

## demo: start a local S3+STS server and sharesvc, print a working link
demo: tools
	$(GO) run ./cmd/sharesvc demo

## test: every test, against the real S3+STS server (what CI runs)
test: tools
	$(GO) vet ./...
	@test -z "$$(gofmt -l . | tee /dev/stderr)" || { echo "gofmt: files above need formatting"; exit 1; }
	$(GO) test -race -count=1 -timeout 20m ./...

## build: a static binary in bin/
build:
	CGO_ENABLED=0 $(GO) build -trimpath -o bin/sharesvc ./cmd/sharesvc

## tools: build (once) and cache the pinned SeaweedFS used as local S3+STS
tools:
	@scripts/seaweedfs.sh >/dev/null
