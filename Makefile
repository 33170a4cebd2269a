# sharesvc — the two README commands are `make demo` and `make test`.
# Everything a target needs is installed or built by the target itself.

GO ?= go
export CGO_ENABLED ?= 1

.PHONY: demo test lint build tools promtool bench fuzz crash faults

## demo: start a local S3+STS server and sharesvc, print a working link
demo: tools
	$(GO) run ./cmd/sharesvc demo

# The behaviour suites that run a second time with every database on PostgreSQL
# (internal/testrig/testdb); the first run is on SQLite.
POSTGRES_SUITES = ./internal/server/ ./internal/app/ ./internal/web/ ./internal/links/ ./internal/audit/ \
	./internal/auth/ ./internal/grants/ ./internal/health/ ./cmd/sharesvc/

## test: every test, against the real S3+STS server (what CI runs)
test: tools promtool
	$(GO) vet ./...
	@test -z "$$(gofmt -l . | tee /dev/stderr)" || { echo "gofmt: files above need formatting"; exit 1; }
	$(GO) test -race -count=1 -timeout 20m ./...
	SHARESVC_TEST_DB=postgres $(GO) test -race -count=1 -timeout 20m $(POSTGRES_SUITES)

## build: a static binary in bin/
build:
	CGO_ENABLED=0 $(GO) build -trimpath -o bin/sharesvc ./cmd/sharesvc

## tools: build (once) and cache the pinned SeaweedFS used as local S3+STS, and Mailpit
## (the real SMTP server of the mail tests)
tools:
	@scripts/seaweedfs.sh >/dev/null
	@scripts/mailpit.sh >/dev/null

## promtool: install promtool (Debian package prometheus) to check deploy/prometheus/alerts.yml,
## and curl, which the upload tests drive, and Chromium, which the web console's browser tests drive.
## Debian ships it only inside the server package; on a host with systemd that also starts a
## Prometheus service, which CI containers do not have. Also PostgreSQL's server binaries
## (scripts/postgres.sh), from which the tests start throwaway clusters.
promtool:
	@command -v promtool >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null)
	@command -v curl >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends curl >/dev/null)
	@command -v chromium >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null)
	@scripts/postgres.sh

## bench: sharesvc's redirect path vs a bare net/http 302, side by side (see docs/performance.md)
bench: tools
	@command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq --no-install-recommends wrk)
	$(GO) run ./bench/loadtest $(BENCH_FLAGS)

## fuzz: run each fuzz target for FUZZTIME (default 60s); `make test` runs their seed corpora
FUZZTIME ?= 60s
# Minimizing each new input may take up to a minute by default, during which nothing is
# fuzzed: short runs then spend most of their time minimizing.
FUZZMINIMIZETIME ?= 5s
FUZZFLAGS = -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZETIME)
fuzz:
	$(GO) test ./internal/links -run '^$$' -fuzz '^FuzzValidCode$$' $(FUZZFLAGS)
	$(GO) test ./internal/sts -run '^$$' -fuzz '^FuzzPresignKey$$' $(FUZZFLAGS)
	$(GO) test ./internal/audit -run '^$$' -fuzz '^FuzzCanonicalInjective$$' $(FUZZFLAGS)
	$(GO) test ./internal/server -run '^$$' -fuzz '^FuzzDecodeJSON$$' $(FUZZFLAGS)

## crash: the crash test's long variant: SIGKILL the real binary under load CRASH_CYCLES times
## (default 50; make test runs 4), checking integrity_check and the audit chain after each kill
CRASH_CYCLES ?= 50
crash: tools
	CRASH_CYCLES=$(CRASH_CYCLES) $(GO) test ./cmd/sharesvc -run '^TestCrashKeepsEveryRedirectAudited$$' -count=1 -v -timeout 60m

## faults: every fault and abuse test (STS/S3 outages, full/read-only database, clock skew,
## revocation under load, slow clients, oversized requests, Location steering), verbose, then crash
faults: tools
	$(GO) test ./internal/sts -run '^TestSignerRefusesSkewedClock$$' -count=1 -v
	$(GO) test ./internal/server -run '^(TestRevocationUnderLoad|TestSTSOutage|TestDatabaseFullOrReadOnly|TestClockSkewFailsClosed|TestBadInputsFromFieldNotes)$$' -count=1 -v
	$(GO) test ./cmd/sharesvc -run '^(TestSlowClientsAreCutOff|TestOversizedRequestsRefused|TestLocationHostCannotBeSteered)$$' -count=1 -v
	$(MAKE) crash
