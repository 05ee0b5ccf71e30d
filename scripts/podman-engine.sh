#!/usr/bin/env bash
# Podman's Docker-compatible API beside the Docker engine: the engine the Podman tests use.
#
#   scripts/podman-engine.sh start DIR   # installs podman when missing (Debian), starts
#                                        # `podman system service` on DIR/podman.sock and
#                                        # prints the DOCKER_HOST to use (unix://DIR/podman.sock)
#   scripts/podman-engine.sh stop DIR    # stops it, removes its containers, unmounts what it
#                                        # left mounted and deletes DIR (its images included)
#
# Everything it keeps is under DIR: storage root, run root, temporary folder (file locks,
# events), its containers.conf and storage.conf, its network configuration folder and its log.
# Nothing is read from or written to /etc/containers, /var/lib/containers or /run/containers.
# Its containers use Podman's default network: its own bridge `podman0` on 10.88.0.0/16,
# with netavark's own iptables chains; the Docker engine's docker0 and rules are not touched.
# Images come in with `docker save IMAGE | DOCKER_HOST=unix://DIR/podman.sock docker load`:
# Podman here pulls from no registry on the internet.
#
# DIR must be a folder of the caller's choosing; needs root (rootful Podman, as dockerd).
set -euo pipefail

usage() { echo "usage: $0 start DIR | stop DIR" >&2; exit 2; }
log() { printf '[podman-engine] %s\n' "$*" >&2; }

[ "$#" -eq 2 ] || usage
cmd="$1"
dir="$(realpath -m "$2")"

# podman, and catatonit: the init a container started with `init` (a kernel's) needs
ensure_podman() {
  { command -v podman && command -v catatonit; } >/dev/null 2>&1 && return 0
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    log "podman is missing: install it (Debian: apt-get install podman catatonit) and re-run"
    return 1
  fi
  log "installing podman catatonit"
  apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q podman catatonit >/dev/null
}

# podman with this instance's configuration, for `stop` and for a user's own look
pm() {
  CONTAINERS_CONF="$dir/containers.conf" CONTAINERS_STORAGE_CONF="$dir/storage.conf" \
    podman --root "$dir/storage" --runroot "$dir/run" --tmpdir "$dir/tmp" "$@"
}

# limit NAME: this shell's hard limit, or the running service's (Podman lowers its own)
hard_limit() {
  local what="$1" pid="${2:-}"
  if [ -n "$pid" ]; then
    awk -v w="$what" '$0 ~ "^Max " w {print $(NF-1)}' "/proc/$pid/limits"
  elif [ "$what" = "open files" ]; then ulimit -Hn
  else ulimit -Hu
  fi
}

write_config() {
  # Rootful Podman asks for 1048576 open files and 4194304 processes in each container; above
  # the service's own hard limits runc fails ("error setting rlimit type 7"): ask for those.
  local nofile="$1" nproc="$2"
  mkdir -p "$dir/storage" "$dir/run" "$dir/tmp" "$dir/networks"
  cat >"$dir/storage.conf" <<CONF
[storage]
driver = "overlay"
graphroot = "$dir/storage"
runroot = "$dir/run"
CONF
  cat >"$dir/containers.conf" <<CONF
[containers]
log_driver = "k8s-file"
default_ulimits = ["nofile=$nofile:$nofile", "nproc=$nproc:$nproc"]

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
runtime = "runc"
tmp_dir = "$dir/tmp"
lock_type = "file"
image_copy_tmp_dir = "$dir/tmp"

[network]
network_backend = "netavark"
network_config_dir = "$dir/networks"
CONF
}

