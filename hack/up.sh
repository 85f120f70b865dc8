#!/usr/bin/env bash
# Starts a local Flotilla cluster as background processes: etcd and the
# control plane, with data, logs, certificates and pids under $STATE. It is
# idempotent: what already runs is left alone. Writes $HOME/.flotilla/config.
set -euo pipefail
STATE=${STATE:-$PWD/.state}
BIN=${BIN:-$PWD/bin}
ETCD_PORT=${ETCD_PORT:-2379}
ETCD_PEER_PORT=${ETCD_PEER_PORT:-2380}
API_PORT=${API_PORT:-6443}
API_ADMIN_PORT=${API_ADMIN_PORT:-6444}
CONFIG=${FLOTILLA_CONFIG:-$HOME/.flotilla/config}

mkdir -p "$STATE"/{pids,logs,pki,etcd}

running() { # running NAME: is the process we started still alive?
  local f="$STATE/pids/$1.pid"
  [[ -f $f ]] && kill -0 "$(cat "$f")" 2>/dev/null
}

launch() { # launch NAME CMD...: start in the background unless running
  local name=$1; shift
  if running "$name"; then echo "$name: already running (pid $(cat "$STATE/pids/$name.pid"))"; return; fi
  nohup "$@" >>"$STATE/logs/$name.log" 2>&1 &
  echo $! >"$STATE/pids/$name.pid"
  echo "$name: started (pid $!, log $STATE/logs/$name.log)"
}

# Bearer tokens: one identity per component, created once.
if [[ ! -f $STATE/pki/tokens.csv ]]; then
  umask 077
  {
    echo "$(head -c 24 /dev/urandom | base64 | tr -d '/+='),admin,admin,system:masters"
    for c in scheduler controller-manager cloud-controller-manager proxy dns; do
      echo "$(head -c 24 /dev/urandom | base64 | tr -d '/+='),system:$c,$c,system:components"
    done
    # Kubelets are nodes: the bootstrap policy binds system:node to this group.
    echo "$(head -c 24 /dev/urandom | base64 | tr -d '/+='),system:kubelet,kubelet,system:nodes"
  } >"$STATE/pki/tokens.csv"
  umask 022
fi

launch etcd "$BIN/etcd" --name local --data-dir "$STATE/etcd" \
  --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
  --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
  --initial-cluster "local=http://127.0.0.1:$ETCD_PEER_PORT" --log-level warn

# This machine's address: pods reach the apiserver (as the kubernetes
# Service) and the cluster DNS there.
node_ip=$(ip -4 route get 1.1.1.1 2>/dev/null | awk '{for (i = 1; i < NF; i++) if ($i == "src") { print $(i + 1); exit }}')
node_ip=${node_ip:-127.0.0.1}

# The apiserver makes its CA and serving certificate in --cert-dir when absent.
launch apiserver "$BIN/apiserver" --etcd-servers "http://127.0.0.1:$ETCD_PORT" \
  --bind-address "0.0.0.0:$API_PORT" --advertise-address "$node_ip" --admin-address "127.0.0.1:$API_ADMIN_PORT" \
  --cert-dir "$STATE/pki" --token-file "$STATE/pki/tokens.csv" \
  --kubelet-certificate-authority "$STATE/pki/ca.crt"

for _ in $(seq 1 100); do [[ -f $STATE/pki/ca.crt ]] && break; sleep 0.1; done
[[ -f $STATE/pki/ca.crt ]] || { echo "apiserver did not write its CA; see $STATE/logs/apiserver.log" >&2; exit 1; }

mkdir -p "$(dirname "$CONFIG")"
admin_token=$(awk -F, '$2=="admin"{print $1}' "$STATE/pki/tokens.csv")
umask 077
cat >"$CONFIG" <<CFG
server: 127.0.0.1:$API_PORT
certificateAuthorityData: $(base64 -w0 <"$STATE/pki/ca.crt")
token: $admin_token
CFG
umask 022

