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

if [[ -x "$bin" ]]; then
	printf '%s\n' "$bin"
	exit 0
fi

command -v go >/dev/null 2>&1 || {
	echo "mailpit.sh: the go command is needed to build $module@$version" >&2
	exit 1
}

mkdir -p -- "$(dirname -- "$bin")"

# One build at a time: a second caller waits for the first and reuses its
# binary.
if command -v flock >/dev/null 2>&1; then
	exec 9>"$bin.lock"
	if ! flock -n 9; then
		echo "mailpit.sh: another build of $bin is running; waiting for it" >&2
		flock 9
	fi
	if [[ -x "$bin" ]]; then
		printf '%s\n' "$bin"
		exit 0
	fi
fi

gobin="$(mktemp -d "$bin.tmp.XXXXXX")"
trap 'rm -rf -- "$gobin"' EXIT

echo "mailpit.sh: building $module@$version into $bin (about a minute on 2 cores)" >&2
start=$SECONDS
# Outside any module, so that the pin is exactly $version and this
# repository's go.mod is untouched.
(cd "$gobin" && GOBIN="$gobin" GOFLAGS=-trimpath go install "$module@$version") >&2
mv -f -- "$gobin/mailpit" "$bin"
chmod 0755 "$bin"
echo "mailpit.sh: built in $((SECONDS - start))s" >&2
printf '%s\n' "$bin"
