#!/usr/bin/env bash
# Install (when missing) and start the services the demo and the tests need:
# a Docker engine, a test registry with htpasswd auth on 127.0.0.1, and the system
# packages used by the offline base bootstrap and the browser tests.
# Idempotent: what already answers is left alone.
set -euo pipefail
STATE="${JC_STATE_DIR:-/var/lib/jupyter-containerize-dev}"
mkdir -p "$STATE"
log() { printf '[services] %s\n' "$*" >&2; }

need_pkgs=()
command -v dockerd >/dev/null 2>&1 || need_pkgs+=(docker.io)
command -v mmdebstrap >/dev/null 2>&1 || need_pkgs+=(mmdebstrap)
command -v docker-registry >/dev/null 2>&1 || need_pkgs+=(docker-registry)
command -v htpasswd >/dev/null 2>&1 || need_pkgs+=(apache2-utils)
command -v patchelf >/dev/null 2>&1 || need_pkgs+=(patchelf)
command -v wrk >/dev/null 2>&1 || need_pkgs+=(wrk)
command -v curl >/dev/null 2>&1 || need_pkgs+=(curl)
command -v ip >/dev/null 2>&1 || need_pkgs+=(iproute2)
{ command -v podman && command -v catatonit; } >/dev/null 2>&1 || need_pkgs+=(podman catatonit)
command -v chromium >/dev/null 2>&1 || need_pkgs+=(chromium fonts-liberation)
if [ "${#need_pkgs[@]}" -gt 0 ]; then
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    log "missing: ${need_pkgs[*]}; install them (Debian: apt-get install ${need_pkgs[*]}) and re-run"
    exit 1
  fi
  log "installing ${need_pkgs[*]}"
  apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need_pkgs[@]}" >/dev/null
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

# Test registry on 127.0.0.1:5000 with htpasswd auth (user/password for tests only).
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
log "registry: 127.0.0.1:$REG_PORT"

# The root filesystem of the containerd-image-store engine (Debian trixie's dockerd 26, run by
# scripts/second-engine.sh for the tests): built once with mmdebstrap and cached in $STATE.
# No engine is started from it here.
JC_STATE_DIR="$STATE" bash "$(dirname "${BASH_SOURCE[0]}")/second-engine.sh" prepare
log "containerd-store engine root: $STATE/trixie-engine-root"
