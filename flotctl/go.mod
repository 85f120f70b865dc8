module flotilla.io/flotctl

go 1.26.0
