#!/bin/sh
# The image's entry point: `pyth-on ARGS` (default `serve`, the Containerfile's CMD), exec'd so
# that the server is the container's first process and gets its signals.
#
# The runners create a group per run in the memory, pids and cpu controllers of the container's
# cgroup namespace (`--cgroupns=private`: its root is the container's own group). Container
# engines mount those read-only; with CAP_SYS_ADMIN (which the sandbox needs anyway) a bind
# remount makes this mount point writable, nothing else: the container still sees only its own
# group, and no other mount of the cgroup file system changes.
#
# On cgroup v2 the runners also enable those controllers at the root of the namespace; the
# kernel refuses that while a process sits in it, so the server first moves itself (`0`: the
# writing process) into a child group, as deploy/kubernetes/deployment.yaml does.
set -eu

# Makes the mount at $1 writable if it is read-only.
writable() {
  [ -d "$1" ] && [ ! -w "$1" ] || return 0
  mount -o remount,bind,rw,nosuid,nodev,noexec "$1" || {
    echo "pyth-on-entrypoint: $1 is read-only and cannot be made writable: run the container" \
      "with CAP_SYS_ADMIN and --cgroupns=private (docs/OPERATIONS.md \"Container image\")" >&2
    exit 1
  }
}

if [ "${1:-}" = serve ]; then
  if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
    writable /sys/fs/cgroup
    mkdir -p /sys/fs/cgroup/server
    echo 0 > /sys/fs/cgroup/server/cgroup.procs
  else
    # The runner puts runs below its own group: it must be visible where the hierarchy is.
    own=$(sed -n 's/^[0-9]*:memory:\(.*\)$/\1/p' /proc/self/cgroup)
    [ -d "/sys/fs/cgroup/memory$own" ] || {
      echo "pyth-on-entrypoint: this process's memory group $own is not in" \
        "/sys/fs/cgroup/memory: run the container with --cgroupns=private" >&2
      exit 1
    }
    for controller in memory pids cpu; do
      writable "$(readlink -f "/sys/fs/cgroup/$controller")"
    done
  fi
fi
exec /usr/local/bin/pyth-on "$@"
