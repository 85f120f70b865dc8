module flotilla.io/apiserver

go 1.26
