#!/usr/bin/env bash
# The compose cluster's test (make compose-test; CI runs it after make test):
#   1. hack/compose.sh up (3 etcd, apiserver, 2 schedulers, 2 controller-managers,
#      dns, 3 nodes, Prometheus) returns with every node Ready
#   2. Prometheus's /api/v1/targets lists every component's admin port, all up
#   2b. the e2e suite (e2e/suite, `make e2e` with FLOTILLA_E2E_CLUSTER=compose:
#      node loss by `docker stop node-N`, apiserver and etcd member restarts)
#      against this cluster (unless E2E=0)
#   3. a workload (Deployment of 3 testserver pods behind a Service, spread over
#      the nodes) answers by Service name from a client pod
#   4. each component in turn is upgraded (hack/compose.sh upgrade) under that
#      workload: afterwards every replica reports the new version on /version,
#      no object is lost (UIDs of nodes, namespaces and the workload's objects
#      unchanged) and no pod restarted (container IDs, start times and
#      restart counts unchanged), and the Service still answers
#   5. hack/compose.sh down (unless KEEP=1)
# Fails loudly on the first broken step.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BIN=${BIN:-$ROOT/bin}
export COMPOSE_STATE=${COMPOSE_STATE:-$ROOT/.state/compose}
export FLOTILLA_CONFIG=${FLOTILLA_CONFIG:-$HOME/.flotilla/config}
DOCKER=/usr/bin/docker; [[ -x $DOCKER ]] || DOCKER=docker
PROM=http://127.0.0.1:${FLOTILLA_PROMETHEUS_PORT:-9090}
UPGRADE=${UPGRADE:-etcd apiserver scheduler controller-manager dns prometheus node}
NS=compose-test
t0=$SECONDS
step() { echo "== [$((SECONDS - t0)) s] $*"; }
fail() { echo "FAIL: $*" >&2; "$ROOT/hack/compose.sh" ps >&2 || true; exit 1; }
flotctl() { "$BIN/flotctl" --config "$FLOTILLA_CONFIG" "$@"; }

cleanup() {
  local rc=$?
  if [[ ${KEEP:-0} != 1 ]]; then
    step "compose down"
    "$ROOT/hack/compose.sh" down || true
    # The images this test built for its upgrades (tags upgrade-<component>-<time>).
    "$DOCKER" images --format '{{.Repository}}:{{.Tag}}' | grep -E '^flotilla/[a-z-]+:upgrade-[a-z-]+-[0-9]{6}$' | xargs -r "$DOCKER" rmi >/dev/null 2>&1 || true
  fi
  ((rc == 0)) && echo "PASS: compose cluster test in $((SECONDS - t0)) s" || echo "FAIL: compose cluster test (exit $rc) after $((SECONDS - t0)) s"
  exit $rc
}
trap cleanup EXIT

step "compose up"
for tool in jq curl; do
  command -v $tool >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq $tool >/dev/null
done
make -s build >/dev/null
"$ROOT/hack/compose.sh" up
flotctl get nodes -o wide

# prometheus_targets_up: every active target healthy and the expected count.
want_targets=16 # prometheus 1, etcd 3, apiserver 1, scheduler 2, controller-manager 2, dns 1, kubelet 3, proxy 3
prometheus_targets_up() {
  local deadline=$((SECONDS + ${1:-90})) out
  while ((SECONDS < deadline)); do
    out=$(curl -sf "$PROM/api/v1/targets?state=active" || true)
    if [[ -n $out ]]; then
      local total up
      total=$(jq '.data.activeTargets | length' <<<"$out")
      up=$(jq '[.data.activeTargets[] | select(.health == "up")] | length' <<<"$out")
      if ((total == want_targets && up == total)); then
        echo "prometheus: $up/$total targets up"
        return 0
      fi
    fi
    sleep 2
  done
  echo "prometheus targets not all up:" >&2
  jq -r '.data.activeTargets[] | "  \(.labels.job)\t\(.labels.instance)\t\(.health)\t\(.lastError)"' <<<"${out:-{\"data\":{\"activeTargets\":[]\}\}}" >&2 || true
  return 1
}
step "Prometheus: every target up"
prometheus_targets_up 120 || fail "Prometheus targets"
# Each job's metrics carry flotilla_build_info (etcd and Prometheus have their own).
for job in apiserver scheduler controller-manager dns kubelet proxy; do
  n=$(curl -sf "$PROM/api/v1/query" --data-urlencode "query=count(flotilla_build_info{job=\"$job\"})" | jq -r '.data.result[0].value[1] // 0')
  [[ $n -ge 1 ]] || fail "no flotilla_build_info from job $job"
