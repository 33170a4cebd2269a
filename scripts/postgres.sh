#!/usr/bin/env bash
# postgres.sh installs Debian's PostgreSQL server package when its binaries
# (/usr/lib/postgresql/<version>/bin/initdb) are missing. The tests start
# throwaway clusters from those binaries (see internal/testrig/postgres);
# without systemd, installing the package starts no server.
set -euo pipefail

if compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null; then
	exit 0
fi
echo "postgres.sh: installing Debian's postgresql package" >&2
start=$SECONDS
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql >/dev/null
echo "postgres.sh: installed in $((SECONDS - start))s" >&2