# Control plane components, each with its own identity (token) and the
# bootstrap RBAC role for it; leader election on, as with several replicas.
for _ in $(seq 1 100); do [[ -f $STATE/pki/sa.key ]] && break; sleep 0.1; done
component_token() { # component_token USER: write the user's token to a file, print its path
  local f="$STATE/pki/${1#system:}.token"
  umask 077; printf %s "$(awk -F, -v u="$1" '$2==u{print $1}' "$STATE/pki/tokens.csv")" >"$f"; umask 022
  echo "$f"
}
common=(--server "127.0.0.1:$API_PORT" --certificate-authority "$STATE/pki/ca.crt" --leader-elect --log-format console)
launch scheduler "$BIN/scheduler" "${common[@]}" --token-file "$(component_token system:scheduler)" \
  --admin-address "127.0.0.1:${SCHEDULER_ADMIN_PORT:-10259}"
launch controller-manager "$BIN/controller-manager" "${common[@]}" --token-file "$(component_token system:controller-manager)" \
  --admin-address "127.0.0.1:${CONTROLLER_MANAGER_ADMIN_PORT:-10257}" \
  --service-account-private-key-file "$STATE/pki/sa.key" --root-ca-file "$STATE/pki/ca.crt"

# Services: one proxy for this machine (every simulated node shares the host
# network namespace) and the cluster DNS, reached from pods at the DNS
# Service's cluster IP, which the proxy forwards to this machine's address.
base=(--server "127.0.0.1:$API_PORT" --certificate-authority "$STATE/pki/ca.crt" --log-format console)
launch proxy "$BIN/proxy" "${base[@]}" --token-file "$(component_token system:proxy)" \
  --admin-address "127.0.0.1:${PROXY_ADMIN_PORT:-10249}" --cluster-cidr "${POD_CIDR_PREFIX:-10.244}.0.0/16"
launch dns "$BIN/dns" "${base[@]}" --token-file "$(component_token system:dns)" \
  --listen "$node_ip:${DNS_PORT:-10053}" --admin-address "127.0.0.1:${DNS_ADMIN_PORT:-10054}" --cluster-domain cluster.local

# Nodes: a private containerd (hack/containerd.sh: own root, state and socket
# under $STATE/containerd) and NODES kubelets (default 1) on this machine,
# kubelet i with node name node-<i>, root dir $STATE/kubelet/node-<i>,
# containerd namespace flotilla-node-<i>, bridge flotilla<i> ($BRIDGE_PREFIX),
# pod CIDR 10.244.<i>.0/24 ($POD_CIDR_PREFIX), API port 10250+10i
# ($KUBELET_PORT) and admin port 10248+10i ($KUBELET_ADMIN_PORT). Stopping a
# kubelet leaves its pods running; the next one adopts them.
NODES=${NODES:-1}
KUBELET_PORT=${KUBELET_PORT:-10250}
KUBELET_ADMIN_PORT=${KUBELET_ADMIN_PORT:-10248}
CLUSTER_DNS=${CLUSTER_DNS:-10.96.0.10}
# Two clusters on one machine need their own bridges and pod ranges.
BRIDGE_PREFIX=${BRIDGE_PREFIX:-flotilla}
POD_CIDR_PREFIX=${POD_CIDR_PREFIX:-10.244}
containerd_sock=$("$(dirname "$0")/containerd.sh" "$STATE/containerd" | tail -n1)
kubelet_config=$STATE/pki/kubelet.config
umask 077
cat >"$kubelet_config" <<CFG
server: 127.0.0.1:$API_PORT
certificateAuthorityData: $(base64 -w0 <"$STATE/pki/ca.crt")
token: $(awk -F, '$2=="system:kubelet"{print $1}' "$STATE/pki/tokens.csv")
CFG
umask 022
# Test images without a registry: busybox:1.35 and the test server.
images=$BIN/images
if [[ ! -f $images/busybox-1.35.tar || ! -f $images/testserver.tar ||
  -n $(find "$(dirname "$0")/../kubelet/cmd/testserver" "$(dirname "$0")/../sdk/client" -name '*.go' -newer "$images/testserver.tar" | head -n1) ]]; then
  (cd "$(dirname "$0")/.." && go run ./kubelet/cmd/mkimages --out "$images" >/dev/null)
