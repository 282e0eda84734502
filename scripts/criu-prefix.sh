#!/usr/bin/env bash
# CRIU in private prefixes of the project (.warmpod/<name>), for the local nodes:
# Debian bookworm's CRIU 3.17 cannot run on kernels >= 6.13 (split vDSO).
# The .debs come from the system's own Debian archive through a private apt
# state and are unpacked, never installed: the system's packages and apt
# sources stay as they are. A wrapper runs criu with the prefix's own loader
# and libraries. Sourced by bootstrap.sh; see notes/criu-host.md.
#
# Two prefixes:
# - .warmpod/criu (ensure_criu): CRIU >= 4.2, what every local node checkpoints with.
# - .warmpod/criu-4.1 (ensure_test_criu): trixie's CRIU 4.1.1, for the tests only:
#   a second, genuinely different CRIU runtime on the same machine (another
#   runtime fingerprint), so the checkpoint e2e can show that a checkpoint taken
#   under one runtime is never restored under another.

# The version tested on this project's machines; when the archive drops it, the
# newest >= CRIU_MIN is taken and the agent's capability check judges it.
CRIU_PIN=${WARMPOD_CRIU_PIN:-4.2.1-1}
CRIU_MIN=4.2
CRIU_SUITES="sid trixie-backports"
CRIU_PREFIX="$WARMPOD_ROOT/.warmpod/criu"

# The tests' second runtime: exactly upstream 4.1.1 (any Debian revision), no fallback:
# another version would be another runtime than the one the tests were written against.
TEST_CRIU_PIN='4.1.1-*'
TEST_CRIU_SUITES="trixie"
TEST_CRIU_PREFIX="$WARMPOD_ROOT/.warmpod/criu-4.1"

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
  install_criu_prefix "$CRIU_PREFIX" "$CRIU_PIN" "$CRIU_SUITES" "$CRIU_MIN" "local nodes will not checkpoint"
}

ensure_test_criu() {
  install_criu_prefix "$TEST_CRIU_PREFIX" "$TEST_CRIU_PIN" "$TEST_CRIU_SUITES" "" \
    "the checkpoint e2e skips its second-runtime case"
}

# install_criu_prefix PREFIX PIN SUITES MIN CONSEQUENCE
# Installs the newest criu of SUITES whose version matches the glob PIN into PREFIX
# (PREFIX/criu is the wrapper). When none matches: with MIN, the newest version >= MIN;
# without, nothing. Failures are logged with CONSEQUENCE and return 0 (the caller
# carries on without that CRIU); only a broken unpack returns 1.
install_criu_prefix() {
  local p=$1 pin=$2 suites=$3 min=$4 consequence=$5
  local stamp=$p/installed name=${p##*/}
  # Fast path, no network: this pin was installed already and its wrapper is there.
  if [ -x "$p/criu" ] && [ -f "$stamp" ] && grep -qxF "pin=$pin" "$stamp"; then return 0; fi
  local uri
  uri=$(debian_archive_uri) || true
  if [ -z "$uri" ]; then
    log "CRIU: no URIs: line in /etc/apt/sources.list.d/debian.sources; $consequence"
    return 0
  fi
  log "installing CRIU $pin${min:+ (else the newest >= $min)} from $uri suites $suites into .warmpod/$name"
  local tmp=$p.new
  rm -rf "$tmp"
  mkdir -p "$tmp/apt/lists/partial" "$tmp/apt/cache/archives/partial" "$tmp/debs" "$tmp/root"
  printf 'Types: deb\nURIs: %s\nSuites: %s\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
    "$uri" "$suites" >"$tmp/apt/criu.sources"
  local apt=(-o "Dir::Etc::sourcelist=$tmp/apt/criu.sources" -o Dir::Etc::sourceparts=/nonexistent
    -o "Dir::State::Lists=$tmp/apt/lists" -o "Dir::Cache=$tmp/apt/cache" -o Debug::NoLocking=1)
  if ! apt-get "${apt[@]}" update -qq >"$tmp/apt.log" 2>&1; then
    log "CRIU: apt-get update of $suites failed (see .warmpod/$name.new/apt.log); $consequence"
    return 0
  fi
  local versions want="" v
  versions=$(apt-cache "${apt[@]}" madison criu | awk -F'|' '{ gsub(/ /, "", $2); print $2 }')
  for v in $versions; do
    # shellcheck disable=SC2053 # $pin is a glob on purpose
    if [[ $v == $pin ]] && { [ -z "$want" ] || dpkg --compare-versions "$v" gt "$want"; }; then want=$v; fi
  done
  if [ -z "$want" ]; then
    log "CRIU: the tested version $pin is not in $suites (available: ${versions//$'\n'/ })"
    if [ -z "$min" ]; then
      log "CRIU: no other version will do for .warmpod/$name; $consequence"
      return 0
    fi
    for v in $versions; do if [ -z "$want" ] || dpkg --compare-versions "$v" gt "$want"; then want=$v; fi; done
    if [ -z "$want" ] || ! dpkg --compare-versions "$want" ge "$min"; then
      log "CRIU: no version >= $min in $suites; $consequence"
      return 0
    fi
    log "CRIU: taking $want instead; the agents' capability check judges whether it works"
  fi
  local deps
  # Dependencies resolved for the chosen version (criu=$want), not the suite's candidate.
  deps=$(apt-cache "${apt[@]}" depends --recurse --no-recommends --no-suggests --no-conflicts \
    --no-breaks --no-replaces --no-enhances "criu=$want" | grep -E '^[a-z0-9]' | grep -vx criu | sort -u)
  # shellcheck disable=SC2086 # one package name per word
  if ! (cd "$tmp/debs" && apt-get "${apt[@]}" download -qq "criu=$want" $deps >>"$tmp/apt.log" 2>&1); then
    log "CRIU: downloading criu=$want and its libraries failed (see .warmpod/$name.new/apt.log); $consequence"
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
  printf 'pin=%s\nversion=%s\n' "$pin" "$want" >"$stamp"
  log "CRIU: $("$p/criu" --version | head -n1) installed in .warmpod/$name"
}
