#!/usr/bin/env bash
# CI set-up for the sandbox tests (called by .ci/run when present; idempotent):
#   1. apt packages: the Docker engine, mmdebstrap (offline image build), bubblewrap (local backend);
#   2. start dockerd in the background unless an engine already answers, wait for `docker info`;
#   3. build the sandbox image offline (Debian root fs -> docker import -> Dockerfile layers) unless an
#      image built from the current Dockerfile is already there.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

need=()
command -v dockerd >/dev/null 2>&1 || need+=(docker.io)
command -v mmdebstrap >/dev/null 2>&1 || need+=(mmdebstrap)
command -v bwrap >/dev/null 2>&1 || need+=(bubblewrap)
if [ "${#need[@]}" -gt 0 ]; then
  echo "setup-docker: installing ${need[*]}"
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi

PIDFILE=/var/run/grpo-dockerd.pid
start_dockerd() {
  echo "setup-docker: starting dockerd $*"
  $SUDO sh -c "nohup dockerd $* >/var/log/grpo-dockerd.log 2>&1 & echo \$! > $PIDFILE"
  for _ in $(seq 60); do
    if docker info >/dev/null 2>&1; then return 0; fi
    if ! $SUDO kill -0 "$(cat $PIDFILE)" 2>/dev/null; then return 1; fi
    sleep 1
  done
  return 1
}

if ! docker info >/dev/null 2>&1; then
  if ! start_dockerd; then
    # No iptables/bridge permissions (e.g. inside an unprivileged container): the sandboxes use
    # network "none" anyway, so run the engine without a default bridge.
    tail -20 /var/log/grpo-dockerd.log || true
    $SUDO kill "$(cat $PIDFILE)" 2>/dev/null || true
    sleep 2
    start_dockerd --iptables=false --ip6tables=false --bridge=none || {
      tail -50 /var/log/grpo-dockerd.log || true
      echo "setup-docker: dockerd did not start" >&2
      exit 1
    }
  fi
fi
docker info --format 'setup-docker: engine {{.ServerVersion}}, storage {{.Driver}}'

IMAGE=grpo-sandbox-python:latest
# g++ too, so the C++ code-verifier tests run against Docker as well; the label names the Debian
# suite (sandboxes.images.DEFAULT_SUITE), so an image of an older suite is rebuilt
suite=$(sed -n 's/^DEFAULT_SUITE = "\(.*\)"$/\1/p' sandboxes/images/__init__.py)
want="$(sha256sum sandboxes/images/python/Dockerfile | cut -d' ' -f1)+${suite}+cpp"
have=$(docker image inspect -f '{{ index .Config.Labels "org.grpo.sandbox.dockerfile-sha256" }}' "$IMAGE" 2>/dev/null || true)
if [ "$want" = "$have" ]; then
  echo "setup-docker: $IMAGE is up to date"
else
  make install
  .venv/bin/grpo sandbox build --offline --with-cpp
fi
docker run --rm --network none "$IMAGE" python3 -c 'import sys; print("setup-docker: sandbox python", sys.version.split()[0])'
