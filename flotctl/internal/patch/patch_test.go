package patch

import (
	"encoding/json"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"flotilla.io/proto/codec"
	appsv1 "flotilla.io/proto/flotilla/apps/v1"
	corev1 "flotilla.io/proto/flotilla/core/v1"
	metav1 "flotilla.io/proto/flotilla/meta/v1"
	"flotilla.io/proto/object"
)

func pod() *corev1.Pod {
	return &corev1.Pod{
		Metadata: &metav1.ObjectMeta{Name: "web", Namespace: "default", ResourceVersion: "7", Labels: map[string]string{"app": "web"}},
		Spec: &corev1.PodSpec{Containers: []*corev1.Container{
			{Name: "nginx", Image: "nginx:1.25", Ports: []*corev1.ContainerPort{{ContainerPort: 80}}},
			{Name: "sidecar", Image: "busybox"},
		}},
		Status: &corev1.PodStatus{Phase: "Running"},
	}
}

func mustJSON(t *testing.T, m proto.Message) string {
	t.Helper()
	b, err := codec.MarshalJSON(m)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestApplyPatchTypes(t *testing.T) {
	for _, tc := range []struct {
		name  string
		typ   Type
		patch string
		check func(*corev1.Pod) bool
	}{
		{"merge sets a label", Merge, `{"metadata":{"labels":{"tier":"fe"}}}`,
			func(p *corev1.Pod) bool {
				return p.Metadata.Labels["tier"] == "fe" && p.Metadata.Labels["app"] == "web"
			}},
		{"merge null removes", Merge, `{"metadata":{"labels":{"app":null}}}`,
			func(p *corev1.Pod) bool { return len(p.Metadata.Labels) == 0 }},
		{"merge replaces lists", Merge, `{"spec":{"containers":[{"name":"only","image":"x"}]}}`,
			func(p *corev1.Pod) bool { return len(p.Spec.Containers) == 1 && p.Spec.Containers[0].Name == "only" }},
		{"strategic merges containers by name", Strategic, `{"spec":{"containers":[{"name":"sidecar","image":"busybox:1.37"}]}}`,
			func(p *corev1.Pod) bool {
				return len(p.Spec.Containers) == 2 && p.Spec.Containers[0].Image == "nginx:1.25" &&
					len(p.Spec.Containers[0].Ports) == 1 && p.Spec.Containers[1].Image == "busybox:1.37"
			}},
		{"strategic $patch delete", Strategic, `{"spec":{"containers":[{"name":"sidecar","$patch":"delete"}]}}`,
			func(p *corev1.Pod) bool { return len(p.Spec.Containers) == 1 && p.Spec.Containers[0].Name == "nginx" }},
		{"json patch", JSON, `[{"op":"replace","path":"/spec/containers/0/image","value":"nginx:1.27"},{"op":"add","path":"/metadata/labels/x","value":"y"}]`,
			func(p *corev1.Pod) bool {
				return p.Spec.Containers[0].Image == "nginx:1.27" && p.Metadata.Labels["x"] == "y"
			}},
		{"yaml merge patch", Merge, "metadata:\n  labels:\n    tier: be\n",
			func(p *corev1.Pod) bool { return p.Metadata.Labels["tier"] == "be" }},
		{"status patch", Merge, `{"status":{"phase":"Succeeded"}}`,
			func(p *corev1.Pod) bool { return p.Status.Phase == "Succeeded" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			orig := pod()
			before := proto.Clone(orig)
			out, err := Apply(orig, tc.typ, []byte(tc.patch))
			if err != nil {
				t.Fatal(err)
			}
			if !proto.Equal(orig, before) {
				t.Error("Apply modified its input")
			}
			if !tc.check(out.(*corev1.Pod)) {
				t.Errorf("unexpected result: %s", mustJSON(t, out))
			}
			if out.(*corev1.Pod).Metadata.ResourceVersion != "7" {
				t.Error("patch lost the resourceVersion")
			}
		})
	}
}

func TestApplyPatchErrors(t *testing.T) {
	for _, tc := range []struct {
		typ         Type
		patch, want string
	}{
		{Merge, `{"spec":{"containers":[{"name":"c","imagee":"x"}]}}`, `unknown field "spec.containers[0].imagee"`},
		{Merge, `{"spec":{"restartPolicy":3}}`, `spec.restartPolicy: must be a string`},
		{JSON, `[{"op":"remove","path":"/spec/missing"}]`, "unable to apply json patch"},
		{JSON, `{"not":"a list"}`, "unable to apply json patch"},
		{Merge, `{bad`, "unable to parse"},
	} {
		_, err := Apply(pod(), tc.typ, []byte(tc.patch))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s %s: error %v, want %q", tc.typ, tc.patch, err, tc.want)
		}
	}
	cm := &corev1.ConfigMap{Metadata: &metav1.ObjectMeta{Name: "c"}}
	if _, err := Apply(cm, Merge, []byte(`{"kind":"ServiceAccount"}`)); err == nil || !strings.Contains(err.Error(), "cannot change the kind from ConfigMap to ServiceAccount") {
		t.Errorf("kind change: %v", err)
	}
	if _, err := ParseType("apply"); err == nil {
		t.Error("unknown --type must be an error")
	}
}

