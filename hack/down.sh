#!/usr/bin/env bash
# Stops what hack/up.sh started, by pid, newest first; data stays in $STATE.
set -euo pipefail
STATE=${STATE:-$PWD/.state}
for name in apiserver etcd; do
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
