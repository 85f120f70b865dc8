module flotilla.io/kubelet

go 1.26.0
