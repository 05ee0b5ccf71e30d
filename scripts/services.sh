#!/usr/bin/env bash
# Install (when missing) and start the services the demo and the tests need:
# a Docker engine, a test registry with htpasswd auth on 127.0.0.1, and the system
# packages used by the offline base bootstrap and the browser tests.
# Idempotent: what already answers is left alone. Each package set it installs is named on
# one line; apt's own output goes to $STATE/apt.log and is shown when an install fails.
#
# TEST-ONLY REGISTRY: the registry started here listens on 127.0.0.1:5000 (loopback only)
# with the fixed user/password team/team-secret that the test suite logs in with. It is a
# fixture for the demo and the tests, not a registry to keep images in: do not expose it on
# another address or reuse those credentials. Its data lives in $STATE/registry-data.
set -euo pipefail
STATE="${JC_STATE_DIR:-/var/lib/jupyter-containerize-dev}"
mkdir -p "$STATE"
log() { printf '[services] %s\n' "$*" >&2; }

# Package sets: "purpose|apt packages|command that shows they are there".
sets=(
  "the Docker engine|docker.io|command -v dockerd"
  "the offline base bootstrap|mmdebstrap patchelf|command -v mmdebstrap && command -v patchelf"
  "the test registry|docker-registry apache2-utils|command -v docker-registry && command -v htpasswd"
  "the benchmarks|wrk|command -v wrk"
  "the scripts' network tools|curl iproute2|command -v curl && command -v ip"
  "the Podman tests|podman catatonit|command -v podman && command -v catatonit"
  "the browser tests|chromium fonts-liberation|command -v chromium"
)
need_pkgs=()
need_lines=()
for entry in "${sets[@]}"; do
  IFS='|' read -r purpose pkgs check <<<"$entry"
  if ! bash -c "$check" >/dev/null 2>&1; then
    read -r -a list <<<"$pkgs"
    need_pkgs+=("${list[@]}")
    need_lines+=("for $purpose: $pkgs")
  fi
done
if [ "${#need_pkgs[@]}" -gt 0 ]; then
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    for line in "${need_lines[@]}"; do log "missing $line"; done
    log "install them (Debian: apt-get install ${need_pkgs[*]}) and re-run"
    exit 1
  fi
  for line in "${need_lines[@]}"; do log "installing $line"; done
  APT_LOG="$STATE/apt.log"
  : >"$APT_LOG"
  apt_or_show() {  # run apt-get quietly; on failure show its output and stop
    if ! DEBIAN_FRONTEND=noninteractive apt-get "$@" >>"$APT_LOG" 2>&1; then
      log "apt-get $* failed; its output ($APT_LOG):"
      tail -n 40 "$APT_LOG" | sed 's/^/  | /' >&2
      exit 1
    fi
  }
  apt_or_show update -q
  apt_or_show install -y -q "${need_pkgs[@]}"
  log "installed ${#need_pkgs[@]} packages (apt output: $APT_LOG)"
fi

# Docker engine: use the one that answers, else start Debian's dockerd by hand (no systemd).
if ! docker info >/dev/null 2>&1; then
  if [ -n "${DOCKER_HOST:-}" ]; then
    log "DOCKER_HOST=$DOCKER_HOST does not answer; unset it or start that engine"; exit 1
  fi
  log "starting dockerd (log: $STATE/dockerd.log)"
  nohup dockerd >"$STATE/dockerd.log" 2>&1 &
  for _ in $(seq 1 120); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
  docker info >/dev/null 2>&1 || { log "dockerd did not start: see $STATE/dockerd.log"; exit 1; }
fi
log "engine: $(docker version --format '{{.Server.Version}}')"

# TEST-ONLY registry on 127.0.0.1:5000 with htpasswd auth: team/team-secret, which the tests
# use; loopback only, not for real images (see the header).
REG_PORT="${JC_REGISTRY_PORT:-5000}"
if ! curl -s -o /dev/null "http://127.0.0.1:$REG_PORT/v2/"; then
  mkdir -p "$STATE/registry-data"
  htpasswd -Bbc "$STATE/htpasswd" "${JC_REGISTRY_USER:-team}" "${JC_REGISTRY_PASSWORD:-team-secret}" 2>/dev/null
  cat >"$STATE/registry.yml" <<YML
version: 0.1
log: {level: warn}
storage: {filesystem: {rootdirectory: $STATE/registry-data}, delete: {enabled: true}}
http: {addr: 127.0.0.1:$REG_PORT}
auth: {htpasswd: {realm: jupyter-containerize, path: $STATE/htpasswd}}
YML
  nohup docker-registry serve "$STATE/registry.yml" >"$STATE/registry.log" 2>&1 &
  for _ in $(seq 1 40); do curl -s -o /dev/null "http://127.0.0.1:$REG_PORT/v2/" && break; sleep 0.25; done
fi
log "registry (test only, loopback): 127.0.0.1:$REG_PORT"

# The root filesystem of the containerd-image-store engine (Debian trixie's dockerd 26, run by
# scripts/second-engine.sh for the tests): built once with mmdebstrap and cached in $STATE.
# No engine is started from it here.
JC_STATE_DIR="$STATE" bash "$(dirname "${BASH_SOURCE[0]}")/second-engine.sh" prepare
log "containerd-store engine root: $STATE/trixie-engine-root"
