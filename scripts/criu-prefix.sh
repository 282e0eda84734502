#!/usr/bin/env bash
# CRIU >= 4.2 in a private prefix of the project (.warmpod/criu), for the local
# nodes: Debian bookworm's CRIU 3.17 cannot run on kernels >= 6.13 (split vDSO).
# The .debs come from the system's own Debian archive (suite sid) through a
# private apt state and are unpacked, never installed: the system's packages
# and apt sources stay as they are. A wrapper runs criu with the prefix's own
# loader and libraries. Sourced by bootstrap.sh; see notes/criu-host.md.

# The version tested on this project's machines; when the archive drops it, the
# newest >= CRIU_MIN is taken and the agent's capability check judges it.
CRIU_PIN=${WARMPOD_CRIU_PIN:-4.2.1-1}
CRIU_MIN=4.2
CRIU_SUITES="sid trixie-backports"
CRIU_PREFIX="$WARMPOD_ROOT/.warmpod/criu"

# The URI of the system's main Debian archive: the first URIs: line of a
# deb822 stanza that is not the security archive.
debian_archive_uri() {
  local sources=/etc/apt/sources.list.d/debian.sources
  [ -r "$sources" ] || return 1
  awk 'BEGIN { RS = ""; FS = "\n" }
    {
      uri = ""; suites = ""
      for (i = 1; i <= NF; i++) {
        if ($i ~ /^URIs:/) { uri = $i; sub(/^URIs:[ \t]*/, "", uri); sub(/[ \t].*$/, "", uri) }
        if ($i ~ /^Suites:/) suites = $i
      }
      if (uri != "" && suites !~ /-security/) { print uri; exit }
    }' "$sources"
}

ensure_criu() {
  local p=$CRIU_PREFIX stamp=$CRIU_PREFIX/installed
  # Fast path, no network: this pin was installed already and its wrapper is there.
  if [ -x "$p/criu" ] && [ -f "$stamp" ] && grep -qx "pin=$CRIU_PIN" "$stamp"; then return 0; fi
  local uri
  uri=$(debian_archive_uri) || true
  if [ -z "$uri" ]; then
    log "CRIU: no URIs: line in /etc/apt/sources.list.d/debian.sources; local nodes will not checkpoint"
    return 0
  fi
  log "installing CRIU >= $CRIU_MIN (pin $CRIU_PIN) from $uri suites $CRIU_SUITES into .warmpod/criu"
  local tmp=$p.new
  rm -rf "$tmp"
  mkdir -p "$tmp/apt/lists/partial" "$tmp/apt/cache/archives/partial" "$tmp/debs" "$tmp/root"
  printf 'Types: deb\nURIs: %s\nSuites: %s\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
    "$uri" "$CRIU_SUITES" >"$tmp/apt/criu.sources"
  local apt=(-o "Dir::Etc::sourcelist=$tmp/apt/criu.sources" -o Dir::Etc::sourceparts=/nonexistent
    -o "Dir::State::Lists=$tmp/apt/lists" -o "Dir::Cache=$tmp/apt/cache" -o Debug::NoLocking=1)
  if ! apt-get "${apt[@]}" update -qq >"$tmp/apt.log" 2>&1; then
    log "CRIU: apt-get update of $CRIU_SUITES failed (see .warmpod/criu.new/apt.log); local nodes will not checkpoint"
    return 0
  fi
  local versions want
  versions=$(apt-cache "${apt[@]}" madison criu | awk -F'|' '{ gsub(/ /, "", $2); print $2 }')
  if grep -qx "$CRIU_PIN" <<<"$versions"; then
    want=$CRIU_PIN
  else
    want=""
    local v
    for v in $versions; do if [ -z "$want" ] || dpkg --compare-versions "$v" gt "$want"; then want=$v; fi; done
    log "CRIU: the tested version $CRIU_PIN is no longer in the archive (available: ${versions//$'\n'/ })"
    if [ -z "$want" ] || ! dpkg --compare-versions "$want" ge "$CRIU_MIN"; then
      log "CRIU: no version >= $CRIU_MIN in $CRIU_SUITES; local nodes will not checkpoint"
      return 0
    fi
    log "CRIU: taking $want instead; the agents' capability check judges whether it works"
  fi
  local deps
  deps=$(apt-cache "${apt[@]}" depends --recurse --no-recommends --no-suggests --no-conflicts \
    --no-breaks --no-replaces --no-enhances criu | grep -E '^[a-z0-9]' | grep -vx criu | sort -u)
  # shellcheck disable=SC2086 # one package name per word
  if ! (cd "$tmp/debs" && apt-get "${apt[@]}" download -qq "criu=$want" $deps >>"$tmp/apt.log" 2>&1); then
    log "CRIU: downloading criu=$want and its libraries failed (see .warmpod/criu.new/apt.log); local nodes will not checkpoint"
    return 0
  fi
  local deb
  for deb in "$tmp"/debs/*.deb; do dpkg-deb -x "$deb" "$tmp/root" || return 1; done
  local loader
  loader=$(find "$tmp/root/usr/lib" -maxdepth 2 -name 'ld-linux*.so.*' | head -n1)
  if [ -z "$loader" ] || [ ! -x "$tmp/root/usr/sbin/criu" ]; then
    log "CRIU: the unpacked packages hold no loader or no criu binary"
    return 1
  fi
  local libdir=${loader%/*} final_loader final_libdir
  final_loader=$p${loader#"$tmp"} final_libdir=$p${libdir#"$tmp"}
  # No CRIU_FAULT here: the agent measures whether hardware breakpoints work and sets it per call.
  cat >"$tmp/criu" <<EOF
#!/bin/sh
exec "$final_loader" --library-path "$final_libdir" "$p/root/usr/sbin/criu" "\$@"
EOF
  chmod 0755 "$tmp/criu"
  rm -rf "$tmp/debs" "$tmp/apt/cache" "$tmp/apt/lists"
  rm -rf "$p" && mv "$tmp" "$p"
  printf 'pin=%s\nversion=%s\n' "$CRIU_PIN" "$want" >"$stamp"
  log "CRIU: $("$p/criu" --version | head -n1) installed in .warmpod/criu"
}