done

if [[ ${E2E:-1} != 0 ]]; then
  step "e2e suite against the compose cluster"
  s=$SECONDS
  FLOTILLA_E2E_CLUSTER=compose FLOTILLA_E2E_COMPOSE_PROJECT=${COMPOSE_PROJECT:-flotilla} FLOTILLA_E2E_NODE_COUNT=3 \
    make -s --no-print-directory e2e BIN="$BIN" ${E2E_FLAGS:+E2E_FLAGS="$E2E_FLAGS"} || fail "e2e suite against the compose cluster"
  echo "e2e suite passed in $((SECONDS - s)) s"
  # The suite stopped a node and restarted the apiserver and etcd members:
  # the cluster is whole again before the upgrades start.
  wait_nodes=$((SECONDS + 90))
  until [[ $(flotctl get nodes --no-headers 2>/dev/null | awk '$2=="Ready"' | wc -l) -eq 3 ]]; do
    ((SECONDS < wait_nodes)) || fail "not every node Ready after the e2e suite"
    sleep 2
  done
  prometheus_targets_up 120 || fail "Prometheus targets after the e2e suite"
fi

step "workload: Deployment web (3 pods) + Service + client pod"
flotctl delete namespace "$NS" --ignore-not-found >/dev/null 2>&1 || true
cat <<YAML | flotctl apply -f -
apiVersion: v1
kind: Namespace
metadata: {name: $NS}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: $NS}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: flotilla/testserver:latest
        imagePullPolicy: IfNotPresent
        resources: {requests: {cpu: 50m, memory: 32Mi}}
        readinessProbe: {httpGet: {path: /healthz, port: 8080}, periodSeconds: 2}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: $NS}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: marker, namespace: $NS}
data: {written: before-upgrades}
---
apiVersion: v1
kind: Pod
metadata: {name: client, namespace: $NS}
spec:
  containers:
  - name: c
    image: busybox:1.35
    command: [sleep, "86400"]
YAML
ready_pods() { flotctl get pods -n "$NS" -o json | jq '[.items[] | select(.status.phase == "Running" and ((.status.conditions // []) | any(.type == "Ready" and .status == "True")))] | length'; }
deadline=$((SECONDS + 120))
until [[ $(ready_pods) -ge 4 ]]; do
  ((SECONDS < deadline)) || { flotctl get pods -n "$NS" -o wide; fail "workload not Ready in 120 s"; }
  sleep 2
done
flotctl get pods -n "$NS" -o wide

service_answers() { # the Service by name from the client pod, a few tries
  for _ in 1 2 3 4 5 6 7 8 9 10; do
    if timeout 15 "$BIN/flotctl" --config "$FLOTILLA_CONFIG" exec -n "$NS" client -- wget -q -O - "http://web.$NS.svc.cluster.local/" >/dev/null 2>&1; then return 0; fi
    sleep 2
  done
  return 1
}
service_answers || fail "service web.$NS does not answer from the client pod"

# snapshot: the objects that must survive (kind/ns/name uid) and the pods'
# containers (id, start time, restart count), sorted, one per line.
snapshot_objects() {
  {
    flotctl get nodes -o json | jq -r '.items[] | "Node/\(.metadata.name) \(.metadata.uid)"'
    flotctl get namespaces -o json | jq -r '.items[] | "Namespace/\(.metadata.name) \(.metadata.uid)"'
    flotctl get deployments,replicasets,services,configmaps,pods -n "$NS" -o json |
      jq -r '.items[] | "\(.kind)/\(.metadata.namespace)/\(.metadata.name) \(.metadata.uid)"'
  } | sort
}
# startedAt is compared in whole seconds: the kubelet reports nanoseconds for
# a container it started and seconds for one it adopted after a restart.
snapshot_containers() {
  flotctl get pods -n "$NS" -o json |
    jq -r '.items[] | .metadata.name as $p | .spec.nodeName as $n | .status.containerStatuses[] | "\($p) \($n) \(.containerID) \(.state.running.startedAt | sub("\\.[0-9]+Z$"; "Z")) restarts=\(.restartCount // 0) ready=\(.ready)"' | sort
}
objects0=$(snapshot_objects)
containers0=$(snapshot_containers)
echo "$containers0"

