#!/usr/bin/env bash
# The docker-compose dev cluster (docker-compose.yaml), project "flotilla".
#
#   hack/compose.sh up                 images (if missing), credentials, `docker-compose up -d`,
#                                      client config; returns when all 3 nodes are Ready
#   hack/compose.sh down               stop and remove containers, volumes and state
#   hack/compose.sh upgrade COMPONENT  rebuild COMPONENT's image with a new tag and
#                                      roll only its service(s), one replica at a time
#   hack/compose.sh ps | logs [SVC]    docker-compose ps / logs
#
# State (credentials, the env file with each component's image tag) lives in
# $COMPOSE_STATE (default .state/compose). The client config goes to
# $FLOTILLA_CONFIG (default $HOME/.flotilla/config).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
COMPOSE_STATE=${COMPOSE_STATE:-$ROOT/.state/compose}
CONFIG=${FLOTILLA_CONFIG:-$HOME/.flotilla/config}
PROJECT=${COMPOSE_PROJECT:-flotilla}
ENVFILE=$COMPOSE_STATE/compose.env
BIN=${BIN:-$ROOT/bin}
NODES=(node-1 node-2 node-3)
DOCKER=/usr/bin/docker; [[ -x $DOCKER ]] || DOCKER=docker
COMPONENTS=(etcd apiserver scheduler controller-manager dns node prometheus)

compose() { docker-compose -p "$PROJECT" -f "$ROOT/docker-compose.yaml" --env-file "$ENVFILE" "$@"; }
log() { echo "compose: $*" >&2; }
tagvar() { echo "$(echo "$1" | tr a-z- A-Z_)_TAG"; }          # controller-manager -> CONTROLLER_MANAGER_TAG
services_of() {                                              # compose services of a component, in roll order
  case $1 in
    etcd) echo etcd-1 etcd-2 etcd-3 ;;
    scheduler) echo scheduler-1 scheduler-2 ;;
    controller-manager) echo controller-manager-1 controller-manager-2 ;;
    node | kubelet | proxy) echo "${NODES[@]}" ;;
    *) echo "$1" ;;
  esac
}
flotctl() { "$BIN/flotctl" --config "$CONFIG" "$@"; }
ensure_flotctl() { [[ -x $BIN/flotctl ]] || (cd "$ROOT" && make -s build >/dev/null); }

# wait_ready N SECONDS: until N nodes are Ready.
wait_ready() {
  local want=$1 deadline=$((SECONDS + $2)) ready=0
  while ((SECONDS < deadline)); do
    ready=$(flotctl get nodes --no-headers 2>/dev/null | awk '$2=="Ready"' | wc -l || true)
    ((ready >= want)) && return 0
    sleep 1
  done
  log "only $ready of $want nodes Ready after $2 s"; return 1
}

# wait_healthy SERVICE PORT SECONDS: until the service's admin port answers /readyz.
wait_healthy() {
  local svc=$1 port=$2 deadline=$((SECONDS + $3))
  while ((SECONDS < deadline)); do
    # The network's other containers reach it by name; ask from a node (busybox wget).
    if "$DOCKER" exec node-1 wget -q -O /dev/null "http://$svc:$port/readyz" 2>/dev/null; then return 0; fi
    sleep 1
  done
  log "$svc:$port/readyz did not answer in $3 s"; return 1
}

write_config() {
  mkdir -p "$(dirname "$CONFIG")"
  local port
  port=$(grep '^FLOTILLA_API_PORT=' "$ENVFILE" | cut -d= -f2)
  (umask 077; cat >"$CONFIG" <<CFG
server: 127.0.0.1:${port:-6443}
certificateAuthorityData: $(base64 -w0 <"$COMPOSE_STATE/pki/ca.crt")
token: $(cat "$COMPOSE_STATE/pki/admin.token")
CFG
  )
  log "client config in $CONFIG"
}

