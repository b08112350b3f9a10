#!/usr/bin/env bash
# The browser the console's end-to-end tests drive: Debian's chromium at /usr/bin/chromium.
# Idempotent: does nothing when it is there. Playwright's own browser download is never used
# (`playwright install` needs the open internet); Playwright drives this system chromium.
set -euo pipefail

CHROMIUM=/usr/bin/chromium
say() { printf '\033[1m[browser]\033[0m %s\n' "$*" >&2; }

if [[ -x "$CHROMIUM" ]]; then
  exit 0
fi
if [[ "$(id -u)" != 0 ]]; then
  say "$CHROMIUM is missing; install it as root: apt-get install -y chromium"
  say "(the console's browser tests are skipped without it)"
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
say "installing chromium (apt)"
# Refresh the package lists only when the install fails: on a machine with fresh lists that
# saves a minute, and on a fresh image the lists are empty and the first try fails fast.
if ! apt-get install -y -q --no-install-recommends chromium >/dev/null; then
  say "refreshing the package lists and retrying"
  apt-get update -q >/dev/null
  apt-get install -y -q --no-install-recommends chromium >/dev/null
fi
say "installed $("$CHROMIUM" --version 2>/dev/null || echo chromium)"
