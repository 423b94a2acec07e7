#!/usr/bin/env bash
# Run a backup through the running daemon: a thin wrapper over `virtuoso-ctl backup`.
# The daemon does the work (the SQLite online backup API, a consistent candle store,
# verification before the archive gets its name); this script only asks for it.
set -euo pipefail

usage() {
    cat <<'USAGE'
usage: backup.sh KIND [--verify] [--encrypt] [--cleanup] [--socket PATH]

KIND     critical  config + every SQLite database (alerts, betas, deliveries, catalogue)
         full      critical + the candle store + recent logs
         config    the config file
         data      the candle store
         remote    critical, then copied to backup.remote with rsync
         auto      full or critical, by the age of the last full backup and free space

--verify    read the new backup back and check every file's SHA-256 (exit 1 if damaged);
            every backup is already verified once before it is published, this checks
            the file as it is now on disk
--encrypt   encrypt with the key named by backup.key_file / backup.key_env
            (even if backup.encrypt is false)
--cleanup   apply retention afterwards (backup.keep_last per kind, backup.keep_days)
--socket    the daemon's control socket (default: what virtuoso-ctl finds)
-h, --help  this text

Restore is `virtuoso-ctl backup restore ID [--to DIR] [--dry-run]` (daemon stopped).
Exit codes: 0 ok, 1 the backup failed or is damaged, 2 usage, 3 daemon unreachable.
USAGE
}

here="$(cd "$(dirname "$0")/.." && pwd)"
ctl="${VIRTUOSO_CTL:-}"
if [ -z "$ctl" ]; then
    if [ -x "$here/.venv/bin/virtuoso-ctl" ]; then
        ctl="$here/.venv/bin/virtuoso-ctl"
    else
        ctl="virtuoso-ctl"
    fi
fi

kind=""
verify=0
cleanup=0
run_args=()
ctl_args=()
while [ $# -gt 0 ]; do
    case "$1" in
        critical | full | config | data | remote | auto)
            [ -z "$kind" ] || { echo "backup.sh: one KIND only" >&2; exit 2; }
            kind="$1"
            ;;
        --verify) verify=1 ;;
        --encrypt) run_args+=(--encrypt) ;;
        --cleanup) cleanup=1 ;;
        --socket)
            [ $# -ge 2 ] || { echo "backup.sh: --socket needs a path" >&2; exit 2; }
            ctl_args+=(--socket "$2")
            shift
            ;;
        -h | --help) usage; exit 0 ;;
        *) echo "backup.sh: unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done
[ -n "$kind" ] || { usage >&2; exit 2; }

[ "$cleanup" -eq 1 ] || run_args+=(--no-cleanup)

out="$("$ctl" "${ctl_args[@]}" backup run "$kind" "${run_args[@]}")"
echo "$out"
if [ "$verify" -eq 1 ]; then
    id="$(printf '%s\n' "$out" | awk '/^backup /{print $2; exit}')"
    [ -n "$id" ] || { echo "backup.sh: no backup id in: $out" >&2; exit 1; }
    "$ctl" "${ctl_args[@]}" backup verify "$id"
fi
