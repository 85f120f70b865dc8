#!/usr/bin/env bash
# Restarts one daemon of a `make up` cluster with extra flags: the same
# command line (from /proc), environment and log, the new pid in
# $STATE/pids. `make e2e-local` uses it to give the controller-manager short
# node-loss timings, until hack/up.sh takes extra flags itself.
#
#   e2e/relaunch.sh STATE NAME [FLAG...]
set -euo pipefail
state=$1 name=$2; shift 2
pidfile=$state/pids/$name.pid
pid=$(cat "$pidfile")
kill -0 "$pid" 2>/dev/null || { echo "$name (pid $pid) is not running" >&2; exit 1; }
mapfile -d '' args <"/proc/$pid/cmdline"
kill "$pid"
for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
kill -9 "$pid" 2>/dev/null || true
nohup "${args[@]}" "$@" >>"$state/logs/$name.log" 2>&1 &
echo $! >"$pidfile"
echo "$name: restarted (pid $!) with $*"
