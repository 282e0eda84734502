#!/usr/bin/env bash
# `npm test`: bootstrap, lint, then unit, integration and end-to-end tiers.
# Every tier runs even when an earlier one fails; the exit code says if any did.
set -uo pipefail
source "$(dirname "$0")/bootstrap.sh"
[ "$(id -u)" = 0 ] || { log "the integration and e2e tiers run runc and need root"; exit 1; }
bootstrap || exit 1
# The checkpoint e2e's second CRIU runtime (trixie's 4.1.1), for the tests only.
ensure_test_criu || exit 1
trap stop_started_redis EXIT
cd "$WARMPOD_ROOT"

status=0
total_pass=0
total_fail=0
report_dir=.warmpod/test-reports
rm -rf "$report_dir"; mkdir -p "$report_dir"

log "lint (eslint + Nx module boundaries + prettier)"
NX_DAEMON=false npx nx show projects >/dev/null && NX_DAEMON=false npm run --silent lint || { log "lint failed"; status=1; }

# tier NAME FILE...: node's own test runner, spec output on screen, TAP kept for the counts.
tier() {
  local name=$1; shift
  if [ $# -eq 0 ]; then log "$name: no test files"; status=1; return; fi
  log "$name tier: $# file(s)"
  node --test --test-reporter=spec --test-reporter-destination=stdout \
    --test-reporter=tap --test-reporter-destination="$report_dir/$name.tap" "$@" || status=1
  local pass fail
  pass=$(grep -E '^# pass ' "$report_dir/$name.tap" | awk '{s+=$3} END {print s+0}')
  fail=$(grep -E '^# fail ' "$report_dir/$name.tap" | awk '{s+=$3} END {print s+0}')
  total_pass=$((total_pass + pass)); total_fail=$((total_fail + fail))
  log "$name: $pass passed, $fail failed"
}

# Only outputs whose source is still there: tsc -b never removes the output of a deleted
# source (or of a removed project, such as the retired tools/vm-node), and stale tests must not run.
with_source() {
  local f
  while IFS= read -r f; do
    local src=${f/\/dist\//\/src\/}
    [ -f "${src%.js}.ts" ] && printf '%s\n' "$f"
  done
}
dists=(libs/*/dist apps/*/dist tools/*/dist)
mapfile -t unit < <(find "${dists[@]}" -name '*.spec.js' ! -name '*.int.spec.js' 2>/dev/null | with_source | sort)
mapfile -t integration < <(find "${dists[@]}" -name '*.int.spec.js' 2>/dev/null | with_source | sort)
mapfile -t e2e < <(find test/dist -name '*.e2e.js' 2>/dev/null | with_source | sort)

tier unit "${unit[@]}"
tier integration "${integration[@]}"
tier e2e "${e2e[@]}"

echo "warmpod: ${total_pass} passed, ${total_fail} failed"
[ "$total_fail" -eq 0 ] || status=1
exit $status
