#!/usr/bin/env bash
# `npm start`: the local cluster (registry, sample images, four services, 2 nodes).
set -euo pipefail
source "$(dirname "$0")/bootstrap.sh"
[ "$(id -u)" = 0 ] || { log "the local cluster runs containers with runc and needs root"; exit 1; }
bootstrap
trap stop_started_redis EXIT
# The launcher stops everything it started on Ctrl-C / SIGTERM.
node "$WARMPOD_ROOT/tools/local-cluster/dist/main.js" "$@"
