#!/usr/bin/env bash
# Stops what hack/up.sh started, by pid, newest first; data stays in $STATE.
set -euo pipefail
STATE=${STATE:-$PWD/.state}
# Kubelets get SIGTERM and leave their pods running (the next `make up`
# adopts them); the private containerd stops too, the containers' shims stay.
for f in "$STATE"/pids/kubelet-*.pid; do
  [[ -f $f ]] || continue
  pid=$(cat "$f") name=$(basename "$f" .pid)
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid"
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    echo "$name: stopped"
  fi
  rm -f "$f"
done
[[ -d $STATE/containerd ]] && "$(dirname "$0")/containerd.sh" stop "$STATE/containerd"
# The one `make test` starts for the kubelet tests.
[[ -d $STATE/test-containerd ]] && "$(dirname "$0")/containerd.sh" stop "$STATE/test-containerd"
for name in dns proxy controller-manager scheduler apiserver etcd; do
  f="$STATE/pids/$name.pid"
  [[ -f $f ]] || continue
  pid=$(cat "$f")
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid"
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    echo "$name: stopped"
  fi
  rm -f "$f"
done
