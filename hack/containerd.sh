#!/usr/bin/env bash
# Starts a PRIVATE containerd for Flotilla kubelets: its own root, state,
# socket and config under DIR (default $STATE/containerd), the CRI plugin
# disabled, runc with the cgroupfs driver. Installs Debian's containerd and
# runc with apt when they are missing. Idempotent: a containerd already
# running from DIR (pidfile DIR/containerd.pid) is left alone.
#
#   hack/containerd.sh [DIR]        start (or keep) it; prints the socket path last
#   hack/containerd.sh stop [DIR]   stop it (containers keep running in their shims)
#   hack/containerd.sh install      only install the packages
#
# Kubelets reach it with --containerd DIR/containerd.sock; tests with
# FLOTILLA_CONTAINERD=DIR/containerd.sock.
set -euo pipefail

install() {
  if command -v containerd >/dev/null && command -v runc >/dev/null && command -v containerd-shim-runc-v2 >/dev/null; then
    return
  fi
  echo "containerd: installing Debian's containerd and runc" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=600 update -qq >/dev/null
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends containerd runc >/dev/null
  # The package starts the system containerd; we use only private ones, but
  # leave the system service as the machine's admin configured it.
}

cmd=start
case "${1:-}" in
  stop | start | install) cmd=$1; shift ;;
esac
DIR=${1:-${STATE:-$PWD/.state}/containerd}
DIR=$(mkdir -p "$DIR" && cd "$DIR" && pwd)
SOCK=$DIR/containerd.sock
PIDFILE=$DIR/containerd.pid

running() { [[ -f $PIDFILE ]] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }

case $cmd in
  install) install; exit 0 ;;
  stop)
    if running; then
      pid=$(cat "$PIDFILE")
      kill "$pid"
      for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -9 "$pid" 2>/dev/null || true
      echo "containerd: stopped (pid $pid)" >&2
    fi
    rm -f "$PIDFILE"
    exit 0
    ;;
esac

install
if running && [[ -S $SOCK ]]; then
  echo "containerd: already running (pid $(cat "$PIDFILE"), socket $SOCK)" >&2
  echo "$SOCK"
  exit 0
fi

mkdir -p "$DIR/root" "$DIR/state"
cat >"$DIR/config.toml" <<TOML
version = 2
root = "$DIR/root"
state = "$DIR/state"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs"]

[grpc]
  address = "$SOCK"

[ttrpc]
  address = "$SOCK.ttrpc"

[metrics]
  address = ""

[plugins."io.containerd.runtime.v2.task"]
  platforms = ["linux/amd64"]
TOML

rm -f "$SOCK" "$SOCK.ttrpc"
# setsid: the daemon outlives the shell (and a test process) that started it.
setsid containerd --config "$DIR/config.toml" >>"$DIR/containerd.log" 2>&1 </dev/null &
echo $! >"$PIDFILE"
for _ in $(seq 1 100); do
  if [[ -S $SOCK ]] && ctr --address "$SOCK" version >/dev/null 2>&1; then
    echo "containerd: started (pid $(cat "$PIDFILE"), socket $SOCK, log $DIR/containerd.log)" >&2
    echo "$SOCK"
    exit 0
  fi
  kill -0 "$(cat "$PIDFILE")" 2>/dev/null || break
  sleep 0.1
done
echo "containerd did not start; see $DIR/containerd.log" >&2
tail -n 20 "$DIR/containerd.log" >&2 || true
exit 1
