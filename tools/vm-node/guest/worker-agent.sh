#!/bin/sh
# warmpod vm-node: the worker agent as the VM's workload (started by guest/agent.sh through
# workload.sh, with the agent's environment). Gives the agent in the guest what it has on a
# host node, then execs node on the single-file bundle (a module graph over 9p loads far slower).
#   $1                  the bundle (tools/vm-node/dist/worker-agent-bundle/bin/worker-agent.js)
#   NODE_DATA_DIR       mounted here as a tmpfs: pod roots are overlays, and an overlay's upper
#                       dir cannot live on the guest's root, itself an overlay
#   VM_DATA_SIZE        that tmpfs's size limit (default 512m; it only takes what is written)
#   VM_NODE_MODULES     modules the pod network needs, loaded before the agent starts
set -eu
bundle=$1
echo "vm worker agent: preparing the node at uptime $(cut -d' ' -f1 /proc/uptime) s, $(date -u +%T) UTC"

mkdir -p "$NODE_DATA_DIR"
mountpoint -q "$NODE_DATA_DIR" || mount -t tmpfs -o "size=${VM_DATA_SIZE:-512m},mode=0700" warmpod-node "$NODE_DATA_DIR"

# CNI bridge + veth; modprobe also serves kernel autoload, but loading up front keeps the
# first pod start from paying for it.
[ -z "${VM_NODE_MODULES:-}" ] || modprobe -a $VM_NODE_MODULES

# cgroup v2: the controllers runc sets limits with, delegated from the root (runc enables
# them further down its own path).
controllers=
for c in $(cat /sys/fs/cgroup/cgroup.controllers); do
  case "$c" in cpu | cpuset | memory | pids | io) controllers="$controllers +$c" ;; esac
done
[ -z "$controllers" ] || echo "$controllers" >/sys/fs/cgroup/cgroup.subtree_control

mkdir -p /run/netns
echo "vm worker agent: starting node at uptime $(cut -d' ' -f1 /proc/uptime) s, $(date -u +%T) UTC"
exec node "$bundle"
