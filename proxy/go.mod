module flotilla.io/proxy

go 1.26.0
