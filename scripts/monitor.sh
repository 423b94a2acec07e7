#!/usr/bin/env bash
# monitor.sh: how is the daemon? Reads the health monitor's report (GET /health) and
# the liveness probe; exit code by status, for cron, Nagios-style checks or a human.
set -euo pipefail
# shellcheck source=lib/common.sh source-path=SCRIPTDIR
. "$(dirname "$0")/lib/common.sh"

usage() {
    cat <<'USAGE'
usage: monitor.sh [health|api|cache|exchange|all] [--continuous] [--interval S]
                  [--count N] [--json]

  health    the overall status and every check that is not ok (default)
  api       the HTTP API: liveness probe latency and the api check
  cache     the ticker cache and memcached (the cache check)
  exchange  every feed: the exchange:* and data:* checks
  all       each of the above, one line per area

  --continuous   repeat every --interval seconds (default 10) until Ctrl-C, or
                 --count N rounds
  --json         one JSON object per area and round: {ts, area, status, checks}

The API is $VIRTUOSO_URL (default http://127.0.0.1:8003); a read token, if the
daemon needs one, from $VIRTUOSO_READ_TOKEN.

exit: 0 ok, 1 warning, 2 critical, 3 unreachable (the last round's worst area)
USAGE
}

area=health
continuous=0
interval=10
count=0
json=0
while [ $# -gt 0 ]; do
    case "$1" in
        -h | --help) usage; exit 0 ;;
        health | api | cache | exchange | all) area="$1" ;;
        --continuous) continuous=1 ;;
        --interval) [ $# -ge 2 ] || { usage >&2; exit 2; }; interval="$2"; shift ;;
        --count) [ $# -ge 2 ] || { usage >&2; exit 2; }; count="$2"; continuous=1; shift ;;
        --json) json=1 ;;
        *) echo "monitor.sh: unknown argument: $1" >&2; usage >&2; exit 2 ;;
    esac
    shift
done
need curl
need jq

code_of() {
    case "$1" in ok) echo 0 ;; warning) echo 1 ;; critical) echo 2 ;; *) echo 3 ;; esac
}

# the checks of one area, as a jq filter over /health's checks
filter_of() {
    case "$1" in
        health) echo '.checks' ;;
        api) echo '[.checks[] | select(.name == "api")]' ;;
        cache) echo '[.checks[] | select(.name == "cache")]' ;;
        exchange) echo '[.checks[] | select(.name | startswith("exchange:") or startswith("data:"))]' ;;
    esac
}

report() {  # report AREA HEALTH_JSON PROBE_MS: prints, returns the area's exit code
    local name="$1" doc="$2" probe_ms="$3" status checks
    checks="$(jq -c "$(filter_of "$name")" <<<"$doc")"
    if [ "$name" = health ]; then
        status="$(jq -r .status <<<"$doc")"
    else
        status="$(jq -r 'map(.status) | if any(. == "critical") then "critical"
            elif any(. == "warning") then "warning" elif length == 0 then "unknown"
            else "ok" end' <<<"$checks")"
    fi
    if [ "$json" -eq 1 ]; then
        jq -cn --arg area "$name" --arg status "$status" --argjson checks "$checks" \
            --argjson probe "$probe_ms" \
            '{ts: now, area: $area, status: $status, probe_ms: $probe, checks: $checks}'
    else
        printf '%-9s %-8s' "$name" "$status"
        [ "$name" = api ] && printf ' liveness %s ms' "$probe_ms"
        [ "$name" = health ] && printf ' %s' "$(jq -r '.summary // ""' <<<"$doc")"
        printf '\n'
        jq -r '.[] | select(.status != "ok") | "          \(.name): \(.status): \(.message)"' \
            <<<"$checks"
    fi
    return "$(code_of "$status")"
}

round() {
    local reply status body probe worst=0 rc
    probe="$(curl -s -o /dev/null -m 5 -w '%{http_code} %{time_total}' \
        "$(api_url)/health/quick" 2>/dev/null || echo "000 0")"
    reply="$(api_call GET /health)"
    status="${reply##*$'\n'}"
    body="${reply%$'\n'*}"
    if [ "${probe%% *}" != 200 ] || { [ "$status" != 200 ] && [ "$status" != 503 ]; } ||
        ! jq -e .checks >/dev/null 2>&1 <<<"$body"; then
        if [ "$json" -eq 1 ]; then
            jq -cn --arg url "$(api_url)" --arg http "$status" \
                '{ts: now, area: "daemon", status: "unreachable", url: $url, http: $http}'
        else
            echo "daemon    unreachable at $(api_url) (HTTP $status)"
        fi
        return 3
    fi
    local ms
    ms="$(awk -v t="${probe#* }" 'BEGIN { printf "%.1f", t * 1000 }')"
    local areas=("$area")
    [ "$area" = all ] && areas=(health api cache exchange)
    for a in "${areas[@]}"; do
        rc=0
        report "$a" "$body" "$ms" || rc=$?
        [ "$rc" -gt "$worst" ] && worst=$rc
    done
    return "$worst"
}

rounds=0
while true; do
    rc=0
    round || rc=$?
    rounds=$((rounds + 1))
    if [ "$continuous" -eq 0 ] || { [ "$count" -gt 0 ] && [ "$rounds" -ge "$count" ]; }; then
        exit "$rc"
    fi
    sleep "$interval"
done
