#!/usr/bin/env bash
# Set everything up and run the daemon in demo mode against the built-in simulated
# exchange. API: http://127.0.0.1:8003 (try /health/quick, /api/market/tickers);
# TUI: .venv/bin/virtuoso-tui in another terminal. Ctrl-C stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
if command -v memcached >/dev/null && ! (exec 3<>/dev/tcp/127.0.0.1/11211) 2>/dev/null; then
    echo "demo: starting memcached on 127.0.0.1:11211" >&2
    user_flag=()
    [ "$(id -u)" -eq 0 ] && user_flag=(-u root)
    memcached -d -l 127.0.0.1 -p 11211 -U 0 "${user_flag[@]}"
fi
exec .venv/bin/virtuoso-daemon --demo "$@"
