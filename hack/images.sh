#!/usr/bin/env bash
# Builds Flotilla's container images with the machine's docker, no registry:
#   flotilla/{apiserver,scheduler,controller-manager,proxy,dns,kubelet,flotctl,etcd}:TAG
#     static Go binaries on an empty (scratch) base
#   flotilla/node:TAG        kubelet + proxy + Debian's containerd, shim and runc
#                            (binaries and their shared libraries copied in), busybox,
#                            and the test images (busybox:1.35, testserver) to import
#   flotilla/prometheus:TAG  Debian's prometheus package, binary + libc
# cloud-controller-manager is left out: it is a stub that exits "not implemented".
#
#   hack/images.sh [IMAGE...]   default: all of them
# Environment: VERSION (the tag, default `git describe`), OUT (build contexts,
# default bin/imagectx), BIN (where bin/etcd is).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
VERSION=${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}
REVISION=${REVISION:-$(git rev-parse --short HEAD 2>/dev/null || echo unknown)}
OUT=${OUT:-$ROOT/bin/imagectx}
BIN=${BIN:-$ROOT/bin}
STATIC=(apiserver scheduler controller-manager proxy dns kubelet flotctl etcd)
ALL=("${STATIC[@]}" node prometheus)
export GOFLAGS=-buildvcs=false CGO_ENABLED=0 DOCKER_BUILDKIT=0
DOCKER=${DOCKER:-/usr/bin/docker}
[[ -x $DOCKER ]] || DOCKER=docker

hack/docker.sh >&2

