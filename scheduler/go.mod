module flotilla.io/scheduler

go 1.26.0