# version_of SERVICE PORT: the version an admin port reports (asked from a node container).
version_of() { "$DOCKER" exec node-1 wget -q -O - "http://$1:$2/version" 2>/dev/null | jq -r .version; }

check_versions() { # check_versions COMPONENT VERSION
  local comp=$1 v=$2 got
  case $comp in
    apiserver) got=$(version_of apiserver 6444); [[ $got == "$v" ]] || fail "apiserver reports $got, want $v" ;;
    scheduler | controller-manager)
      local port; port=$([[ $comp == scheduler ]] && echo 10259 || echo 10257)
      for i in 1 2; do got=$(version_of "$comp-$i" "$port"); [[ $got == "$v" ]] || fail "$comp-$i reports $got, want $v"; done ;;
    dns) got=$(version_of dns 10054); [[ $got == "$v" ]] || fail "dns reports $got, want $v" ;;
    node)
      for n in node-1 node-2 node-3; do
        for port in 10248 10249; do got=$(version_of "$n" "$port"); [[ $got == "$v" ]] || fail "$n:$port reports $got, want $v"; done
        got=$(flotctl get node "$n" -o json | jq -r .status.nodeInfo.kubeletVersion)
        [[ $got == "$v" ]] || fail "Node $n's kubeletVersion is $got, want $v"
      done ;;
    etcd | prometheus)
      # Their binaries are not ours (etcd pinned in tools/, Debian's prometheus):
      # check that every replica's container runs the new image.
      local svc img
      for svc in $([[ $comp == etcd ]] && echo etcd-1 etcd-2 etcd-3 || echo prometheus); do
        img=$("$DOCKER" ps --filter label=com.docker.compose.project=flotilla --filter "label=com.docker.compose.service=$svc" --format '{{.Image}}')
        [[ $img == "flotilla/$comp:$v" ]] || fail "$svc runs image '$img', want flotilla/$comp:$v"
      done ;;
  esac
}

for comp in $UPGRADE; do
  v="upgrade-$comp-$(date +%H%M%S)"
  step "upgrade $comp to $v"
  s=$SECONDS
  "$ROOT/hack/compose.sh" upgrade "$comp" "$v"
  check_versions "$comp" "$v"
  # The cluster settles: nodes Ready, workload Ready, Service answers.
  deadline=$((SECONDS + 90))
  until [[ $(flotctl get nodes --no-headers 2>/dev/null | awk '$2=="Ready"' | wc -l) -eq 3 && $(ready_pods 2>/dev/null || echo 0) -ge 4 ]]; do
    ((SECONDS < deadline)) || fail "cluster did not settle after upgrading $comp"
    sleep 2
  done
  service_answers || fail "service web.$NS does not answer after upgrading $comp"
  objects=$(snapshot_objects)
  containers=$(snapshot_containers)
  if [[ $objects != "$objects0" ]]; then diff <(echo "$objects0") <(echo "$objects") >&2 || true; fail "objects changed across the $comp upgrade"; fi
  if [[ $containers != "$containers0" ]]; then diff <(echo "$containers0") <(echo "$containers") >&2 || true; fail "pods restarted across the $comp upgrade"; fi
  [[ $(flotctl get configmap marker -n "$NS" -o json | jq -r .data.written) == before-upgrades ]] || fail "configmap content lost"
  echo "$comp: upgraded in $((SECONDS - s)) s; $(wc -l <<<"$objects") objects and $(wc -l <<<"$containers") containers unchanged"
done

step "Prometheus after the upgrades: every target up"
prometheus_targets_up 120 || fail "Prometheus targets after upgrades"

# The upgraded control plane and nodes still act: a scale-up is scheduled,
# started and joins the Service.
step "scale web to 5 after the upgrades"
flotctl scale deployment web -n "$NS" --replicas 5
deadline=$((SECONDS + 90))
until [[ $(ready_pods) -ge 6 ]]; do
  ((SECONDS < deadline)) || { flotctl get pods -n "$NS" -o wide; fail "scale-up after the upgrades not Ready in 90 s"; }
  sleep 2
done
flotctl get pods -n "$NS" -o wide
service_answers || fail "service web.$NS does not answer after the scale-up"
