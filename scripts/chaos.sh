#!/usr/bin/env bash
# `npm run chaos`: the long chaos run (faults injected into a local cluster under load); prints a
# table, then `result: NAME = VALUE` lines. Not part of `npm test`, which runs its lean part.
# CHAOS_ROUNDS and CHAOS_PODS size it.
set -euo pipefail
source "$(dirname "$0")/bootstrap.sh"
[ "$(id -u)" = 0 ] || { log "the chaos run starts runc containers and needs root"; exit 1; }
bootstrap
trap stop_started_redis EXIT
node "$WARMPOD_ROOT/test/dist/chaos-main.js" "$@"
