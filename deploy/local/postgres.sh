#!/usr/bin/env bash
# PostgreSQL on loopback from Debian's package (installed if missing), one cluster per clone.
# Usage: postgres.sh start|stop|status
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

DATA="$STATE_DIR/postgres/data"
RUN="$STATE_DIR/postgres/run"
LOG="$STATE_DIR/postgres/postgres.log"

find_bin() {
  local dir
  for dir in /usr/lib/postgresql/*/bin; do
    [[ -x "$dir/pg_ctl" ]] && { echo "$dir"; return; }
  done
}

install() {
  [[ -n "$(find_bin)" ]] && return
  say "installing PostgreSQL from Debian's packages"
  if [[ $EUID -eq 0 ]]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
  else
    say "PostgreSQL is not installed: sudo apt-get install postgresql"; exit 1
  fi
}

# PostgreSQL refuses to run as root: as root, run its tools as the `postgres` user.
as_owner() {
  if [[ $EUID -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

start() {
  install
  local bin; bin="$(find_bin)"
  mkdir -p "$DATA" "$RUN"
  [[ $EUID -eq 0 ]] && chown -R postgres:postgres "$STATE_DIR/postgres"
  if [[ ! -f "$DATA/PG_VERSION" ]]; then
    say "creating a PostgreSQL cluster in $DATA"
    local pwfile; pwfile="$(mktemp)"; echo postgres >"$pwfile"; chmod 644 "$pwfile"
    as_owner "$bin/initdb" -D "$DATA" -U postgres --pwfile="$pwfile" \
      --auth-local=trust --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 >&2
    rm -f "$pwfile"
    cat >>"$DATA/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$RUN'
max_connections = 300
shared_buffers = 512MB
work_mem = 16MB
max_wal_size = 2GB
log_min_messages = warning
CONF
  fi
  if as_owner "$bin/pg_ctl" -D "$DATA" status >/dev/null 2>&1; then
    say "PostgreSQL already running"
  else
    say "starting PostgreSQL $("$bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$PG_PORT"
    as_owner "$bin/pg_ctl" -D "$DATA" -l "$LOG" -w -t 60 start >&2
  fi
  # The application role: owns its databases, may create test databases, nothing more.
  as_owner "$bin/psql" -h "$RUN" -p "$PG_PORT" -U postgres -qAt -v ON_ERROR_STOP=1 postgres <<SQL >&2
DO \$\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'rapport') THEN
    CREATE ROLE rapport LOGIN CREATEDB PASSWORD 'rapport';
  END IF;
END \$\$;
SELECT 'CREATE DATABASE rapport OWNER rapport'
  WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'rapport') \gexec
SQL
}

stop() {
  local bin; bin="$(find_bin)"
  [[ -n "$bin" && -f "$DATA/PG_VERSION" ]] || return 0
  if as_owner "$bin/pg_ctl" -D "$DATA" status >/dev/null 2>&1; then
    say "stopping PostgreSQL"
    as_owner "$bin/pg_ctl" -D "$DATA" -m fast -w stop >&2
  fi
}

status() {
  local bin; bin="$(find_bin)"
  if [[ -n "$bin" ]] && as_owner "$bin/pg_ctl" -D "$DATA" status >/dev/null 2>&1; then
    echo "postgres: running on 127.0.0.1:$PG_PORT"
  else
    echo "postgres: stopped"
  fi
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  version) "$(find_bin)/postgres" --version ;;
  *) echo "usage: $0 start|stop|status|version" >&2; exit 2 ;;
esac
