# sharesvc — the two README commands are `make demo` and `make test`.
# Everything a target needs is installed or built by the target itself.

GO ?= go
export CGO_ENABLED ?= 1

.PHONY: demo test lint build image tools promtool deploytools bench bench-postgres fuzz crash faults screenshots

## demo: start a local S3+STS server and sharesvc, print a working link
demo: tools
	$(GO) run ./cmd/sharesvc demo

# The behaviour suites that run a second time with every database on PostgreSQL
# (internal/testrig/testdb); the first run is on SQLite.
POSTGRES_SUITES = ./internal/server/ ./internal/people/ ./internal/janitor/ ./internal/app/ ./internal/web/ ./internal/links/ ./internal/audit/ \
	./internal/auth/ ./internal/grants/ ./internal/health/ ./cmd/sharesvc/
# Tests that choose their engines themselves whatever SHARESVC_TEST_DB says (three instances on
# PostgreSQL, SQLite to PostgreSQL, the SQLite file's crash, backup and restore): the first
# run has run them, so the PostgreSQL run leaves them out rather than repeat them.
POSTGRES_SUITES_SKIP = ^(TestThreeInstances|TestMigrate|TestInstancesDivideRateLimits|TestRestore|TestBackup|TestCrashKeepsEveryRedirectAudited)

## test: every test, against the real S3+STS server (what CI runs)
test: tools promtool deploytools
	$(GO) vet ./...
	@test -z "$$(gofmt -l . | tee /dev/stderr)" || { echo "gofmt: files above need formatting"; exit 1; }
	$(GO) test -race -count=1 -timeout 30m ./...
	SHARESVC_TEST_DB=postgres $(GO) test -race -count=1 -timeout 30m -skip '$(POSTGRES_SUITES_SKIP)' $(POSTGRES_SUITES)

## build: a static binary in bin/ (or BIN), stamped with the commit; the same commit gives
## the same bytes. The go command records the revision itself only in a plain clone, not in
## a git worktree nor under GOFLAGS=-buildvcs=false, so the stamp goes in through -ldflags
## (read by internal/buildinfo), the same way everywhere.
BIN ?= bin/sharesvc
GIT_REVISION = $(shell git rev-parse HEAD 2>/dev/null)
GIT_DESCRIBE = $(shell git describe --tags --always --dirty 2>/dev/null)
BUILDINFO = github.com/sharesvc/sharesvc/internal/buildinfo
BUILD_LDFLAGS = -X $(BUILDINFO).version=$(GIT_DESCRIBE) -X $(BUILDINFO).revision=$(GIT_REVISION) \
	-X $(BUILDINFO).modified=$(if $(filter %-dirty,$(GIT_DESCRIBE)),true,false)
build:
	CGO_ENABLED=0 $(GO) build -trimpath -buildvcs=false -ldflags '$(BUILD_LDFLAGS)' -o $(BIN) ./cmd/sharesvc

## image: the container image (Containerfile) around $(BIN), built offline with buildah
## as $(IMAGE). Labels carry the version and revision; its time is the commit's
## (SOURCE_DATE_EPOCH), so the same commit gives the same image.
IMAGE ?= localhost/sharesvc:$(or $(GIT_DESCRIBE),dev)
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 0)
IMAGE_CONTEXT ?= bin/image
image: build deploytools
	rm -rf $(IMAGE_CONTEXT) && mkdir -p $(IMAGE_CONTEXT)/rootfs/tmp $(IMAGE_CONTEXT)/rootfs/var/lib $(IMAGE_CONTEXT)/state/sharesvc
	chmod 1777 $(IMAGE_CONTEXT)/rootfs/tmp && chmod 0700 $(IMAGE_CONTEXT)/state/sharesvc
	cp $(BIN) $(IMAGE_CONTEXT)/sharesvc && cp /etc/ssl/certs/ca-certificates.crt $(IMAGE_CONTEXT)/
	buildah build --quiet --timestamp $(SOURCE_DATE_EPOCH) -f Containerfile -t $(IMAGE) \
		--build-arg VERSION=$(or $(GIT_DESCRIBE),unknown) --build-arg REVISION=$(or $(GIT_REVISION),unknown) \
		--build-arg CREATED=$$(date -u -d @$(SOURCE_DATE_EPOCH) +%Y-%m-%dT%H:%M:%SZ) \
		--annotation org.opencontainers.image.version=$(or $(GIT_DESCRIBE),unknown) \
		--annotation org.opencontainers.image.revision=$(or $(GIT_REVISION),unknown) \
		--annotation org.opencontainers.image.created=$$(date -u -d @$(SOURCE_DATE_EPOCH) +%Y-%m-%dT%H:%M:%SZ) \
		--annotation org.opencontainers.image.source=https://github.com/sharesvc/sharesvc \
		$(IMAGE_CONTEXT)

## tools: build (once) and cache the pinned SeaweedFS used as local S3+STS, Mailpit
## (the real SMTP server of the mail tests) and Litestream (replication to S3, the restore drill)
tools:
	@scripts/seaweedfs.sh >/dev/null
	@scripts/mailpit.sh >/dev/null
	@scripts/litestream.sh >/dev/null

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

## screenshots: regenerate docs/screenshots: every console page at desktop (1280 px) and phone
## (390 px) width, on demo data, by the browser test that holds the pages to those widths
screenshots: tools
	@command -v chromium >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null)
	mkdir -p docs/screenshots
	SHARESVC_SCREENSHOTS=$(CURDIR)/docs/screenshots $(GO) test -count=1 -run '^TestConsoleFitsPhoneWidth$$' ./internal/server/

## alert-rules: print deploy/prometheus/alerts.yml with its runbook links under RUNBOOK_BASE
## (your copy of README.md), e.g. make -s alert-rules RUNBOOK_BASE=https://wiki.example.com/sharesvc/README.md
.PHONY: alert-rules
alert-rules:
	@scripts/alert-rules.sh "$(RUNBOOK_BASE)"

## deploytools: buildah, which `make image` and the image test use, and systemd-analyze
## (Debian package systemd), with which the tests check deploy/systemd/sharesvc.service.
deploytools:
	@command -v buildah >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends buildah >/dev/null)
	@command -v systemd-analyze >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends systemd >/dev/null)

## bench: sharesvc's redirect path vs a bare net/http 302, side by side (see docs/performance.md)
bench: tools
	@command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq --no-install-recommends wrk)
	$(GO) run ./bench/loadtest $(BENCH_FLAGS)

## bench-postgres: the same, plus sharesvc on a throwaway PostgreSQL with one and with three
## instances (the audit row committed with synchronous_commit=on before each 302)
bench-postgres: tools
	@command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq --no-install-recommends wrk)
	@scripts/postgres.sh
	$(GO) run ./bench/loadtest -postgres $(BENCH_FLAGS)

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
