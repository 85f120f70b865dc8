#!/usr/bin/env bash
# Makes sure a docker daemon answers: installs Debian's docker.io (20.10) and
# docker-compose (1.29) with apt when missing, then starts dockerd by hand in
# the background (no systemd here) with its pid in $DOCKER_STATE/dockerd.pid
# and its log in $DOCKER_STATE/dockerd.log. Idempotent: a daemon that already
# answers (ours or anyone's) is left alone.
#
#   hack/docker.sh           install if needed, start if needed
#   hack/docker.sh install   only install the packages
#   hack/docker.sh stop      stop the dockerd this script started
#
# Notes (../shared/MACHINE-NOTES.md): only the legacy builder works
# (DOCKER_BUILDKIT=0), and --privileged fails; compose files use cap_add ALL
# minus SYS_RESOURCE instead.
set -euo pipefail
DOCKER_STATE=${DOCKER_STATE:-/var/lib/flotilla-dockerd}
PIDFILE=$DOCKER_STATE/dockerd.pid
LOG=$DOCKER_STATE/dockerd.log
# Debian's client matches Debian's daemon; prefer it over any other docker on PATH.
DOCKER=/usr/bin/docker

install() {
  if [[ -x /usr/sbin/dockerd && -x /usr/bin/docker && -x /usr/bin/docker-compose ]]; then return; fi
  echo "docker: installing Debian's docker.io and docker-compose" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=600 update -qq >/dev/null
  # policy-rc.d: don't let the package try to start services (no systemd here).
  local prc=/usr/sbin/policy-rc.d created=
  if [[ ! -e $prc ]]; then printf '#!/bin/sh\nexit 101\n' >"$prc"; chmod +x "$prc"; created=1; fi
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends docker.io docker-compose >/dev/null
  [[ -n $created ]] && rm -f "$prc"
  return 0
}

answers() { timeout 10 "$DOCKER" version >/dev/null 2>&1; }

cmd=${1:-start}
case $cmd in
  install) install; exit 0 ;;
  stop)
    if [[ -f $PIDFILE ]] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
      pid=$(cat "$PIDFILE"); kill "$pid"
      for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
      echo "docker: stopped dockerd (pid $pid)" >&2
    fi
    rm -f "$PIDFILE"; exit 0 ;;
  start) ;;
  *) echo "usage: $0 [start|install|stop]" >&2; exit 2 ;;
esac

install
if answers; then exit 0; fi
mkdir -p "$DOCKER_STATE"
if [[ -f $PIDFILE ]] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
  echo "docker: dockerd (pid $(cat "$PIDFILE")) runs but does not answer yet; waiting" >&2
else
  # dockerd needs the cgroup hierarchies and its own containerd (it starts one).
  # It outlives this script, so it must not inherit any other descriptor: a
  # caller's `flock /tmp/flotilla-bench.lock make ...` would otherwise stay
  # locked for as long as dockerd (and its containerd) run.
  (
    for fd in /proc/$BASHPID/fd/*; do
      fd=${fd##*/}
      ((fd > 2)) && eval "exec $fd>&-" 2>/dev/null
    done
    exec setsid dockerd --pidfile "$DOCKER_STATE/dockerd.daemon.pid" >>"$LOG" 2>&1 </dev/null
  ) &
  echo $! >"$PIDFILE"
  echo "docker: started dockerd (pid $!, log $LOG)" >&2
fi
for _ in $(seq 1 150); do
  answers && exit 0
  kill -0 "$(cat "$PIDFILE")" 2>/dev/null || break
  sleep 0.2
done
echo "docker: dockerd did not answer; last lines of $LOG:" >&2
tail -n 30 "$LOG" >&2 || true
exit 1
