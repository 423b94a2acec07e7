#!/usr/bin/env bash
# Set up Virtuoso from a fresh clone: system packages (when missing), a virtualenv,
# and the project installed into it. Idempotent: safe to run again.
#   scripts/setup.sh           runtime needs (memcached is optional for the daemon)
#   scripts/setup.sh --test    also what the tests need (memcached, tmux, test extras)
set -euo pipefail
cd "$(dirname "$0")/.."

mode="${1:-run}"
packages=()
command -v memcached >/dev/null || packages+=(memcached)
# the master scripts (fix.sh, monitor.sh, deploy.sh) call the API with curl and jq
command -v curl >/dev/null || packages+=(curl)
command -v jq >/dev/null || packages+=(jq)
if [ "$mode" = "--test" ]; then
    command -v tmux >/dev/null || packages+=(tmux)
    command -v rsync >/dev/null || packages+=(rsync)  # the remote-backup tests run a real rsync daemon
    command -v shellcheck >/dev/null || packages+=(shellcheck)  # tests/ops/test_scripts.py
    command -v systemd-analyze >/dev/null || packages+=(systemd)  # tests/ops/test_systemd.py verifies the unit
fi

if [ ${#packages[@]} -gt 0 ]; then
    sudo=""
    [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null && sudo="sudo"
    if command -v apt-get >/dev/null && { [ "$(id -u)" -eq 0 ] || [ -n "$sudo" ]; }; then
        echo "setup: installing ${packages[*]} with apt-get" >&2
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${packages[@]}" >/dev/null
    elif [ "$mode" = "--test" ]; then
        echo "setup: need ${packages[*]} but cannot apt-get install them" >&2
        exit 1
    else
        echo "setup: ${packages[*]} not installed; the daemon will keep its cache in memory" >&2
    fi
fi

python="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    echo "setup: creating .venv" >&2
    "$python" -m venv .venv
fi
extras=""
[ "$mode" = "--test" ] && extras="[test]"
echo "setup: installing virtuoso${extras} into .venv" >&2
# exact versions from requirements.lock (scripts/lock.sh regenerates it)
.venv/bin/python -m pip install -q --disable-pip-version-check -c requirements.lock -e ".${extras}" 2>&1 \
    | grep -v -e "^Location" -e "ignored" || true
.venv/bin/python -c "import virtuoso_daemon" # fail loudly if the install did not work
