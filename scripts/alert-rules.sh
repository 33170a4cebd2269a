#!/usr/bin/env bash
# alert-rules.sh prints deploy/prometheus/alerts.yml with every runbook_url
# pointing under BASE instead of the placeholder base
#   https://github.com/sharesvc/sharesvc/blob/main/README.md
# BASE is where your copy of the runbook lives (README.md's "Alert runbook"
# section); each alert's link is BASE#<alert name in lower case>, the anchor
# GitHub, GitLab and most Markdown renderers give its heading. Usage:
#   scripts/alert-rules.sh https://wiki.example.com/sharesvc/README.md > /etc/prometheus/rules/sharesvc.yml
#   make -s alert-rules RUNBOOK_BASE=https://wiki.example.com/sharesvc/README.md > sharesvc.yml
# A BASE that is not a plain http(s) URL is refused and nothing is printed.
set -euo pipefail

placeholder="https://github.com/sharesvc/sharesvc/blob/main/README.md"
rules="$(dirname "$0")/../deploy/prometheus/alerts.yml"

if [ $# -ne 1 ]; then
	echo "usage: $0 BASE (e.g. https://wiki.example.com/sharesvc/README.md)" >&2
	exit 2
fi
base="$1"
# No fragment, quote, backslash, space or control character: each would
# break the URL or the YAML string it is written into.
url='^https?://[A-Za-z0-9._~:/?@!$&()*+,;=%-]+$'
if ! [[ "$base" =~ $url ]]; then
	echo "$0: BASE must be an http:// or https:// URL without a #fragment, quotes or spaces; got \"$base\"" >&2
	exit 2
fi
out="$(awk -v from="$placeholder#" -v to="$base#" '{
	while ((i = index($0, from)) > 0) $0 = substr($0, 1, i - 1) to substr($0, i + length(from))
	print
}' "$rules")"
printf '%s\n' "$out"
