module flotilla.io/sdk

go 1.26
