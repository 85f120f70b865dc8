#!/usr/bin/env bash
# `make test`: every module's tests (hack/test.sh MODULE...). As root, it
# first makes sure the real parts the kubelet tests run pods with are here:
# Debian's busybox-static (the test image) and a private containerd
# (hack/containerd.sh, under $STATE/test-containerd, left running for the
# next run; `make down` stops it) — unless FLOTILLA_CONTAINERD already names
# a containerd socket. Without them those tests skip, saying why.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ $(id -u) == 0 && -z ${FLOTILLA_CONTAINERD:-} ]]; then
  if ! command -v busybox >/dev/null; then
    echo "test: installing Debian's busybox-static (the test image)" >&2
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq busybox-static >/dev/null ||
      { apt-get -o DPkg::Lock::Timeout=600 update -qq >/dev/null &&
        DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq busybox-static >/dev/null; }
  fi
  FLOTILLA_CONTAINERD=$(hack/containerd.sh "${STATE:-$PWD/.state}/test-containerd" | tail -n1)
  export FLOTILLA_CONTAINERD
fi
for m in "$@"; do
  echo "== $m"
  (cd "$m" && go test -count=1 ./...)
done
