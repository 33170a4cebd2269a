# toolcache.sh is sourced, not run, by the scripts that build a pinned tool
# once into a cache outside the repository (seaweedfs.sh, mailpit.sh).

# toolcache_build BIN WHAT NAME BUILD prints BIN, the cached binary of WHAT
# (module@version, for messages), first building it if it is missing. BUILD,
# a command, is run with a fresh directory next to BIN as its argument and
# must leave the binary there as NAME; the binary is then moved into place,
# so an interrupted build never leaves a partial BIN. Only the path goes to
# stdout; progress and BUILD's output go to stderr.
toolcache_build() {
	local bin="$1" what="$2" name="$3" build="$4" me="${0##*/}"

	if [[ -x "$bin" ]]; then
		printf '%s\n' "$bin"
		return
	fi

	command -v go >/dev/null 2>&1 || {
		echo "$me: the go command is needed to build $what" >&2
		exit 1
	}

	mkdir -p -- "$(dirname -- "$bin")"

	# One build at a time: a second caller waits for the first and reuses its
	# binary instead of building it again.
	if command -v flock >/dev/null 2>&1; then
		exec 9>"$bin.lock"
		if ! flock -n 9; then
			echo "$me: another build of $bin is running; waiting for it" >&2
			flock 9
		fi
		if [[ -x "$bin" ]]; then
			printf '%s\n' "$bin"
			return
		fi
	fi

	# Global, not local: the EXIT trap may run after this function returns.
	toolcache_tmp="$(mktemp -d "$bin.tmp.XXXXXX")"
	trap 'rm -rf -- "$toolcache_tmp"' EXIT

	local start=$SECONDS
	"$build" "$toolcache_tmp" >&2
	chmod 0755 "$toolcache_tmp/$name"
	mv -f -- "$toolcache_tmp/$name" "$bin"
	rm -rf -- "$toolcache_tmp"
	trap - EXIT
	echo "$me: built in $((SECONDS - start))s" >&2
	printf '%s\n' "$bin"
}
