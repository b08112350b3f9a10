#!/usr/bin/env bash
# The local infrastructure: Kafka and PostgreSQL, unless the environment names running ones.
# Usage: infra.sh up|down|status|env
#   up      start what is not given by KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL, then print env
#   env     print the environment that points the services and tests at it
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
HERE="$REPO_ROOT/deploy/local"

env_lines() {
  echo "KAFKA_BOOTSTRAP_SERVERS=${KAFKA_BOOTSTRAP_SERVERS:-127.0.0.1:$KAFKA_PORT}"
  echo "DATABASE_URL=${DATABASE_URL:-postgresql+asyncpg://rapport:rapport@127.0.0.1:$PG_PORT/rapport}"
}

case "${1:-}" in
  up)
    if [[ -n "${KAFKA_BOOTSTRAP_SERVERS:-}" ]]; then say "using Kafka at $KAFKA_BOOTSTRAP_SERVERS"
    else "$HERE/kafka.sh" start; fi
    if [[ -n "${DATABASE_URL:-}" ]]; then say "using PostgreSQL at ${DATABASE_URL%%@*}@…"
    else "$HERE/postgres.sh" start; fi
    env_lines >"$STATE_DIR/infra.env"
    ;;
  down)
    "$HERE/kafka.sh" stop
    "$HERE/postgres.sh" stop
    ;;
  status)
    "$HERE/kafka.sh" status
    "$HERE/postgres.sh" status
    ;;
  env) env_lines ;;
  *) echo "usage: $0 up|down|status|env" >&2; exit 2 ;;
esac
