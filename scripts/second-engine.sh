#!/usr/bin/env bash
# A second, clean Docker engine beside the first: "the teammate" of the sharing tests, and the
# engine that tests the containerd image store (the default of Docker Engine 29 and Docker
# Desktop), while the first engine (Debian bookworm's dockerd 20.10) uses the overlay2 store.
#
#   scripts/second-engine.sh start DIR [--store containerd|overlay2]   # default: containerd
#       prints the DOCKER_HOST to use (unix://DIR/docker.sock)
#   scripts/second-engine.sh stop DIR      # stops it, deletes DIR (its images included),
#                                          # its exec root, cgroups and bridge
#   scripts/second-engine.sh prepare       # builds the containerd store's root filesystem
#                                          # (cached; scripts/services.sh calls this)
#
# --store overlay2: the host's dockerd (20.10) with its own data root, exec root, pidfile and
# socket.
# --store containerd: Debian trixie's dockerd 26 with the containerd snapshotter, run from a
# trixie root filesystem (its binaries need a newer glibc than bookworm has; no host package
# changes). It runs chrooted into that root, in a mount namespace of its own, so its mounts,
# its /run (containerd's and the shims' sockets) and its exec root never meet the first
# engine's. DIR is bind-mounted into the root, so its socket, pidfile, log and data root are
# plain files of DIR on the host.
#
# Both kinds stay in the host's network namespace (published ports answer on the host's
# 127.0.0.1; a registry on the host's 127.0.0.1 is reachable, and loopback registries are
# allowed without TLS) with `--iptables=false --ip-masq=false` and a bridge of their own
# (jc2-<hash>, an address in 198.18.0.0/15, the benchmarking range), created here and deleted
# by `stop`. Never `--bridge none`: with it dockerd deletes the host's `docker0` link at start,
# and the first engine's containers lose their network (measured here).
#
# DIR must be a fresh folder of the caller's choosing; needs root, as dockerd does.
set -euo pipefail
STATE="${JC_STATE_DIR:-/var/lib/jupyter-containerize-dev}"
ROOTFS="$STATE/trixie-engine-root"
# What the root holds; a root built from another recipe is rebuilt.
ROOT_PACKAGES="docker.io,containerd,runc,iptables,ca-certificates"
ROOT_DAEMON_JSON='{"features": {"containerd-snapshotter": true}}'
ROOT_RECIPE="trixie $ROOT_PACKAGES $ROOT_DAEMON_JSON"

usage() {
  echo "usage: $0 start DIR [--store containerd|overlay2] | stop DIR | prepare" >&2
  exit 2
}
log() { printf '[second-engine] %s\n' "$*" >&2; }

cmd="${1:-}"
[ -n "$cmd" ] || usage
shift
dir=""
store="containerd"
while [ "$#" -gt 0 ]; do
  case "$1" in
    --store) [ "$#" -ge 2 ] || usage; store="$2"; shift 2 ;;
    --store=*) store="${1#--store=}"; shift ;;
    -*) usage ;;
    *) [ -z "$dir" ] || usage; dir="$1"; shift ;;
  esac
done
case "$store" in containerd|overlay2) ;; *) log "unknown store: $store"; usage ;; esac
if [ "$cmd" != prepare ]; then
  [ -n "$dir" ] || usage
  dir="$(realpath -m "$dir")"
fi

# The exec root holds unix sockets (containerd's among them): keep its path short.
hash_of() { printf '%s' "$1" | sha256sum | cut -c1-10; }
exec_root() { echo "/run/jc2-$(hash_of "$1")"; }
bridge_of() { echo "jc2-$(hash_of "$1")"; }
cgroup_of() { echo "jc2-$(hash_of "$1")"; }

# ------------------------------------------------------------------ the trixie root

root_ready() { [ "$(cat "$ROOTFS/.jc-recipe" 2>/dev/null || true)" = "$ROOT_RECIPE" ]; }

