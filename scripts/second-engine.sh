#!/usr/bin/env bash
# A second, clean Docker engine for the sharing tests: "the teammate" who has never seen
# our images. Its own data root, exec root, pidfile and socket, and `--bridge none
# --iptables=false` so it leaves the first engine's network alone.
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
exec_root() { echo "/run/jc2-$(printf '%s' "$1" | sha256sum | cut -c1-10)"; }

start() {
  command -v dockerd >/dev/null 2>&1 || { log "dockerd is missing: run scripts/services.sh"; exit 1; }
  mkdir -p "$dir/data"
  local sock="$dir/docker.sock" ex
  ex="$(exec_root "$dir")"
  mkdir -p "$ex"
  nohup dockerd \
    --data-root "$dir/data" \
    --exec-root "$ex" \
    --pidfile "$dir/docker.pid" \
    --host "unix://$sock" \
    --bridge none --iptables=false --ip-masq=false \
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
}

case "$cmd" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop DIR" >&2; exit 2 ;;
esac
