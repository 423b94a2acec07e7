# shellcheck shell=bash
# Shared by the master scripts (deploy.sh, fix.sh, monitor.sh): where virtuoso-ctl
# and the API are, and how to call them. Sourced, not run.

# virtuoso-ctl: $VIRTUOSO_CTL, else the deployed release, else this checkout's venv,
# else the PATH
find_ctl() {
    local here
    here="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
    for c in "${VIRTUOSO_CTL:-}" /opt/virtuoso/current/.venv/bin/virtuoso-ctl \
        "$here/.venv/bin/virtuoso-ctl" "$(command -v virtuoso-ctl || true)"; do
        if [ -n "$c" ] && [ -x "$c" ]; then
            echo "$c"
            return 0
        fi
    done
    echo "virtuoso-ctl not found (set VIRTUOSO_CTL)" >&2
    return 3
}

# the API's base URL: $VIRTUOSO_URL, else http://127.0.0.1:8003
api_url() {
    echo "${VIRTUOSO_URL:-http://127.0.0.1:8003}"
}

# curl the API: api_call METHOD PATH [curl args...]; prints the body then, on its
# own last line, the HTTP status (000 when unreachable). A bearer token is sent
# from $VIRTUOSO_TOKEN (writes) or $VIRTUOSO_READ_TOKEN (reads) when set.
api_call() {
    local method="$1" path="$2"
    shift 2
    local token="${VIRTUOSO_READ_TOKEN:-}"
    [ "$method" != GET ] && token="${VIRTUOSO_TOKEN:-$token}"
    local auth=()
    [ -n "$token" ] && auth=(-H "Authorization: Bearer $token")
    curl -sS -m "${VIRTUOSO_HTTP_TIMEOUT:-10}" -X "$method" "${auth[@]}" \
        -w '\n%{http_code}' "$@" "$(api_url)$path" 2>/dev/null || printf '\n000'
}

need() {
    command -v "$1" >/dev/null || { echo "$(basename "$0"): needs $1 (apt-get install $1)" >&2; exit 3; }
}
