#!/usr/bin/env bash
# A second, clean Docker engine for the sharing tests: "the teammate" who has never seen
# our images. Its own data root, exec root, pidfile and socket, `--iptables=false`, and a
# bridge of its own so it leaves the first engine's network alone.
#
# Not `--bridge none`: with it, dockerd 20.10 deletes the host's `docker0` link at start
# (its "--bridge=none use case" cleanup), and both engines share the host's network
# namespace, so the first engine's containers lose their network (measured here). The
# teammate's bridge (jc2-<hash>, an address in 198.18.0.0/15, the benchmarking range) is
# created here and deleted by `stop`; its containers reach nothing outside it.
#
#   scripts/second-engine.sh start DIR   # prints the DOCKER_HOST to use (unix://DIR/docker.sock)
#   scripts/second-engine.sh stop DIR    # stops it and deletes DIR (its images included)
#
# DIR must be a fresh folder of the caller's choosing; needs root, as dockerd does.
set -euo pipefail
cmd="${1:-}"
dir="${2:-}"
if [ -z "$cmd" ] || [ -z "$dir" ]; then
  echo "usage: $0 start|stop DIR" >&2
  exit 2
fi
log() { printf '[second-engine] %s\n' "$*" >&2; }

# The exec root holds unix sockets (containerd's among them): keep its path short.
hash_of() { printf '%s' "$1" | sha256sum | cut -c1-10; }
exec_root() { echo "/run/jc2-$(hash_of "$1")"; }
bridge_of() { echo "jc2-$(hash_of "$1")"; }

start() {
  command -v dockerd >/dev/null 2>&1 || { log "dockerd is missing: run scripts/services.sh"; exit 1; }
  mkdir -p "$dir/data"
  local sock="$dir/docker.sock" ex
  ex="$(exec_root "$dir")"
  mkdir -p "$ex"
  local br octet had_docker0=0
  br="$(bridge_of "$dir")"
  octet=$(( 0x$(hash_of "$dir" | cut -c1-2) ))
  ip link show docker0 >/dev/null 2>&1 && had_docker0=1
  if ! ip link show "$br" >/dev/null 2>&1; then
    ip link add "$br" type bridge
    ip addr add "198.18.$octet.1/24" dev "$br"
    ip link set "$br" up
  fi
  nohup dockerd \
    --data-root "$dir/data" \
    --exec-root "$ex" \
    --pidfile "$dir/docker.pid" \
    --host "unix://$sock" \
    --bridge "$br" --iptables=false --ip-masq=false \
    >"$dir/dockerd.log" 2>&1 &
  for _ in $(seq 1 120); do
    DOCKER_HOST="unix://$sock" docker info >/dev/null 2>&1 && break
    sleep 0.25
  done
  if ! DOCKER_HOST="unix://$sock" docker info >/dev/null 2>&1; then
    log "the second dockerd did not start; its log:"
    tail -n 20 "$dir/dockerd.log" >&2 || true
    exit 1
  fi
  if [ "$had_docker0" = 1 ] && ! ip link show docker0 >/dev/null 2>&1; then
    log "the first engine's docker0 vanished while the second engine started"
    exit 1
  fi
  echo "unix://$sock"
}

stop() {
  local pid ex
  ex="$(exec_root "$dir")"
  if [ -f "$dir/docker.pid" ]; then
    pid="$(cat "$dir/docker.pid")"
    if kill -0 "$pid" 2>/dev/null; then
      kill "$pid"
      for _ in $(seq 1 80); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
      kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null || true
    fi
  fi
  # overlay mounts of containers that were still running go with the engine; unmount leftovers
  { grep -o " $dir/data[^ ]*" /proc/mounts 2>/dev/null || true; } | sort -r | while read -r m; do
    umount -l "$m" 2>/dev/null || true
  done
  rm -rf "$dir" "$ex"
  ip link del "$(bridge_of "$dir")" 2>/dev/null || true
}

case "$cmd" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop DIR" >&2; exit 2 ;;
esac
