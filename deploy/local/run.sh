#!/usr/bin/env bash
# `make run`: Kafka, PostgreSQL and the three services on loopback, with a development key.
# Ctrl-C (or SIGTERM) stops everything this script started, services first.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
HERE="$REPO_ROOT/deploy/local"
VENV="$REPO_ROOT/.venv/bin"

"$HERE/infra.sh" up
set -a
# shellcheck disable=SC1091
source "$STATE_DIR/infra.env"
set +a
base_db="${DATABASE_URL%/*}"

# One database per service: each owns its schema. Created if missing, then migrated.
"$VENV/python" - "$base_db" <<'PY'
import asyncio, sys
import asyncpg

async def main(base: str) -> None:
    conn = await asyncpg.connect(base.replace("postgresql+asyncpg://", "postgresql://") + "/rapport")
    for name in ("rapport_profile", "rapport_recommender"):
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()

asyncio.run(main(sys.argv[1]))
PY
DATABASE_URL="$base_db/rapport_profile" "$VENV/rapport-profile" migrate
DATABASE_URL="$base_db/rapport_recommender" "$VENV/rapport-recommender" migrate

# A development key with every scope, made fresh for this run and kept only in memory here.
new_key() { "$VENV/python" -c 'from rapport_events.auth import new_key; print(new_key())'; }
digest() { printf '%s' "$1" | sha256sum | cut -d' ' -f1; }
dev_key="$(new_key)"
# The console posts the calls agents log with a key of its own: events:write, call center only.
console_key="$(new_key)"
export RAPPORT_API_KEYS="[
  {\"name\":\"development\",\"sha256\":\"$(digest "$dev_key")\",
   \"scopes\":[\"events:write\",\"profiles:read\",\"profiles:erase\",\"offers:read\"]},
  {\"name\":\"console\",\"sha256\":\"$(digest "$console_key")\",
   \"scopes\":[\"events:write\"],\"channels\":[\"call_center\"]}]"
export RAPPORT_CONSOLE_INGEST_KEY="$console_key"
export RAPPORT_CONSOLE_SESSION_SECRET="$(new_key)"
export RAPPORT_LOG_JSON="${RAPPORT_LOG_JSON:-true}"
mkdir -p "$STATE_DIR/logs"

pids=()
stop_all() {
  trap - INT TERM EXIT
  say "stopping the services"
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait "${pids[@]}" 2>/dev/null || true
  if [[ -z "${RAPPORT_KEEP_INFRA:-}" ]]; then "$HERE/infra.sh" down; fi
}
trap stop_all INT TERM EXIT

start() {  # start NAME COMMAND PORT [ENV=VALUE...]
  local name=$1 command=$2 port=$3; shift 3
  env RAPPORT_PORT="$port" "$@" "$VENV/rapport-$name" "$command" \
    >>"$STATE_DIR/logs/$name-$command.log" 2>&1 &
  pids+=($!)
}
start ingest serve 8001
start profile serve 8002 DATABASE_URL="$base_db/rapport_profile"
start recommender serve 8003 DATABASE_URL="$base_db/rapport_recommender"
# Live complaints and consents ranked ahead of the stream (the serve process would, later).
start recommender express 8013 DATABASE_URL="$base_db/rapport_recommender"

for port in 8001 8002 8003 8013; do
  for _ in $(seq 1 300); do
    curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
    sleep 0.1
  done
done

cat <<INFO

  Rapport is running.
    ingest       http://127.0.0.1:8001   (OpenAPI: /docs)
    profile      http://127.0.0.1:8002   (agent console: /console)
    recommender  http://127.0.0.1:8003   (its express lane: 8013, probes and metrics)
    Kafka        $KAFKA_BOOTSTRAP_SERVERS
    PostgreSQL   ${base_db%%//*}//…@${base_db#*@}
    logs         $STATE_DIR/logs/

  Development API key (every scope; valid until you stop this):
    export RAPPORT_KEY=$dev_key

  Press Ctrl-C to stop.
INFO
wait "${pids[@]}"
