#!/usr/bin/env bash
# Tears a throwaway `make up` cluster down completely, for `make e2e-local`:
# `make down` (which leaves pods running, by design), then the pods' shims,
# log drivers and containers that still name $STATE, then the mounts under
# $STATE, then $STATE itself. Only processes whose command line names this
# state dir are touched. With BRIDGE_PREFIX, the cluster's pod bridges
# (BRIDGE_PREFIX<i>) and their nftables tables go too, and the proxy's table.
#
#   e2e/local-down.sh STATE [BRIDGE_PREFIX]
set -uo pipefail
state=$1 bridges=${2:-}
if [[ -d $state ]]; then
  make --no-print-directory down STATE="$state"
  encoded=${state//\//%2F}
  descendants() { # descendants PID: every process below PID
    local c
    for c in $(ps -o pid= --ppid "$1"); do descendants "$c"; echo "$c"; done
  }
  for pid in $(ps -eo pid=); do
    [[ -r /proc/$pid/cmdline ]] || continue
    cmd=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || continue
    if [[ $cmd == *"$state/"* || $cmd == *"$encoded%2F"* ]]; then
      for d in $(descendants "$pid") "$pid"; do kill -9 "$d" 2>/dev/null; done
    fi
  done
  sleep 0.5
  # Deepest mounts first.
  grep -F " $state/" /proc/mounts | awk '{print $2}' | sort -r | while read -r m; do umount -l "$m" 2>/dev/null; done
  rm -rf "$state"
fi
# The proxy leaves its table in place when it exits (traffic keeps flowing
# through an upgrade); a throwaway cluster's must go, or its Service rules
# point at dead pods.
[[ -x $(dirname "$0")/../bin/proxy ]] && "$(dirname "$0")/../bin/proxy" --cleanup >/dev/null 2>&1
if [[ -n $bridges ]]; then
  for link in $(ip -o link show type bridge | awk -F': ' '{print $2}' | grep -E "^${bridges}[0-9]+$"); do
    ip link delete "$link"
    nft delete table ip "flotilla-$link" 2>/dev/null
  done
fi
exit 0
