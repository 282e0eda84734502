#!/usr/bin/env bash
# `npm run test:fuzz`: the generated bad-input properties (gateway REST, node registry, job
# payloads) with many runs each. `npm test` runs the same specs lean; WARMPOD_FUZZ_RUNS sets
# the runs per property here (default 500). Each spec ends with `fuzz: <surface> = <n> inputs` lines.
set -euo pipefail
source "$(dirname "$0")/bootstrap.sh"
bootstrap
trap stop_started_redis EXIT
cd "$WARMPOD_ROOT"
WARMPOD_FUZZ_RUNS=${WARMPOD_FUZZ_RUNS:-500} node --test --test-reporter=spec \
  apps/gateway/dist/bad-input.int.spec.js \
  libs/node-registry/dist/bad-messages.int.spec.js \
  libs/jobs/dist/bad-payloads.int.spec.js