func lastApplied(t *testing.T, m proto.Message) map[string]any {
	t.Helper()
	raw := object.Meta(m).GetAnnotations()[LastAppliedAnnotation]
	var out map[string]any
	if err := json.Unmarshal([]byte(raw), &out); err != nil {
		t.Fatalf("last-applied %q: %v", raw, err)
	}
	return out
}

func TestForCreateRecordsConfigWithoutServerFields(t *testing.T) {
	m := pod() // as saved by get -o yaml: resourceVersion, uid, status
	m.Metadata.Uid = "u1"
	obj, err := ForCreate(m)
	if err != nil {
		t.Fatal(err)
	}
	md := object.Meta(obj)
	if md.ResourceVersion != "" || md.Uid != "" || obj.(*corev1.Pod).Status != nil {
		t.Errorf("server fields kept: %s", mustJSON(t, obj))
	}
	la := lastApplied(t, obj)
	if _, ok := la["status"]; ok {
		t.Errorf("status recorded: %v", la)
	}
	if la["kind"] != "Pod" || la["metadata"].(map[string]any)["name"] != "web" {
		t.Errorf("last applied: %v", la)
	}
}

func TestThreeWay(t *testing.T) {
	cm := func(data map[string]string, labels map[string]string) *corev1.ConfigMap {
		return &corev1.ConfigMap{Metadata: &metav1.ObjectMeta{Name: "c", Namespace: "default", Labels: labels}, Data: data}
	}
	v1 := cm(map[string]string{"a": "1", "b": "2"}, nil)
	created, err := ForCreate(v1)
	if err != nil {
		t.Fatal(err)
	}
	live := created.(*corev1.ConfigMap)
	live.Metadata.ResourceVersion, live.Metadata.Uid = "10", "u"
	live.Metadata.Labels = map[string]string{"owner": "ops"} // set by someone else

	// The same manifest: nothing to do.
	if _, changed, err := ThreeWay(v1, live); err != nil || changed {
		t.Fatalf("same manifest: changed=%v err=%v", changed, err)
	}
	// Drop b, change a: b goes, a changes, the foreign label stays.
	next, changed, err := ThreeWay(cm(map[string]string{"a": "9"}, nil), live)
	if err != nil || !changed {
		t.Fatalf("changed=%v err=%v", changed, err)
	}
	got := next.(*corev1.ConfigMap)
	if len(got.Data) != 1 || got.Data["a"] != "9" || got.Metadata.Labels["owner"] != "ops" || got.Metadata.Uid != "u" {
		t.Errorf("three-way result: %s", mustJSON(t, got))
	}
	if la := lastApplied(t, got); la["data"].(map[string]any)["b"] != nil {
		t.Errorf("last applied not updated: %v", la)
	}
	// A manifest saved from the server (server fields, status, an old
	// annotation) applies over live without touching server fields.
	saved := proto.Clone(got).(*corev1.ConfigMap)
	saved.Metadata.ResourceVersion = "3"
	next, _, err = ThreeWay(saved, got)
	if err != nil {
		t.Fatal(err)
	}
	if next.(*corev1.ConfigMap).Metadata.ResourceVersion != got.Metadata.ResourceVersion {
		t.Errorf("apply changed the resourceVersion")
	}
}

func TestThreeWayKeepsStatus(t *testing.T) {
	d := &appsv1.Deployment{Metadata: &metav1.ObjectMeta{Name: "web", Namespace: "default"}, Spec: &appsv1.DeploymentSpec{Replicas: proto.Int32(2)}}
	created, err := ForCreate(d)
	if err != nil {
		t.Fatal(err)
	}
	live := created.(*appsv1.Deployment)
	live.Status = &appsv1.DeploymentStatus{ReadyReplicas: 2}
	next, changed, err := ThreeWay(&appsv1.Deployment{Metadata: &metav1.ObjectMeta{Name: "web", Namespace: "default"}, Spec: &appsv1.DeploymentSpec{Replicas: proto.Int32(5)}}, live)
	if err != nil || !changed {
		t.Fatalf("changed=%v err=%v", changed, err)
	}
	got := next.(*appsv1.Deployment)
	if got.GetSpec().GetReplicas() != 5 || got.GetStatus().GetReadyReplicas() != 2 {
		t.Errorf("result: %s", mustJSON(t, got))
	}
}
