#!/run/vm-node/bin/sh
# warmpod vm-node guest agent. Started (and restarted) by busybox init inside the VM from the
# inittab the host wrote to the read-write share; serves the host's control channel, a
# virtio-serial port named warmpod.ctl. Plain busybox sh: it is ready at once, where a node
# process takes seconds to start under TCG.
#
# Protocol, one line per message:
#   host -> guest   PING | EXEC <id> | POWEROFF
#   guest -> host   READY <uptime s> | DONE <id> <exit code> | EXIT <workload exit code> | BYE
# EXEC <id> runs the script the host wrote to <share>/exec/<id>.sh with stdin from <id>.in
# (or /dev/null) and stdout/stderr into <id>.out and <id>.err, then answers DONE. The host
# reads those files through the share, so no payload ever crosses the serial line.
# <share>/workload.sh (optional) is started once per boot, output appended to workload.log.
# <share>/loopback (optional) lists "PORT IP" lines: 127.0.0.1:PORT in the guest is forwarded
# to IP:PORT (a guestfwd address), so a host service keeps its 127.0.0.1:PORT name here.
# When the host end of the channel goes away (its process died), the VM powers itself off.

S=${1:-/run/vm-node/share}
B=/run/vm-node/bin/busybox
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8

log() { echo "vm-node agent: $*" >&2; }

port=
for p in /sys/class/virtio-ports/*; do
  [ "$(cat "$p/name" 2>/dev/null)" = warmpod.ctl ] && port=/dev/${p##*/}
done
if [ -z "$port" ]; then
  log "no virtio-serial port named warmpod.ctl"
  sleep 5
  exit 1
fi
exec 3<>"$port"

# One writer at a time on the port: lines from background jobs must not interleave.
send() {
  { flock 9; printf '%s\n' "$*" >&3; } 9>/run/vm-node/agent.lock
}

start_loopback_forwards() {
  [ -f "$S/loopback" ] || return 0
  while read -r lport ip; do
    [ -n "$lport" ] || continue
    if command -v socat >/dev/null 2>&1; then
      socat "TCP-LISTEN:$lport,bind=127.0.0.1,fork,reuseaddr" "TCP:$ip:$lport" </dev/null >/dev/null 2>&1 3>&- &
    else
      # busybox nc cannot bind one address: it listens on all of the guest's (restrict=on keeps it inside)
      $B nc -ll -p "$lport" -e $B nc "$ip" "$lport" </dev/null >/dev/null 2>&1 3>&- &
    fi
  done <"$S/loopback"
  # wait until every forward listens, so READY means usable
  i=0
  while [ $i -lt 50 ]; do
    missing=0
    while read -r lport ip; do
      [ -n "$lport" ] || continue
      $B netstat -ltn 2>/dev/null | grep -q ":$lport " || missing=1
    done <"$S/loopback"
    [ $missing = 0 ] && return 0
    i=$((i + 1))
    sleep 0.1
  done
  log "loopback forwards did not all come up"
}

start_workload() {
  [ -f "$S/workload.sh" ] || return 0
  [ -e /run/vm-node/workload.started ] && return 0
  : >/run/vm-node/workload.started
  (
    $B sh "$S/workload.sh" </dev/null >>"$S/workload.log" 2>&1 3>&-
    send "EXIT $?"
  ) &
}

if [ ! -e /run/vm-node/agent.started ]; then
  : >/run/vm-node/agent.started
  start_loopback_forwards
fi
start_workload
send "READY $(cut -d' ' -f1 /proc/uptime)"

while IFS= read -r line <&3; do
  set -- $line
  case "$1" in
    PING) send "READY $(cut -d' ' -f1 /proc/uptime)" ;;
    EXEC)
      id=$2
      case "$id" in *[!0-9]* | '') log "bad exec id '$id'"; continue ;; esac
      in=/dev/null
      [ -f "$S/exec/$id.in" ] && in="$S/exec/$id.in"
      (
        cd /
        $B sh "$S/exec/$id.sh" <"$in" >"$S/exec/$id.out" 2>"$S/exec/$id.err" 3>&-
        send "DONE $id $?"
      ) &
      ;;
    POWEROFF)
      send BYE
      $B sync
      exec $B poweroff
      ;;
    '') ;;
    *) log "unknown request: $1" ;;
  esac
done
log "control channel closed by the host: powering off"
$B sync
exec $B poweroff