answers() { curl -sf --unix-socket "$dir/podman.sock" http://d/_ping >/dev/null 2>&1; }

launch() {
  rm -f "$dir/podman.sock"
  # TMPDIR: the API's image loads are spooled there (else /var/tmp)
  TMPDIR="$dir/tmp" CONTAINERS_CONF="$dir/containers.conf" \
    CONTAINERS_STORAGE_CONF="$dir/storage.conf" \
    nohup podman --root "$dir/storage" --runroot "$dir/run" --tmpdir "$dir/tmp" \
      system service --time=0 "unix://$dir/podman.sock" >>"$dir/podman.log" 2>&1 &
  echo $! >"$dir/podman.pid"
  for _ in $(seq 1 120); do
    answers && return 0
    kill -0 "$(cat "$dir/podman.pid")" 2>/dev/null || break
    sleep 0.25
  done
  log "podman system service did not start: $(tail -n 3 "$dir/podman.log" | tr '\n' ' ')"
  return 1
}

halt() {
  local pid
  pid="$(cat "$dir/podman.pid" 2>/dev/null || true)"
  [ -n "$pid" ] || return 0
  # only the service of this DIR (a pid that went away may have been reused)
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$dir/podman.sock" || return 0
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.25; done
  kill -9 "$pid" 2>/dev/null || true
}

start() {
  ensure_podman
  if [ -f "$dir/podman.pid" ] && kill -0 "$(cat "$dir/podman.pid")" 2>/dev/null && answers; then
    echo "unix://$dir/podman.sock"
    return 0
  fi
  mkdir -p "$dir"
  write_config "$(hard_limit 'open files')" "$(hard_limit processes)"
  log "starting podman system service (log: $dir/podman.log)"
  launch
  local pid nofile nproc
  pid="$(cat "$dir/podman.pid")"
  nofile="$(hard_limit 'open files' "$pid")"; nproc="$(hard_limit processes "$pid")"
  if ! grep -q "nofile=$nofile:$nofile\", \"nproc=$nproc:$nproc\"" "$dir/containers.conf"; then
    # the service runs with lower limits than this shell: its containers ask for those
    halt
    write_config "$nofile" "$nproc"
    launch
  fi
  echo "unix://$dir/podman.sock"
}

# netavark's own iptables chains and the jumps to them, once no Podman network is in use:
# netavark leaves its common chains behind when the last container goes
drop_netavark_rules() {
  ip link show podman0 >/dev/null 2>&1 && return 0  # another Podman's containers use them
  local table rule chain
  for table in filter nat; do
    iptables-save -t "$table" 2>/dev/null | grep -E '^-A .*NETAVARK' \
      | while read -r rule; do eval "iptables -t $table ${rule/-A/-D}" 2>/dev/null || true; done
    iptables-save -t "$table" 2>/dev/null | awk '/^:NETAVARK/ {print substr($1, 2)}' \
      | while read -r chain; do iptables -t "$table" -X "$chain" 2>/dev/null || true; done
  done
}

stop() {
  if [ -d "$dir/storage" ]; then
    # its containers first (those that joined another's network before it), so Podman
    # tears their network down: netns in /run/netns, veths, podman0, port rules
    for _ in 1 2 3; do
      [ -z "$(pm ps -aq 2>/dev/null)" ] && break
      pm rm --all --force --time 0 >/dev/null 2>&1 || true
    done
  fi
  halt
  # conmon processes of this instance (started with this run root) that outlived it
  for pid in $(pgrep -x conmon 2>/dev/null || true); do
    if tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$dir/"; then
      kill "$pid" 2>/dev/null || true
    fi
  done
  # overlay and shm mounts Podman may leave under DIR, deepest first
  if [ -d "$dir" ]; then
    for _ in 1 2 3; do
      awk -v d="$dir/" 'index($2, d) == 1 {print $2}' /proc/self/mounts | sort -r \
        | while read -r mnt; do umount -l "$mnt" 2>/dev/null || true; done
      rm -rf "$dir" 2>/dev/null && break
      sleep 1
    done
  fi
  drop_netavark_rules
  [ ! -e "$dir" ] || { log "could not remove $dir"; return 1; }
  log "stopped; $dir removed"
}

case "$cmd" in
  start) start ;;
  stop) stop ;;
  *) usage ;;
esac
