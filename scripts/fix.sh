#!/usr/bin/env bash
# fix.sh: the common fixes, done by the daemon (`virtuoso-ctl fix`), each saying what
# it did. A thin wrapper: the work is the daemon's `fix` command (read/fix.py).
set -euo pipefail
# shellcheck source=lib/common.sh source-path=SCRIPTDIR
. "$(dirname "$0")/lib/common.sh"

usage() {
    cat <<'USAGE'
usage: fix.sh [cache|connection|timeout|dashboard|all] [--exchange NAME] [--http] [--json]

  cache       rebuild the tickers view, write every ticker to memcached again,
              reconnect memcached now if it is down (no backoff wait)
  connection  drop every feed's connections and connect afresh (or --exchange NAME)
  timeout     reopen the feeds' rate gates (closed after a 429 / ban)
  dashboard   rebuild the views the dashboard reads
  all         the four, in that order (default)

  --exchange NAME  connection/timeout: only this feed
  --http           use the HTTP API ($VIRTUOSO_URL, token $VIRTUOSO_TOKEN) instead
                   of the control socket
  --json           print the daemon's JSON answer

exit: 0 every fix applied, 1 one failed, 2 usage, 3 daemon unreachable
USAGE
}

target=all
exchange=""
use_http=0
json=()
while [ $# -gt 0 ]; do
    case "$1" in
        -h | --help) usage; exit 0 ;;
        cache | connection | timeout | dashboard | all) target="$1" ;;
        --exchange) [ $# -ge 2 ] || { usage >&2; exit 2; }; exchange="$2"; shift ;;
        --http) use_http=1 ;;
        --json) json=(--json) ;;
        *) echo "fix.sh: unknown argument: $1" >&2; usage >&2; exit 2 ;;
    esac
    shift
done

if [ "$use_http" -eq 0 ]; then
    ctl="$(find_ctl)"
    args=(fix "$target")
    [ -n "$exchange" ] && args+=(--exchange "$exchange")
    exec "$ctl" "${json[@]}" "${args[@]}"
fi

need curl
need jq
query="target=$target"
[ -n "$exchange" ] && query="$query&exchange=$exchange"
reply="$(api_call POST "/api/system/fix?$query")"
status="${reply##*$'\n'}"
body="${reply%$'\n'*}"
case "$status" in
    000) echo "fix.sh: the API at $(api_url) is unreachable" >&2; exit 3 ;;
    200) ;;
    *) echo "fix.sh: $(jq -r '.error.code + ": " + .error.message' <<<"$body")" >&2; exit 1 ;;
esac
if [ ${#json[@]} -gt 0 ]; then
    jq . <<<"$body"
else
    jq -r '.actions[] | [.target, .action, (if .ok then "ok" else "FAILED" end),
        (if .ok then (.result | tojson) else .error end)] | @tsv' <<<"$body"
fi
[ "$(jq -r .ok <<<"$body")" = true ] || exit 1
