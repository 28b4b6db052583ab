#!/usr/bin/env bash
# Installs node_modules from package-lock.json unless the installed tree already matches the
# current lock, then verifies every installed version against the lock.
# Not `npm ci`: the registry this project installs from does not serve other platforms' optional
# builds (e.g. @rollup/rollup-darwin-arm64), so the lock cannot list them and npm ci calls it out of
# sync. `npm install --no-save` installs the locked versions, skips those, and never rewrites the lock.
# The install scripts npm holds back are not needed (see README: Dependencies).
set -euo pipefail
cd "$(dirname "$0")/.."
stamp=node_modules/.beds-lock-sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  echo "deps: node_modules matches package-lock.json; not reinstalled"
  exit 0
fi
npm install --no-save --no-audit --no-fund
node scripts/verify-lock.mjs
echo "$want" > "$stamp"
