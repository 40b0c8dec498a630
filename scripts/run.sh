#!/bin/sh
# Runs a project task with Bun on a machine that may have only Node.js and npm:
# installs Bun from the npm registry into .tools/ when no suitable bun is on PATH, and the
# locked dependencies when node_modules is missing or older than bun.lock.
#   scripts/run.sh serve [args]   start the server from source
#   scripts/run.sh test  [args]   lint, typecheck and the whole test suite
#   scripts/run.sh build          compile dist/catwalk
#   scripts/run.sh bun ...        any bun command
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
want=$(sed -n 's/.*"packageManager": *"bun@\([0-9.]*\)".*/\1/p' package.json)

pick_bun() {
  if command -v bun >/dev/null 2>&1 && [ "$(bun --version 2>/dev/null)" = "$want" ]; then
    command -v bun
    return
  fi
  local_bun="$root/.tools/node_modules/.bin/bun"
  if [ ! -x "$local_bun" ] || [ "$("$local_bun" --version 2>/dev/null)" != "$want" ]; then
    echo "installing bun $want from the npm registry into .tools/ ..." >&2
    npm install --prefix "$root/.tools" --no-save --no-package-lock --no-audit --no-fund --loglevel=error "bun@$want" >&2
  fi
  echo "$local_bun"
}

BUN=$(pick_bun)
export PATH="$(dirname "$BUN"):$PATH"

if [ ! -d node_modules ] || [ bun.lock -nt node_modules/.catwalk-installed ]; then
  "$BUN" install --frozen-lockfile
  touch node_modules/.catwalk-installed
fi

task=${1:-}
[ $# -gt 0 ] && shift
case "$task" in
  serve) exec "$BUN" src/index.ts serve "$@" ;;
  test)
    "$BUN" run check
    exec "$BUN" test "$@"
    ;;
  build) exec "$BUN" scripts/build.ts "$@" ;;
  bun) exec "$BUN" "$@" ;;
  *)
    echo "usage: scripts/run.sh serve|test|build|bun [args]" >&2
    exit 2
    ;;
esac