prepare_root() {
  root_ready && return 0
  command -v mmdebstrap >/dev/null 2>&1 || {
    log "mmdebstrap is missing: run scripts/services.sh (or apt-get install mmdebstrap)"
    return 1
  }
  mkdir -p "$STATE"
  # one builder at a time; a second caller waits and then finds the root ready
  exec 9>"$STATE/trixie-engine-root.lock"
  flock 9
  if root_ready; then exec 9>&-; return 0; fi
  local tmp old started
  # what an interrupted build left behind is never reused
  for old in "$STATE"/trixie-engine-root.tmp.* "$STATE"/trixie-engine-root.old.*; do
    [ -e "$old" ] && rm -rf --one-file-system "$old"
  done
  tmp="$STATE/trixie-engine-root.tmp.$$"
  started=$(date +%s)
  log "building the containerd-store engine's root (Debian trixie: $ROOT_PACKAGES) in $ROOTFS"
  if ! mmdebstrap --quiet --variant=apt --include="$ROOT_PACKAGES" trixie "$tmp" >&2; then
    rm -rf --one-file-system "$tmp"
    exec 9>&-
    log "mmdebstrap failed: is a Debian mirror with trixie reachable through apt's sources?"
    return 1
  fi
  mkdir -p "$tmp/etc/docker"
  printf '%s\n' "$ROOT_DAEMON_JSON" >"$tmp/etc/docker/daemon.json"
  printf '%s' "$ROOT_RECIPE" >"$tmp/.jc-recipe"
  if [ -e "$ROOTFS" ]; then  # built from another recipe
    mv -T "$ROOTFS" "$STATE/trixie-engine-root.old.$$"
    rm -rf --one-file-system "$STATE/trixie-engine-root.old.$$"
  fi
  mv -T "$tmp" "$ROOTFS"
  exec 9>&-
  log "root ready in $(( $(date +%s) - started )) s: $(chroot "$ROOTFS" dockerd --version)"
}

# ------------------------------------------------------------------ start

make_bridge() {
  local br octet
  br="$(bridge_of "$dir")"
  octet=$(( 0x$(hash_of "$dir" | cut -c1-2) ))
  if ! ip link show "$br" >/dev/null 2>&1; then
    ip link add "$br" type bridge
    ip addr add "198.18.$octet.1/24" dev "$br"
    ip link set "$br" up
  fi
  echo "$br"
}

start_overlay2() {
  local br="$1" ex
  command -v dockerd >/dev/null 2>&1 || { log "dockerd is missing: run scripts/services.sh"; exit 1; }
  ex="$(exec_root "$dir")"
  mkdir -p "$dir/data" "$ex"
  nohup dockerd \
    --data-root "$dir/data" \
    --exec-root "$ex" \
    --pidfile "$dir/docker.pid" \
    --cgroup-parent "/$(cgroup_of "$dir")" \
    --host "unix://$dir/docker.sock" \
    --bridge "$br" --iptables=false --ip-masq=false \
    >"$dir/dockerd.log" 2>&1 &
  echo "$!" >"$dir/engine.pid"
}

start_containerd() {
  local br="$1" inner
  prepare_root || exit 1
  mkdir -p "$dir/data"
  # Runs inside the new mount namespace: every mount below belongs to it and goes with it.
  # shellcheck disable=SC2016
  inner='set -e
R="$1"; shift
mount --bind "$R" "$R"
mount -t tmpfs -o mode=755 tmpfs "$R/run"
mount -t proc proc "$R/proc"
mount -t sysfs sysfs "$R/sys"
mount --rbind /sys/fs/cgroup "$R/sys/fs/cgroup"
mount --rbind /dev "$R/dev"
mkdir -p "$R/run/jc-host"
mount --bind "$JC_ENGINE_DIR" "$R/run/jc-host"
exec chroot "$R" "$@"'
  JC_ENGINE_DIR="$dir" nohup unshare --mount --propagation slave -- \
    bash -c "$inner" inner "$ROOTFS" /usr/sbin/dockerd \
    --data-root /run/jc-host/data \
    --exec-root "$(exec_root "$dir")" \
    --pidfile /run/jc-host/docker.pid \
    --cgroup-parent "/$(cgroup_of "$dir")" \
    --host unix:///run/jc-host/docker.sock \
    --bridge "$br" --iptables=false --ip-masq=false \
    --shutdown-timeout 2 --group root \
    >"$dir/dockerd.log" 2>&1 &
  echo "$!" >"$dir/engine.pid"
}

fail_start() {
  log "$1; the engine's log:"
  tail -n 25 "$dir/dockerd.log" >&2 2>/dev/null || true
  stop
  exit 1
}

