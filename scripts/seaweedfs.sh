#!/usr/bin/env bash
# seaweedfs.sh prints the path of the pinned SeaweedFS `weed` binary, building
# it first if it is missing. The binary is the real local S3+STS server used by
# the demo and the tests (see internal/seaweed).
#
# The version is pinned in tools/seaweedfs/go.mod. The binary is cached outside
# the repository at
#   ${SHARESVC_WEED:-${XDG_CACHE_HOME:-$HOME/.cache}/sharesvc/weed-<version>}
# so it is rebuilt only when the pin changes (or when SHARESVC_WEED names a
# path that does not exist yet).
#
# Only the path goes to stdout; progress goes to stderr. Usage:
#   weed="$(scripts/seaweedfs.sh)"
set -euo pipefail

repo="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)"
tools="$repo/tools/seaweedfs"
module="github.com/seaweedfs/seaweedfs"

if [[ ! -f "$tools/go.mod" ]]; then
	echo "seaweedfs.sh: $tools/go.mod not found" >&2
	exit 1
fi

# The pinned version: the first `require` of the module, in either the
# single-line or the block form of go.mod.
version="$(awk -v m="$module" '
	$1 == "require" && $2 == m { print $3; exit }
	$1 == m && $2 ~ /^v/       { print $2; exit }
' "$tools/go.mod")"
if [[ -z "$version" ]]; then
	echo "seaweedfs.sh: no 'require $module' in $tools/go.mod" >&2
	exit 1
fi

bin="${SHARESVC_WEED:-${XDG_CACHE_HOME:-$HOME/.cache}/sharesvc/weed-$version}"

# build builds weed into the directory $1, with the versions tools/seaweedfs
# pins.
build() {
	echo "seaweedfs.sh: building $module/weed@$version into $bin"
	echo "seaweedfs.sh: the first build takes about 11 minutes on 2 cores; later runs reuse the cached binary"
	(cd "$tools" && go build -trimpath -o "$1/weed" "$module/weed")
}

source "$repo/scripts/toolcache.sh"
toolcache_build "$bin" "$module@$version" weed build
