#!/usr/bin/env bash
# Run a command with the local infrastructure up and its environment exported; stop again
# afterwards whatever this script started (a machine is left as it was found).
# Usage: with-infra.sh COMMAND [ARGS...]
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
HERE="$REPO_ROOT/deploy/local"

started_here=()
if [[ -z "${KAFKA_BOOTSTRAP_SERVERS:-}" ]] && ! "$HERE/kafka.sh" status | grep -q running; then
  started_here+=(kafka)
fi
if [[ -z "${DATABASE_URL:-}" ]] && ! "$HERE/postgres.sh" status | grep -q running; then
  started_here+=(postgres)
fi
cleanup() {
  for service in "${started_here[@]}"; do "$HERE/$service.sh" stop || true; done
}
trap cleanup EXIT

"$HERE/infra.sh" up
set -a
# shellcheck disable=SC1091
source "$STATE_DIR/infra.env"
set +a
"$@"
