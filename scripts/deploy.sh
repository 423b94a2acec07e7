#!/usr/bin/env bash
# deploy.sh: install or upgrade Virtuoso as a new release, restart it, wait for
# /health, and roll back to the previous release when health does not come up.
#
# Layout under the prefix: releases/<id>/ (the source and its .venv, built from
# requirements.lock), current -> releases/<id> (what runs). Switching is one atomic
# rename of the symlink, so a rollback is a switch back and a restart.
set -euo pipefail
# shellcheck source=lib/common.sh source-path=SCRIPTDIR
. "$(dirname "$0")/lib/common.sh"

usage() {
    cat <<'USAGE'
usage: deploy.sh [local|staging|production] [options]

  local       under ~/.local/share/virtuoso, run in the background (no systemd;
              pid in <prefix>/run/virtuoso.pid, log in <prefix>/log/daemon.log)
  staging     /opt/virtuoso-staging, systemd unit virtuoso-staging, config
              /etc/virtuoso/staging.toml
  production  /opt/virtuoso, systemd unit virtuoso, config /etc/virtuoso/virtuoso.toml
              (default)

options:
  --prefix DIR     where releases live (see above)
  --source DIR     the checkout to deploy (default: this script's)
  --config FILE    the daemon's config file (local: <prefix>/etc/virtuoso.toml, made
                   from config/virtuoso.toml on the first deploy)
  --url URL        the API to check (default http://127.0.0.1:8003)
  --timeout S      seconds for /health to answer 200 (default 90)
  --keep N         releases kept besides current and previous (default 3)
  --stop           local: stop the running daemon and exit
  --rollback       switch back to the previous release now (restart, wait for health)

Each release gets its own venv from requirements.lock; when the lock is unchanged
the current venv is cloned with hard links and only Virtuoso is reinstalled (fast).
The config is checked (virtuoso-daemon --check-config) before anything is switched.

exit: 0 deployed (or, with --rollback, rolled back) and healthy, 1 failed (rolled back
when there was a release to go back to), 2 usage
USAGE
}

say() { echo "deploy: $*" >&2; }

target=production
prefix=""
source_dir="$(cd "$(dirname "$0")/.." && pwd)"
config=""
url="${VIRTUOSO_URL:-http://127.0.0.1:8003}"
timeout=90
keep=3
action=deploy
while [ $# -gt 0 ]; do
    case "$1" in
        -h | --help) usage; exit 0 ;;
        local | staging | production) target="$1" ;;
        --prefix | --source | --config | --url | --timeout | --keep)
            [ $# -ge 2 ] || { usage >&2; exit 2; }
            case "$1" in
                --prefix) prefix="$2" ;;
                --source) source_dir="$(cd "$2" && pwd)" ;;
                --config) config="$2" ;;
                --url) url="$2" ;;
                --timeout) timeout="$2" ;;
                --keep) keep="$2" ;;
            esac
            shift
            ;;
        --stop) action=stop ;;
        --rollback) action=rollback ;;
        *) echo "deploy.sh: unknown argument: $1" >&2; usage >&2; exit 2 ;;
    esac
    shift
done

unit=""
case "$target" in
    local)
        prefix="${prefix:-$HOME/.local/share/virtuoso}"
        config="${config:-$prefix/etc/virtuoso.toml}"
        ;;
    staging)
        prefix="${prefix:-/opt/virtuoso-staging}"
        config="${config:-/etc/virtuoso/staging.toml}"
        unit=virtuoso-staging
        ;;
    production)
        prefix="${prefix:-/opt/virtuoso}"
        config="${config:-/etc/virtuoso/virtuoso.toml}"
        unit=virtuoso
        ;;
esac
pidfile="$prefix/run/virtuoso.pid"
export VIRTUOSO_URL="$url"
# the release runs its own code only: a PYTHONPATH of the shell that deploys (a
# checkout, say) must not shadow the installed package
unset PYTHONPATH

# --- the service: systemd, or a background process for `local` ------------------------

local_stop() {
    [ -f "$pidfile" ] || return 0
    local pid
    pid="$(cat "$pidfile")"
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid"
        for _ in $(seq 100); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
    fi
    rm -f "$pidfile"
}

local_start() {
    mkdir -p "$prefix/run" "$prefix/log"
    nohup "$prefix/current/.venv/bin/virtuoso-daemon" --config "$config" \
        >>"$prefix/log/daemon.log" 2>&1 </dev/null &
    echo $! >"$pidfile"
}

install_unit() {
    local dest="/etc/systemd/system/$unit.service"
    sed -e "s#/opt/virtuoso/current#$prefix/current#g" \
        -e "s#/etc/virtuoso/virtuoso.toml#$config#g" \
        "$prefix/current/config/virtuoso.service" >"$dest.new"
    mv "$dest.new" "$dest"
    systemctl daemon-reload
    systemctl enable --quiet "$unit"
}

restart() {
    if [ -z "$unit" ]; then
        local_stop
        local_start
    else
        install_unit
        systemctl restart "$unit"
    fi
}