start() {
  if [ -e "$dir/engine.pid" ]; then
    log "$dir already holds an engine: stop it first, or choose a fresh folder"
    exit 1
  fi
  mkdir -p "$dir"
  printf '%s\n' "$store" >"$dir/store"
  local sock="$dir/docker.sock" had_docker0=0 br pid started
  ip link show docker0 >/dev/null 2>&1 && had_docker0=1
  if [ "$store" = containerd ] && ! prepare_root; then rm -rf "$dir"; exit 1; fi
  started=$(date +%s%N)
  br="$(make_bridge)"
  "start_$store" "$br"
  pid="$(cat "$dir/engine.pid")"
  for _ in $(seq 1 240); do
    DOCKER_HOST="unix://$sock" docker info >/dev/null 2>&1 && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.25
  done
  DOCKER_HOST="unix://$sock" docker info >/dev/null 2>&1 || fail_start "the second dockerd did not start"
  if [ "$had_docker0" = 1 ] && ! ip link show docker0 >/dev/null 2>&1; then
    fail_start "the first engine's docker0 vanished while the second engine started"
  fi
  if [ "$store" = containerd ] && ! DOCKER_HOST="unix://$sock" docker info \
      --format '{{json .DriverStatus}}' | grep -q 'io.containerd.snapshotter.v1'; then
    fail_start "the second dockerd does not use the containerd image store"
  fi
  local ms=$(( ($(date +%s%N) - started) / 1000000 ))
  log "$store-store engine $(DOCKER_HOST="unix://$sock" docker version --format \
    '{{.Server.Version}}') ready in $((ms / 1000)).$((ms % 1000 / 100)) s"
  echo "unix://$sock"
}

# ------------------------------------------------------------------ stop

# Processes of the engine: those in its cgroups (its containers, which have namespaces of
# their own) and those in its mount namespace (dockerd, containerd, shims, docker-proxy).
container_pids() {
  find /sys/fs/cgroup/*/"$1" -name cgroup.procs -exec cat {} + 2>/dev/null || true
}
engine_pids() {
  local ns="$1" cg="$2" p
  if [ -n "$ns" ]; then
    for p in /proc/[0-9]*; do
      [ "$(readlink "$p/ns/mnt" 2>/dev/null || true)" = "$ns" ] && echo "${p#/proc/}"
    done
  fi
  container_pids "$cg"
}

stop() {
  local pid="" ns="" cg ex left
  ex="$(exec_root "$dir")"
  cg="$(cgroup_of "$dir")"
  pid="$(cat "$dir/engine.pid" 2>/dev/null || cat "$dir/docker.pid" 2>/dev/null || true)"
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    [ "$(cat "$dir/store" 2>/dev/null || true)" = containerd ] \
      && ns="$(readlink "/proc/$pid/ns/mnt" 2>/dev/null || true)"
    [ "$ns" = "$(readlink /proc/self/ns/mnt)" ] && ns=""  # not in its own namespace yet
  fi
  # Its containers go first, at once: nothing of them is kept, and a graceful stop would wait
  # out each one's stop timeout (10 s for a server that ignores SIGTERM as PID 1).
  left="$(container_pids "$cg" | sort -u | tr '\n' ' ')"
  # shellcheck disable=SC2086
  [ -z "${left// /}" ] || kill -9 $left 2>/dev/null || true
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
  fi
  for _ in 1 2 3; do
    left="$(engine_pids "$ns" "$cg" | sort -u | tr '\n' ' ')"
    [ -n "${left// /}" ] || break
    # shellcheck disable=SC2086
    kill -9 $left 2>/dev/null || true
    sleep 0.5
  done
  # the first kind shares the host's mount namespace: unmount what its containers left
  { grep -o " $dir/data[^ ]*" /proc/mounts 2>/dev/null || true; } | sort -r | while read -r m; do
    umount -l "$m" 2>/dev/null || true
  done
  find /sys/fs/cgroup/*/"$cg" -depth -type d -exec rmdir {} + 2>/dev/null || true
  rm -rf --one-file-system "$dir" "$ex"
  ip link del "$(bridge_of "$dir")" 2>/dev/null || true
}

case "$cmd" in
  start) start ;;
  stop) stop ;;
  prepare) prepare_root ;;
  *) usage ;;
esac
