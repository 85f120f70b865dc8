package codec

import (
	"testing"

	"google.golang.org/protobuf/proto"
)

// FuzzUnmarshal feeds arbitrary manifests to the decoder: it must never
// panic, and whatever it accepts must survive a round trip unchanged.
func FuzzUnmarshal(f *testing.F) {
	f.Add([]byte(podYAML))
	f.Add([]byte(`{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"d"},"spec":{"replicas":3,"strategy":{"rollingUpdate":{"maxSurge":"25%"}}}}`))
	f.Add([]byte(`{"apiVersion":"v1","kind":"Secret","data":{"a":"YQ=="}}`))
	f.Add([]byte(`{"apiVersion":"v1","kind":"List","items":[{"apiVersion":"v1","kind":"ConfigMap"}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		objs, err := UnmarshalAll(data)
		if err != nil {
			return
		}
		for _, obj := range objs {
			raw, err := MarshalJSON(obj)
			if err != nil {
				t.Fatalf("marshal of a decoded object: %v", err)
			}
			back, err := Unmarshal(raw)
			if err != nil {
				t.Fatalf("re-decode of %s: %v", raw, err)
			}
			if !proto.Equal(obj, back) {
				t.Fatalf("round trip changed %s", raw)
			}
		}
	})
}
