package test

import (
	"context"
	"os"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"k8s.io/apimachinery/pkg/util/yaml"

	"flotilla.io/proto/codec"
	corev1 "flotilla.io/proto/flotilla/core/v1"
	metav1 "flotilla.io/proto/flotilla/meta/v1"

	"flotilla.io/apiserver/testserver"
	"flotilla.io/sdk/client"
)

func ctxFor(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// manifests decodes every document of a testdata file.
func manifests(t *testing.T, path string) []proto.Message {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []proto.Message
	for _, doc := range splitDocs(raw) {
		obj, err := codec.Unmarshal(doc)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		out = append(out, obj)
	}
	return out
}

func splitDocs(raw []byte) [][]byte {
	var docs [][]byte
	r := yaml.NewYAMLReader(bufioReader(raw))
	for {
		doc, err := r.Read()
		if err != nil {
			return docs
		}
		if len(trim(doc)) > 0 {
			docs = append(docs, doc)
		}
	}
}

func pod(ns, name string, labels map[string]string) *corev1.Pod {
	return &corev1.Pod{
		Metadata: &metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels},
		Spec:     &corev1.PodSpec{Containers: []*corev1.Container{{Name: "c", Image: "busybox:1.35"}}},
	}
}

func start(t *testing.T) (*testserver.Server, *client.Client) {
	t.Helper()
	s := testserver.Start(t)
	return s, s.Client(s.Config)
}