healthy() {  # wait for GET /health to answer 200 (ok or warning) within $timeout
    local deadline=$((SECONDS + timeout)) reply
    while [ "$SECONDS" -lt "$deadline" ]; do
        reply="$(api_call GET /health)"
        if [ "${reply##*$'\n'}" = 200 ]; then
            say "healthy: $(jq -r .summary <<<"${reply%$'\n'*}")"
            return 0
        fi
        if [ -z "$unit" ] && [ -f "$pidfile" ] && ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then
            say "the daemon exited (see $prefix/log/daemon.log)"
            return 1
        fi
        sleep 1
    done
    say "no healthy /health at $url within ${timeout}s"
    return 1
}

switch_to() {  # atomically point current at $1
    ln -sfn "$1" "$prefix/current.new"
    mv -T "$prefix/current.new" "$prefix/current"
}

rollback_to() {  # 0 when the previous release runs healthy again
    local previous="$1"
    if [ -z "$previous" ] || [ ! -d "$previous" ]; then
        say "no previous release to roll back to; stopping"
        [ -z "$unit" ] && local_stop
        return 1
    fi
    say "rolling back to $(basename "$previous")"
    switch_to "$previous"
    restart
    if healthy; then
        say "rolled back to $(basename "$previous"); it is healthy"
        return 0
    fi
    say "the previous release is not healthy either"
    return 1
}

# --- building a release ------------------------------------------------------------

build() {  # build DIR: the source and a venv from the lock into DIR
    local dir="$1" current="$prefix/current"
    mkdir -p "$dir"
    tar -C "$source_dir" --exclude=./.venv --exclude=./.git --exclude='__pycache__' \
        --exclude=./.mypy_cache --exclude=./.ruff_cache -cf - . | tar -C "$dir" -xf -
    if [ -d "$current/.venv" ] && cmp -s "$current/requirements.lock" "$dir/requirements.lock"; then
        say "lock unchanged: cloning the current venv (hard links), reinstalling virtuoso"
        cp -al "$(readlink -f "$current")/.venv" "$dir/.venv"
        # bin/ is copied, not linked: pip rewrites the entry-point scripts in place
        rm -rf "$dir/.venv/bin"
        cp -a "$(readlink -f "$current")/.venv/bin" "$dir/.venv/bin"
        "$dir/.venv/bin/python" -m pip install -q --no-deps --force-reinstall "$dir"
    else
        say "building a venv from requirements.lock"
        "${PYTHON:-python3}" -m venv "$dir/.venv"
        "$dir/.venv/bin/python" -m pip install -q --disable-pip-version-check \
            -c "$dir/requirements.lock" "$dir"
    fi
    # the venv's scripts must point at this release, not at the one it was cloned from
    grep -q "^#!$dir/.venv/bin/python" "$dir/.venv/bin/virtuoso-daemon"
}

prune() {
    local current previous
    current="$(readlink -f "$prefix/current")"
    previous="${1:-}"
    find "$prefix/releases" -mindepth 1 -maxdepth 1 -type d | sort -r | tail -n +"$((keep + 1))" |
        while read -r old; do
            [ "$old" = "$current" ] || [ "$old" = "$previous" ] || rm -rf "$old"
        done
}

# --- actions -------------------------------------------------------------------------

need curl
need jq
case "$action" in
    stop)
        [ -z "$unit" ] || { say "--stop is for local; use systemctl stop $unit"; exit 2; }
        local_stop
        exit 0
        ;;
    rollback)
        previous="$(readlink -f "$prefix/previous" 2>/dev/null || true)"
        if [ -z "$previous" ]; then say "no previous release recorded"; exit 1; fi
        leaving="$(readlink -f "$prefix/current")"
        rollback_to "$previous" || exit 1
        ln -sfn "$leaving" "$prefix/previous"  # a second --rollback comes back
        exit 0
        ;;
esac

[ -n "$unit" ] && [ "$(id -u)" -ne 0 ] && { say "$target needs root (systemd)"; exit 1; }
mkdir -p "$prefix/releases"
if [ "$target" = local ] && [ ! -f "$config" ]; then
    mkdir -p "$(dirname "$config")"
    cp "$source_dir/config/virtuoso.toml" "$config"
    say "wrote $config (edit it, then deploy again)"
fi

rev="$(git -C "$source_dir" rev-parse --short HEAD 2>/dev/null || echo nogit)"
id="$(date -u +%Y%m%dT%H%M%SZ)-$rev"
dir="$prefix/releases/$id"
[ -e "$dir" ] && id="$id-$$" && dir="$prefix/releases/$id"
say "building release $id from $source_dir"
if ! build "$dir"; then
    say "build failed; nothing switched"
    rm -rf "$dir"
    exit 1
fi
if ! "$dir/.venv/bin/virtuoso-daemon" --check-config --config "$config" >/dev/null; then
    say "the new release rejects $config; nothing switched"
    rm -rf "$dir"
    exit 1
fi

previous="$(readlink -f "$prefix/current" 2>/dev/null || true)"
before_previous="$(readlink -f "$prefix/previous" 2>/dev/null || true)"
switch_to "$dir"
[ -n "$previous" ] && ln -sfn "$previous" "$prefix/previous"
say "switched to $id; restarting"
restart
if ! healthy; then
    rollback_to "$previous" || true
    # the failed release never ran: --rollback still goes to the release before
    if [ -n "$before_previous" ]; then
        ln -sfn "$before_previous" "$prefix/previous"
    else
        rm -f "$prefix/previous"
    fi
    exit 1
fi
prune "$previous"
say "deployed $id"
