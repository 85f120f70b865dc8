module flotilla.io/e2e

go 1.26.0

require (
	flotilla.io/proto v0.0.0
	flotilla.io/sdk v0.0.0
	google.golang.org/protobuf v1.36.12
)

require (
	go.yaml.in/yaml/v2 v2.4.4 // indirect
	golang.org/x/net v0.60.0 // indirect
	golang.org/x/sync v0.25.0
	golang.org/x/sys v0.48.0 // indirect
	golang.org/x/text v0.42.0 // indirect
	google.golang.org/genproto/googleapis/rpc v0.0.0-20260817212433-ac3dfec99bb1 // indirect
	google.golang.org/grpc v1.85.0 // indirect
	sigs.k8s.io/yaml v1.6.0 // indirect
)

replace (
	flotilla.io/proto => ../proto
	flotilla.io/sdk => ../sdk
)