fi
for i in $(seq 0 $((NODES - 1))); do
  ns=flotilla-node-$i
  # The kubelet's serving certificate, signed by the cluster CA, so the
  # apiserver verifies the kubelet it sends logs/exec to.
  (cd "$(dirname "$0")/.." && go run ./e2e/cmd/kubeletcert --ca-dir "$STATE/pki" --out "$STATE/kubelet/node-$i/pki" \
    --node "node-$i" --hosts "$node_ip,127.0.0.1,localhost,node-$i" >/dev/null)
  for tar in "$images"/busybox-1.35.tar "$images"/testserver.tar; do
    ctr --address "$containerd_sock" --namespace "$ns" images import --snapshotter overlayfs "$tar" >/dev/null
  done
  launch "kubelet-$i" "$BIN/kubelet" --config "$kubelet_config" --node-name "node-$i" \
    --root-dir "$STATE/kubelet/node-$i" --containerd "$containerd_sock" --containerd-namespace "$ns" \
    --pod-cidr "$POD_CIDR_PREFIX.$i.0/24" --bridge-name "$BRIDGE_PREFIX$i" --cluster-dns "$CLUSTER_DNS" --cluster-domain cluster.local \
    --port $((KUBELET_PORT + 10 * i)) --admin-address "127.0.0.1:$((KUBELET_ADMIN_PORT + 10 * i))" \
    --client-ca-file "$STATE/pki/ca.crt" \
    --tls-cert-file "$STATE/kubelet/node-$i/pki/kubelet.crt" --tls-private-key-file "$STATE/kubelet/node-$i/pki/kubelet.key"
done
for _ in $(seq 1 600); do
  ready=$("$BIN/flotctl" --config "$CONFIG" get nodes --no-headers 2>/dev/null | awk '$2=="Ready"' | wc -l || true)
  [[ $ready -ge $NODES ]] && break
  sleep 0.1
done
[[ ${ready:-0} -ge $NODES ]] || { echo "only ${ready:-0} of $NODES nodes Ready after 60s; see $STATE/logs/kubelet-*.log" >&2; exit 1; }

for _ in $(seq 1 300); do
  if "$BIN/flotctl" --config "$CONFIG" get namespaces >/dev/null 2>&1; then
    "$BIN/flotctl" --config "$CONFIG" apply -f - >/dev/null <<DNS
apiVersion: v1
kind: Service
metadata: {name: flotilla-dns, namespace: flotilla-system, labels: {k8s-app: flotilla-dns}}
spec:
  clusterIP: ${CLUSTER_DNS:-10.96.0.10}
  ports:
  - {name: dns, protocol: UDP, port: 53, targetPort: ${DNS_PORT:-10053}}
  - {name: dns-tcp, protocol: TCP, port: 53, targetPort: ${DNS_PORT:-10053}}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: flotilla-dns-local
  namespace: flotilla-system
  labels: {kubernetes.io/service-name: flotilla-dns}
addressType: IPv4
endpoints:
- addresses: ["$node_ip"]
  conditions: {ready: true}
ports:
- {name: dns, protocol: UDP, port: ${DNS_PORT:-10053}}
- {name: dns-tcp, protocol: TCP, port: ${DNS_PORT:-10053}}
DNS
    echo "Flotilla is up: $BIN/flotctl get ns (config $CONFIG, state $STATE)"
    exit 0
  fi
  sleep 0.1
done
echo "the cluster did not answer in 30s; logs in $STATE/logs" >&2
exit 1
