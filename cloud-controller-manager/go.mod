module flotilla.io/cloud-controller-manager

go 1.26.0
