# Flotilla build. Pattern targets loop over the workspace modules.
SHELL := /bin/bash
MODULES := proto sdk apiserver scheduler controller-manager cloud-controller-manager kubelet proxy dns flotctl e2e
COMMANDS := apiserver scheduler controller-manager cloud-controller-manager kubelet proxy dns flotctl
BIN := $(CURDIR)/bin
STATE ?= $(CURDIR)/.state
PROTOC ?= protoc
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
REVISION ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
LDFLAGS := -s -w -X flotilla.io/sdk/version.Version=$(VERSION) -X flotilla.io/sdk/version.Revision=$(REVISION)
export GOFLAGS := -buildvcs=false
export CGO_ENABLED := 0

.PHONY: all build tools generate test test-% lint fuzz bench up down clean-state clean

all: build

## tools: pinned build tools (etcd server, protoc plugins) into bin/
tools: $(BIN)/protoc-gen-go $(BIN)/protoc-gen-go-grpc $(BIN)/etcd

$(BIN)/protoc-gen-go $(BIN)/protoc-gen-go-grpc: tools/go.mod tools/go.sum
	cd tools && GOWORK=off go build -o $(BIN)/ google.golang.org/protobuf/cmd/protoc-gen-go google.golang.org/grpc/cmd/protoc-gen-go-grpc

$(BIN)/etcd: tools/go.mod tools/go.sum
	cd tools && GOWORK=off go build -o $(BIN)/etcd go.etcd.io/etcd/server/v3

PROTO_FILES = $(shell find proto/flotilla -name '*.proto' | sort)

## generate: protobuf code generation (generated code is committed)
generate: $(BIN)/protoc-gen-go $(BIN)/protoc-gen-go-grpc
	@command -v $(PROTOC) >/dev/null || { echo "protoc missing: apt-get install -y protobuf-compiler"; exit 1; }
	$(PROTOC) -I proto -I /usr/include \
		--plugin=protoc-gen-go=$(BIN)/protoc-gen-go --plugin=protoc-gen-go-grpc=$(BIN)/protoc-gen-go-grpc \
		--go_out=proto --go_opt=paths=source_relative \
		--go-grpc_out=proto --go-grpc_opt=paths=source_relative \
		$(PROTO_FILES)

## build: every binary into bin/
build: $(BIN)/etcd
	go build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/ $(foreach c,$(COMMANDS),./$(c)/cmd/$(c))

## test: every module's tests (integration tests run a real etcd from bin/;
## kubelet tests real pods through a private containerd, see hack/test.sh)
test: $(BIN)/etcd
	@STATE=$(STATE) hack/test.sh $(MODULES)

test-%: $(BIN)/etcd
	cd $* && go test -count=1 ./...

## lint: go vet, gofmt, and every module building on its own (GOWORK=off)
lint:
	@set -e; for m in $(MODULES); do echo "== vet $$m"; (cd $$m && go vet ./... && GOWORK=off go build -o /dev/null ./...); done
	@out=$$(gofmt -l $(MODULES)); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	@out=$$(grep -L '^package flotilla\.[a-z]*\.v[0-9]*;' $(PROTO_FILES)); if [ -n "$$out" ]; then echo "proto files without a versioned package: $$out"; exit 1; fi

## fuzz: the fuzz targets for a bounded time each (FUZZTIME, default 20s)
FUZZTIME ?= 20s
fuzz:
	cd proto && go test -run '^$$' -fuzz FuzzUnmarshal -fuzztime $(FUZZTIME) ./codec
	cd apiserver && go test -run '^$$' -fuzz FuzzDecodeDefaultValidate -fuzztime $(FUZZTIME) ./internal/validation

## bench: measure on this machine and print the numbers
bench: build
	go run ./e2e/cmd/bench --bin $(BIN)

## up: a local cluster (etcd + control plane) as background processes; see README
up: build
	STATE=$(STATE) BIN=$(BIN) hack/up.sh

## down: stop what `make up` started (data kept in $(STATE))
down:
	STATE=$(STATE) hack/down.sh

## clean-state: stop the local cluster and wipe its data
clean-state: down
	rm -rf $(STATE)

clean:
	rm -rf $(BIN)

## helm-lint: lint and render charts/flotilla with the pinned helm (tools/), then
## server-dry-run every rendered object through flotctl against a throwaway
## etcd + apiserver (e2e/helm)
HELM_RENDERED := $(BIN)/helm-rendered.yaml
$(BIN)/helm: tools/go.mod tools/go.sum
	cd tools && GOWORK=off go build -o $(BIN)/helm helm.sh/helm/v3/cmd/helm

