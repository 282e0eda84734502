#!/usr/bin/env bash
# `npm run bench:<name>`: benchmarks print a table, then one `result: NAME = VALUE` line per
# headline figure for machines to read; they are not part of `npm test`.
set -euo pipefail
source "$(dirname "$0")/bootstrap.sh"
bootstrap
trap stop_started_redis EXIT
name=$1; shift
node "$WARMPOD_ROOT/tools/bench/dist/${name}-bench.js" "$@"