up() {
  local t0=$SECONDS
  hack/docker.sh
  ensure_flotctl
  mkdir -p "$COMPOSE_STATE"
  if [[ ! -f $ENVFILE ]]; then
    local version
    version=$(git describe --tags --always --dirty 2>/dev/null || echo dev)
    {
      echo "FLOTILLA_PKI=$COMPOSE_STATE/pki"
      echo "FLOTILLA_API_PORT=${FLOTILLA_API_PORT:-6443}"
      echo "FLOTILLA_PROMETHEUS_PORT=${FLOTILLA_PROMETHEUS_PORT:-9090}"
      for c in "${COMPONENTS[@]}"; do echo "$(tagvar "$c")=$version"; done
    } >"$ENVFILE"
  fi
  # Images for the tags in the env file (a fresh cluster builds the current tree).
  local missing=()
  for c in "${COMPONENTS[@]}"; do
    local tag; tag=$(grep "^$(tagvar "$c")=" "$ENVFILE" | cut -d= -f2)
    "$DOCKER" image inspect "flotilla/$c:$tag" >/dev/null 2>&1 || missing+=("$c")
  done
  if [[ ${#missing[@]} -gt 0 ]]; then
    local tag; tag=$(grep "^APISERVER_TAG=" "$ENVFILE" | cut -d= -f2)
    log "building images ${missing[*]} (tag $tag)"
    VERSION=$tag hack/images.sh "${missing[@]}" >/dev/null
  fi
  (cd "$ROOT" && go run ./e2e/cmd/composepki --dir "$COMPOSE_STATE/pki" --san apiserver,localhost,127.0.0.1)
  compose up -d --remove-orphans
  write_config
  wait_ready ${#NODES[@]} 180
  log "up in $((SECONDS - t0)) s: $BIN/flotctl --config $CONFIG get nodes; Prometheus on http://127.0.0.1:$(grep '^FLOTILLA_PROMETHEUS_PORT=' "$ENVFILE" | cut -d= -f2)"
}

down() {
  if [[ ! -f $ENVFILE ]]; then
    # State gone (or another COMPOSE_STATE): still remove the project's containers.
    mkdir -p "$COMPOSE_STATE"; echo "FLOTILLA_PKI=$COMPOSE_STATE/pki" >"$ENVFILE"
  fi
  if command -v docker-compose >/dev/null && timeout 10 "$DOCKER" version >/dev/null 2>&1; then
    compose down -v --remove-orphans || true
  fi
  # Pods' cgroups live in the host hierarchy; their processes died with the
  # node containers, so the (empty) directories can go.
  for n in "${NODES[@]}"; do
    for d in /sys/fs/cgroup/*/flotilla/"$n"; do
      [[ -d $d ]] && find "$d" -depth -type d -exec rmdir {} + 2>/dev/null || true
    done
  done
  rm -rf "$COMPOSE_STATE"
  log "down"
}

# upgrade COMPONENT [VERSION]: build COMPONENT at a new tag and roll its services.
upgrade() {
  local comp=${1:?usage: upgrade COMPONENT} version=${2:-}
  [[ -f $ENVFILE ]] || { log "no compose cluster (run hack/compose.sh up)"; exit 1; }
  case $comp in
    etcd | apiserver | scheduler | controller-manager | dns | prometheus | node | kubelet | proxy) ;;
    cloud-controller-manager) log "cloud-controller-manager is not part of the compose cluster (a stub)"; exit 1 ;;
    *) log "unknown component $comp"; exit 2 ;;
  esac
  [[ -n $version ]] || version="$(git describe --tags --always --dirty 2>/dev/null || echo dev)-$(date +%Y%m%d%H%M%S)"
  case $comp in
    node | kubelet | proxy) upgrade_node "$comp" "$version"; return ;;
  esac
  log "building flotilla/$comp:$version"
  VERSION=$version hack/images.sh "$comp" >/dev/null
  sed -i "s/^$(tagvar "$comp")=.*/$(tagvar "$comp")=$version/" "$ENVFILE"
  for svc in $(services_of "$comp"); do
    log "recreating $svc with flotilla/$comp:$version"
    compose up -d --no-deps "$svc"
    case $comp in
      etcd) wait_etcd "$svc" 90 ;;
      apiserver) wait_healthy apiserver 6444 90 ;;
      scheduler) wait_healthy "$svc" 10259 60 ;;
      controller-manager) wait_healthy "$svc" 10257 60 ;;
      dns) wait_healthy dns 10054 60 ;;
    esac
  done
  log "$comp now at $version"
}

# wait_etcd MEMBER SECONDS: until the member is healthy and the cluster has 3 started members.
wait_etcd() {
  local m=$1 deadline=$((SECONDS + $2))
  while ((SECONDS < deadline)); do
    if "$DOCKER" exec node-1 wget -q -O - "http://$m:2379/health" 2>/dev/null | grep -q '"health":"true"'; then return 0; fi
    sleep 1
  done
  log "etcd member $m not healthy after $2 s"; return 1
}

# A node container cannot be replaced without killing its pods (their shims
# and network namespace live in it), so a node upgrade swaps the kubelet and
# proxy binaries inside each running node container, one node at a time: the
# new binary is renamed over the old one and the supervisor restarts the
# process; containerd keeps running and the new kubelet adopts the pods.
# containerd and runc themselves change only when a node is recreated.
upgrade_node() {
  local comp=$1 version=$2 bins
  case $comp in node) bins="kubelet proxy" ;; *) bins=$comp ;; esac
  log "building flotilla/node:$version"
  VERSION=$version hack/images.sh node >/dev/null
  local tmp; tmp=$(mktemp -d)
  local cid; cid=$("$DOCKER" create "flotilla/node:$version")
  for b in $bins; do "$DOCKER" cp "$cid:/usr/local/bin/$b" "$tmp/$b"; done
  "$DOCKER" rm "$cid" >/dev/null
  for n in "${NODES[@]}"; do
    for b in $bins; do
      log "$n: $b -> $version (in place)"
      "$DOCKER" cp "$tmp/$b" "$n:/usr/local/bin/$b.new"
      "$DOCKER" exec "$n" sh -c "mv /usr/local/bin/$b.new /usr/local/bin/$b && kill \$(cat /run/flotilla/$b.pid)"
    done
    # The new kubelet reports Ready and the admin ports answer before the next node.
    for b in $bins; do
      local port; port=$([[ $b == kubelet ]] && echo 10248 || echo 10249)
      local deadline=$((SECONDS + 60))
      until "$DOCKER" exec "$n" wget -q -O - "http://127.0.0.1:$port/version" 2>/dev/null | grep -q "$version"; do
        ((SECONDS < deadline)) || { log "$n: $b did not come back at $version"; exit 1; }
        sleep 1
      done
    done
    wait_ready ${#NODES[@]} 60
  done
  rm -rf "$tmp"
  # Recorded for the record only: the node containers' image tag (NODE_TAG) is unchanged.
  sed -i '/^NODE_BINARIES_VERSION=/d' "$ENVFILE"; echo "NODE_BINARIES_VERSION=$version" >>"$ENVFILE"
  log "$comp now at $version on ${NODES[*]} (node containers keep their image tag)"
}

cmd=${1:-}
shift || true
case $cmd in
  up) up ;;
  down) down ;;
  upgrade) upgrade "$@" ;;
  ps) compose ps ;;
  logs) compose logs --tail=100 "$@" ;;
  config) compose config ;;
  *) echo "usage: $0 up|down|upgrade COMPONENT [VERSION]|ps|logs [SERVICE]" >&2; exit 2 ;;
esac