.PHONY: helm-lint
helm-lint: $(BIN)/helm build
	$(BIN)/helm lint --strict charts/flotilla
	$(BIN)/helm lint --strict charts/flotilla --set pki.existingSecret=my-pki,tokens.existingSecret=my-tokens
	{ $(BIN)/helm template flotilla charts/flotilla --namespace flotilla; \
	  echo '---'; \
	  $(BIN)/helm template edge charts/flotilla --namespace edge \
	    --set pki.existingSecret=my-pki,tokens.existingSecret=my-tokens,rbac.create=false \
	    --set 'kubelet.nodes[0].name=worker-1,kubelet.nodes[0].podCIDR=10.244.1.0/24'; } >$(HELM_RENDERED)
	cd e2e && FLOTILLA_HELM_RENDERED=$(HELM_RENDERED) FLOTILLA_BIN=$(BIN) go test -count=1 -run TestChartServerDryRun ./helm/

# ---- images and the docker-compose dev cluster (deploy/compose/README.md) ----
.PHONY: images compose-up compose-down compose-test upgrade

## images: one image per component with the machine's docker (started if none runs), tag $(VERSION)
images: $(BIN)/etcd
	VERSION=$(VERSION) BIN=$(BIN) hack/images.sh

## compose-up: the docker-compose dev cluster; writes $$FLOTILLA_CONFIG, returns when 3 nodes are Ready
compose-up: build
	BIN=$(BIN) hack/compose.sh up

## compose-down: remove the compose cluster, its volumes and state
compose-down:
	hack/compose.sh down

## upgrade: roll one component of the compose cluster to a new build: make upgrade COMPONENT=scheduler [VERSION=...]
upgrade:
	@test -n "$(COMPONENT)" || { echo "usage: make upgrade COMPONENT=etcd|apiserver|scheduler|controller-manager|dns|prometheus|node|kubelet|proxy"; exit 2; }
	BIN=$(BIN) hack/compose.sh upgrade $(COMPONENT) $(UPGRADE_VERSION)

## compose-test: compose up, Prometheus targets, the e2e suite against it (E2E=0 skips it;
## E2E_FLAGS passed on), every component upgraded under a workload, compose down
compose-test: build
	BIN=$(BIN) hack/compose-test.sh

## e2e: the end-to-end suite (e2e/suite) against the cluster FLOTILLA_CONFIG (or
## ~/.flotilla/config) points at; FLOTILLA_E2E_CLUSTER=local|compose (with
## FLOTILLA_E2E_STATE for local) lets it stop nodes and restart daemons.
## E2E_FLAGS adds go test flags, e.g. E2E_FLAGS='-run TestJob'.
E2E_FLAGS ?=
.PHONY: e2e e2e-local e2e-compose
E2E_RUN = cd e2e && FLOTILLA_E2E=1 FLOTILLA_BIN=$(BIN) go test -count=1 -timeout 15m -parallel 8 -v ./suite/ $(E2E_FLAGS)
e2e: build
	$(E2E_RUN)

## e2e-local: `make up NODES=2` in a temporary state dir on its own ports, with
## short node-loss timings, then `make e2e` against it, then `make down` and
## the removal of what is left (e2e/local-down.sh)
E2E_PORTS := ETCD_PORT=12479 ETCD_PEER_PORT=12480 API_PORT=16543 API_ADMIN_PORT=16544 \
	SCHEDULER_ADMIN_PORT=10359 CONTROLLER_MANAGER_ADMIN_PORT=10357 KUBELET_PORT=10350 KUBELET_ADMIN_PORT=10348 \
	PROXY_ADMIN_PORT=10349 DNS_PORT=10153 DNS_ADMIN_PORT=10154 BRIDGE_PREFIX=flte2e POD_CIDR_PREFIX=10.246
E2E_NODE_TIMINGS := --node-monitor-grace-period=20s --node-monitor-period=2s --node-eviction-rate=1
e2e-local: build
	@set -e; state=$$(mktemp -d /tmp/flotilla-e2e.XXXXXX); \
	export FLOTILLA_CONFIG=$$state/config $(E2E_PORTS); \
	trap 'e2e/local-down.sh '"$$state"' flte2e' EXIT; \
	NODES=2 $(MAKE) --no-print-directory up STATE=$$state; \
	e2e/relaunch.sh $$state controller-manager $(E2E_NODE_TIMINGS); \
	FLOTILLA_E2E_CLUSTER=local FLOTILLA_E2E_STATE=$$state FLOTILLA_E2E_NODE_COUNT=2 $(MAKE) --no-print-directory e2e

## e2e-compose: `make compose-up` (COMPOSE_STATE, FLOTILLA_CONFIG as for it), the
## suite against it with the compose driver, then `make compose-down` whatever
## happened. (`make compose-test` runs the suite too, on the cluster it upgrades.)
## Not $(MAKE) e2e inside: `make -n e2e-compose` would then really run it.
e2e-compose: build
	@set -e; trap '$(CURDIR)/hack/compose.sh down' EXIT; \
	BIN=$(BIN) hack/compose.sh up; \
	export FLOTILLA_E2E_CLUSTER=compose FLOTILLA_E2E_COMPOSE_PROJECT=$${COMPOSE_PROJECT:-flotilla} FLOTILLA_E2E_NODE_COUNT=3 \
	  FLOTILLA_CONFIG=$${FLOTILLA_CONFIG:-$$HOME/.flotilla/config}; \
	$(E2E_RUN)
