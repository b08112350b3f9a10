# Shared by the local infrastructure scripts: where things live, and small helpers.
# shellcheck shell=bash
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# Downloaded jars are shared by every clone on the machine (a second start is fast);
# broker and database state belong to this clone.
CACHE_DIR="${RAPPORT_CACHE_DIR:-$HOME/.cache/rapport}"
STATE_DIR="${RAPPORT_STATE_DIR:-$REPO_ROOT/.local}"
KAFKA_PORT="${RAPPORT_KAFKA_PORT:-9092}"
KAFKA_CONTROLLER_PORT="${RAPPORT_KAFKA_CONTROLLER_PORT:-9093}"
PG_PORT="${RAPPORT_PG_PORT:-55432}"
mkdir -p "$CACHE_DIR" "$STATE_DIR"

say() { printf '\033[1m[infra]\033[0m %s\n' "$*" >&2; }

port_open() {  # port_open PORT: is something listening on 127.0.0.1:PORT?
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

wait_for_port() {  # wait_for_port PORT SECONDS NAME
  local deadline=$((SECONDS + $2))
  until port_open "$1"; do
    if ((SECONDS > deadline)); then say "$3 did not open port $1 within $2 s"; return 1; fi
    sleep 0.2
  done
}

pid_alive() { [[ -f "$1" ]] && kill -0 "$(cat "$1")" 2>/dev/null; }
