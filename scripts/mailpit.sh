#!/usr/bin/env bash
# mailpit.sh prints the path of the pinned Mailpit binary, building it first
# if it is missing. Mailpit is the real SMTP server (with an HTTP API to read
# what it received) used by the mail tests (see internal/mailpit).
#
# The version is pinned below. The binary is cached outside the repository at
#   ${SHARESVC_MAILPIT:-${XDG_CACHE_HOME:-$HOME/.cache}/sharesvc/mailpit-<version>}
# so it is rebuilt only when the pin changes (or when SHARESVC_MAILPIT names a
# path that does not exist yet).
#
# Only the path goes to stdout; progress goes to stderr. Usage:
#   mailpit="$(scripts/mailpit.sh)"
set -euo pipefail

module="github.com/axllent/mailpit"
version="v1.33.1"

bin="${SHARESVC_MAILPIT:-${XDG_CACHE_HOME:-$HOME/.cache}/sharesvc/mailpit-$version}"

# build installs Mailpit into the directory $1. Outside any module, so that
# the pin is exactly $version and this repository's go.mod is untouched.
build() {
	echo "mailpit.sh: building $module@$version into $bin (about a minute on 2 cores)"
	(cd "$1" && GOBIN="$1" GOFLAGS=-trimpath go install "$module@$version")
}

source "$(dirname -- "${BASH_SOURCE[0]}")/toolcache.sh"
toolcache_build "$bin" "$module@$version" mailpit build
