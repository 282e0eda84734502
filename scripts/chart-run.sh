#!/usr/bin/env bash
# `npm run chart:run`: the rendered Helm chart runs here (tools/chart-check/src/chart-run.ts): the four images
# built and pushed to a registry of the run's own, every pod of `helm template` run as runc containers, a smoke
# pod through the gateway container to an agent container's node, and a clean stop (Ctrl-C too). `npm test` runs
# it too (test/src/chart-run.e2e.ts).
set -euo pipefail
source "$(dirname "$0")/bootstrap.sh"
[ "$(id -u)" = 0 ] || { log "chart:run runs runc containers and needs root"; exit 1; }
ensure_apt_packages
ensure_node_modules
build
ensure_helm
exec node "$WARMPOD_ROOT/tools/chart-check/dist/chart-run.js" "$@"
