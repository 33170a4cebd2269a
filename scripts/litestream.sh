#!/usr/bin/env bash
# litestream.sh prints the path of the pinned Litestream binary, building it
# first if it is missing. Litestream replicates a SQLite database to S3
# continuously; the restore drill test (cmd/sharesvc) runs it against the
# local SeaweedFS, and deploy/litestream/ shows it in production.
#
# The version is pinned below (and in internal/testrig/litestream, which a
# test keeps equal). The binary is cached outside the repository at
#   ${SHARESVC_LITESTREAM:-${XDG_CACHE_HOME:-$HOME/.cache}/sharesvc/litestream-<version>}
# so it is rebuilt only when the pin changes (or when SHARESVC_LITESTREAM
# names a path that does not exist yet).
#
# Only the path goes to stdout; progress goes to stderr. Usage:
#   litestream="$(scripts/litestream.sh)"
set -euo pipefail

module="github.com/benbjohnson/litestream"
version="v0.5.18"

bin="${SHARESVC_LITESTREAM:-${XDG_CACHE_HOME:-$HOME/.cache}/sharesvc/litestream-$version}"

# build installs Litestream's command into the directory $1. Outside any
# module, so that the versions are exactly the ones Litestream's own go.mod
# pins and this repository's go.mod is untouched; with the local Go (its
# go.mod names a newer toolchain, which is not needed to build it); static,
# as its SQLite is modernc's pure Go one.
build() {
	echo "litestream.sh: building $module/cmd/litestream@$version into $bin (a few minutes on 2 cores)"
	(cd "$1" && GOBIN="$1" GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-trimpath \
		go install "$module/cmd/litestream@$version")
}

source "$(dirname -- "${BASH_SOURCE[0]}")/toolcache.sh"
toolcache_build "$bin" "$module@$version" litestream build