images=("$@")
[[ ${#images[@]} -gt 0 ]] || images=("${ALL[@]}")

# Go binaries for this VERSION (the version is linked in: /version and flotilla_build_info).
gobin=$OUT/bin-$VERSION
build_go() { # build_go COMMAND...
  local need=()
  for c in "$@"; do [[ -x $gobin/$c ]] || need+=("./$c/cmd/$c"); done
  [[ ${#need[@]} -eq 0 ]] && return
  mkdir -p "$gobin"
  echo "images: go build ${need[*]} (version $VERSION)" >&2
  go build -trimpath -ldflags "-s -w -X flotilla.io/sdk/version.Version=$VERSION -X flotilla.io/sdk/version.Revision=$REVISION" -o "$gobin/" "${need[@]}"
}

# copy_with_libs ROOTFS FILE...: copy each ELF file to the same path in ROOTFS
# with the shared libraries it needs (from this Debian 12 machine).
copy_with_libs() {
  local rootfs=$1; shift
  local f lib
  for f in "$@"; do
    install -D -m 0755 "$f" "$rootfs$f"
    if ldd "$f" >/dev/null 2>&1; then
      if ldd "$f" | grep -q 'not found'; then echo "images: $f needs a library this machine lacks:" >&2; ldd "$f" >&2; exit 1; fi
      for lib in $(ldd "$f" | grep -o '/[^ ]*'); do
        [[ -e $rootfs$lib ]] || install -D -m 0755 "$(readlink -f "$lib")" "$rootfs$lib"
      done
    fi
  done
}

fresh_ctx() { # fresh_ctx NAME: an empty context dir with a minimal rootfs skeleton
  local ctx=$OUT/$1
  rm -rf "$ctx"
  mkdir -p "$ctx/rootfs/etc" "$ctx/rootfs/tmp" "$ctx/rootfs/usr/local/bin"
  chmod 1777 "$ctx/rootfs/tmp"
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$ctx/rootfs/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$ctx/rootfs/etc/group"
  echo "$ctx"
}

build() { # build NAME CTX
  echo "images: docker build flotilla/$1:$VERSION" >&2
  "$DOCKER" build -q --build-arg VERSION="$VERSION" -t "flotilla/$1:$VERSION" "$2" >/dev/null
  "$DOCKER" tag "flotilla/$1:$VERSION" "flotilla/$1:latest"
}

for img in "${images[@]}"; do
  case $img in
    etcd)
      [[ -x $BIN/etcd ]] || make -s "$BIN/etcd"
      ctx=$(fresh_ctx etcd)
      install -m 0755 "$BIN/etcd" "$ctx/rootfs/usr/local/bin/etcd"
      mkdir -p "$ctx/rootfs/var/lib/etcd"
      sed 's/@COMPONENT@/etcd/g' images/static/Dockerfile.in >"$ctx/Dockerfile"
      build etcd "$ctx" ;;
    apiserver | scheduler | controller-manager | proxy | dns | kubelet | flotctl)
      build_go "$img"
      ctx=$(fresh_ctx "$img")
      install -m 0755 "$gobin/$img" "$ctx/rootfs/usr/local/bin/$img"
      sed "s/@COMPONENT@/$img/g" images/static/Dockerfile.in >"$ctx/Dockerfile"
      build "$img" "$ctx" ;;
    node)
      build_go kubelet proxy
      hack/containerd.sh install
      command -v busybox >/dev/null || { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq busybox-static >/dev/null; }
      ctx=$(fresh_ctx node)
      r=$ctx/rootfs
      install -m 0755 "$gobin/kubelet" "$gobin/proxy" "$r/usr/local/bin/"
      copy_with_libs "$r" "$(command -v containerd)" "$(command -v containerd-shim-runc-v2)" "$(command -v ctr)" "$(command -v runc)"
      # Debian ships these unstripped; symbols are of no use in the image.
      if command -v strip >/dev/null; then strip --strip-unneeded "$r"/usr/bin/* "$r"/usr/sbin/* 2>/dev/null || true; fi
      install -D -m 0755 "$(readlink -f "$(command -v busybox)")" "$r/bin/busybox"
      mkdir -p "$r/usr/bin" "$r/usr/sbin" "$r/sbin" "$r/run" "$r/var/lib" "$r/root"
      install -D -m 0644 images/node/containerd.toml "$r/etc/containerd/config.toml"
      install -m 0755 images/node/node-entrypoint "$r/usr/local/bin/node-entrypoint"
      printf 'hosts: files dns\n' >"$r/etc/nsswitch.conf"
      imgdir=$BIN/images
      if [[ ! -f $imgdir/busybox-1.35.tar || ! -f $imgdir/testserver.tar ||
        -n $(find kubelet/cmd/testserver sdk/client -name '*.go' -newer "$imgdir/testserver.tar" | head -n1) ]]; then
        go run ./kubelet/cmd/mkimages --out "$imgdir" >/dev/null
      fi
      install -D -m 0644 "$imgdir/busybox-1.35.tar" "$r/images/busybox-1.35.tar"
      install -D -m 0644 "$imgdir/testserver.tar" "$r/images/testserver.tar"
      cp images/node/Dockerfile "$ctx/Dockerfile"
      build node "$ctx" ;;
    prometheus)
      ctx=$(fresh_ctx prometheus)
      deb=$OUT/debs
      mkdir -p "$deb"
      if ! ls "$deb"/prometheus_*.deb >/dev/null 2>&1; then
        (cd "$deb" && apt-get download prometheus >/dev/null 2>&1) || {
          apt-get update -qq >/dev/null; (cd "$deb" && apt-get download prometheus >/dev/null 2>&1); }
      fi
      x=$OUT/debs/prometheus-x
      rm -rf "$x"; dpkg-deb -x "$deb"/prometheus_*.deb "$x"
      r=$ctx/rootfs
      install -D -m 0755 "$x/usr/bin/prometheus" "$r/usr/bin/prometheus"
      copy_with_libs "$r" /usr/bin/true >/dev/null # libc and the loader
      rm -f "$r/usr/bin/true"
      for lib in $(ldd "$x/usr/bin/prometheus" | grep -o '/[^ ]*'); do
        [[ -e $r$lib ]] || install -D -m 0755 "$(readlink -f "$lib")" "$r$lib"
      done
      mkdir -p "$r/etc/prometheus" "$r/usr/share" "$r/prometheus"
      cp -a "$x/etc/prometheus/consoles" "$x/etc/prometheus/console_libraries" "$r/etc/prometheus/"
      cp -a "$x/etc/prometheus/prometheus.yml" "$r/etc/prometheus/prometheus.yml"
      cp -a "$x/usr/share/prometheus" "$r/usr/share/" 2>/dev/null || true
      cp images/prometheus/Dockerfile "$ctx/Dockerfile"
      build prometheus "$ctx" ;;
    cloud-controller-manager)
      echo "images: cloud-controller-manager is a stub that exits 'not implemented'; no image" >&2 ;;
    *) echo "images: unknown image $img (known: ${ALL[*]})" >&2; exit 2 ;;
  esac
done
rm -rf "$gobin" # the images hold the binaries; go's build cache makes a rebuild cheap
"$DOCKER" images --format '{{.Repository}}:{{.Tag}}\t{{.Size}}' | grep "^flotilla/.*:$VERSION" >&2 || true
echo "$VERSION"
