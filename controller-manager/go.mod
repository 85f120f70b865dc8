module flotilla.io/controller-manager

go 1.26.0
