# Flotilla build. Pattern targets loop over the workspace modules.
SHELL := /bin/bash
MODULES := proto sdk apiserver scheduler controller-manager cloud-controller-manager kubelet proxy flotctl e2e
DAEMONS := apiserver scheduler controller-manager cloud-controller-manager kubelet proxy
BIN := $(CURDIR)/bin
PROTOC ?= protoc
export GOFLAGS := -buildvcs=false
export PATH := $(BIN):$(PATH)

.PHONY: all generate build test lint bench up down clean-state tools

all: build

$(BIN)/protoc-gen-go $(BIN)/protoc-gen-go-grpc:
	cd tools && GOWORK=off go build -o $(BIN)/ google.golang.org/protobuf/cmd/protoc-gen-go google.golang.org/grpc/cmd/protoc-gen-go-grpc

$(BIN)/etcd: tools/go.mod
	cd tools && GOWORK=off go build -o $(BIN)/etcd go.etcd.io/etcd/server/v3

tools: $(BIN)/protoc-gen-go $(BIN)/protoc-gen-go-grpc $(BIN)/etcd

PROTO_FILES = $(shell find proto/flotilla -name '*.proto' | sort)

generate: $(BIN)/protoc-gen-go $(BIN)/protoc-gen-go-grpc
	@command -v $(PROTOC) >/dev/null || { echo "protoc missing: apt-get install -y protobuf-compiler"; exit 1; }
	$(PROTOC) -I proto -I /usr/include \
		--plugin=protoc-gen-go=$(BIN)/protoc-gen-go --plugin=protoc-gen-go-grpc=$(BIN)/protoc-gen-go-grpc \
		--go_out=proto --go_opt=paths=source_relative \
		--go-grpc_out=proto --go-grpc_opt=paths=source_relative \
		$(PROTO_FILES)
