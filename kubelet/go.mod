module flotilla.io/kubelet

go 1.26.6

require (
	flotilla.io/apiserver v0.0.0
	flotilla.io/proto v0.0.0
	flotilla.io/sdk v0.0.0
)

require (
	github.com/containerd/containerd/v2 v2.4.2 // indirect
	github.com/containerd/errdefs v1.0.0 // indirect
	github.com/opencontainers/runtime-spec v1.3.0 // indirect
	k8s.io/apimachinery v0.37.2 // indirect
)

replace (
	flotilla.io/apiserver => ../apiserver
	flotilla.io/proto => ../proto
	flotilla.io/sdk => ../sdk
)
