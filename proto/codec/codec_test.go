package codec

import (
	"encoding/json"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	appsv1 "flotilla.io/proto/flotilla/apps/v1"
	corev1 "flotilla.io/proto/flotilla/core/v1"
	metav1 "flotilla.io/proto/flotilla/meta/v1"
)

const podYAML = `
apiVersion: v1
kind: Pod
metadata:
  name: web
  namespace: default
  labels: {app: web}
spec:
  terminationGracePeriodSeconds: 0
  containers:
  - name: web
    image: busybox:1.35
    ports:
    - containerPort: 8080
      name: http
    resources:
      limits: {cpu: 1, memory: 128Mi}
      requests: {cpu: 0.5}
    livenessProbe:
      httpGet: {path: /healthz, port: http}
    readinessProbe:
      tcpSocket: {port: 8080}
  volumes:
  - name: scratch
    emptyDir: {}
status:
  podIP: 10.0.0.5
  startTime: "2026-11-26T10:00:00Z"
`

func TestDecodeUpstreamForms(t *testing.T) {
	obj, err := Unmarshal([]byte(podYAML))
	if err != nil {
		t.Fatal(err)
	}
	p, ok := obj.(*corev1.Pod)
	if !ok {
		t.Fatalf("decoded %T", obj)
	}
	c := p.Spec.Containers[0]
	if got := c.LivenessProbe.HttpGet.Port; got.Type != 1 || got.StrVal != "http" {
		t.Errorf("named port: %v", got)
	}
	if got := c.ReadinessProbe.TcpSocket.Port; got.Type != 0 || got.IntVal != 8080 {
		t.Errorf("numeric port: %v", got)
	}
	if c.Resources.Limits["cpu"].String_ != "1" || c.Resources.Requests["cpu"].String_ != "0.5" || c.Resources.Limits["memory"].String_ != "128Mi" {
		t.Errorf("quantities: %v", c.Resources)
	}
	if p.Spec.TerminationGracePeriodSeconds == nil || *p.Spec.TerminationGracePeriodSeconds != 0 {
		t.Error("an explicit 0 in an optional field must stay set")
	}
	if p.Spec.Volumes[0].EmptyDir == nil {
		t.Error("emptyDir: {} must set the message")
	}
	if p.Status.PodIp != "10.0.0.5" || p.Status.StartTime.AsTime().Hour() != 10 {
		t.Errorf("status: %v", p.Status)
	}
}

func TestRoundTripIsStable(t *testing.T) {
	obj, err := Unmarshal([]byte(podYAML))
	if err != nil {
		t.Fatal(err)
	}
	y, err := MarshalYAML(obj)
	if err != nil {
		t.Fatal(err)
	}
	back, err := Unmarshal(y)
	if err != nil {
		t.Fatalf("re-decoding our own YAML: %v\n%s", err, y)
	}
	if !proto.Equal(obj, back) {
		t.Fatalf("round trip changed the object:\n%s", y)
	}
	for _, want := range []string{"apiVersion: v1", "kind: Pod", "port: http", "containerPort: 8080", "terminationGracePeriodSeconds: 0", "emptyDir: {}", "podIP: 10.0.0.5", "cpu: \"1\""} {
		if !strings.Contains(string(y), want) {
			t.Errorf("YAML lacks %q:\n%s", want, y)
		}
	}
}

func TestEncodeUpstreamJSON(t *testing.T) {
	d := &appsv1.Deployment{
		Metadata: &metav1.ObjectMeta{Name: "web", Namespace: "default", Generation: 3, CreationTimestamp: timestamppb.New(mustTime("2026-11-26T10:00:00Z"))},
		Spec: &appsv1.DeploymentSpec{Replicas: proto.Int32(0), Strategy: &appsv1.DeploymentStrategy{
			Type:          "RollingUpdate",
			RollingUpdate: &appsv1.RollingUpdateDeployment{MaxSurge: &metav1.IntOrString{Type: 1, StrVal: "25%"}, MaxUnavailable: &metav1.IntOrString{IntVal: 1}},
		}},
	}
	raw, err := MarshalJSON(d)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web","namespace":"default","generation":3,"creationTimestamp":"2026-11-26T10:00:00Z"},"spec":{"replicas":0,"strategy":{"type":"RollingUpdate","rollingUpdate":{"maxUnavailable":1,"maxSurge":"25%"}}}}`
	if string(raw) != want {
		t.Fatalf("got  %s\nwant %s", raw, want)
	}
	var generic map[string]any
	if err := json.Unmarshal(raw, &generic); err != nil {
		t.Fatal(err)
	}
}

func TestSecretBytesAreBase64(t *testing.T) {
	s := &corev1.Secret{Metadata: &metav1.ObjectMeta{Name: "s"}, Data: map[string][]byte{"password": []byte("secret")}}
	raw, err := MarshalJSON(s)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(raw), `"password":"c2VjcmV0"`) {
		t.Fatalf("secret data not base64: %s", raw)
	}
}

func TestDecodeErrorsNameTheField(t *testing.T) {
	cases := []struct{ doc, want string }{
		{`{"apiVersion":"v1","kind":"Pod","spec":{"containers":[{"name":"a","imagee":"x"}]}}`, `unknown field "spec.containers[0].imagee"`},
		{`{"apiVersion":"v1","kind":"Pod","spec":{"containers":[{"name":"a","ports":[{"containerPort":"80"}]}]}}`, `spec.containers[0].ports[0].containerPort: must be an integer, not a string`},
		{`{"apiVersion":"v1","kind":"Pod","spec":{"containers":{"name":"a"}}}`, `spec.containers: must be a list, not an object`},
		{`{"apiVersion":"v1","kind":"Pod","spec":{"terminationGracePeriodSeconds":1.5}}`, `spec.terminationGracePeriodSeconds: 1.5 is not an integer`},
		{`{"apiVersion":"v1","kind":"Pod","metadata":{"creationTimestamp":"yesterday"}}`, `metadata.creationTimestamp: invalid time "yesterday"`},
		{`{"apiVersion":"v1","kind":"Widget"}`, `kind "Widget" is not supported`},
		{`{"apiVersion":"apps/v2","kind":"Deployment"}`, `kind Deployment is served as apiVersion "apps/v1", not "apps/v2"`},
		{`{"kind":"Pod"}`, `apiVersion: Required value`},
		{`{"apiVersion":"v1","kind":"Secret","data":{"a":"not base64!"}}`, `data.a: invalid base64 data`},
		{`[1,2]`, `a manifest must be an object`},
	}
	for _, tc := range cases {
		_, err := Unmarshal([]byte(tc.doc))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s:\n got %v\nwant %s", tc.doc, err, tc.want)
		}
	}
}

func TestUnmarshalAllReadsLists(t *testing.T) {
	doc := `{"apiVersion":"v1","kind":"List","items":[{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"}},{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"b"}}]}`
	objs, err := UnmarshalAll([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != 2 {
		t.Fatalf("%d objects", len(objs))
	}
	if _, ok := objs[1].(*appsv1.Deployment); !ok {
		t.Fatalf("second item is %T", objs[1])
	}
	raw, err := MarshalListYAML(objs, "42")
	if err != nil {
		t.Fatal(err)
	}
	again, err := UnmarshalAll(raw)
	if err != nil || len(again) != 2 || !proto.Equal(again[0], objs[0]) {
		t.Fatalf("list round trip: %v %v\n%s", again, err, raw)
	}
}

func TestLimits(t *testing.T) {
	deep := strings.Repeat("[", 200) + strings.Repeat("]", 200)
	if _, err := Unmarshal([]byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"annotations":{"x":` + deep + `}}}`)); err == nil || !strings.Contains(err.Error(), "nests deeper") {
		t.Fatalf("deep nesting: %v", err)
	}
	big := `{"apiVersion":"v1","kind":"ConfigMap","data":{"x":"` + strings.Repeat("a", MaxDocumentBytes) + `"}}`
	if _, err := Unmarshal([]byte(big)); err == nil || !strings.Contains(err.Error(), "more than the limit") {
		t.Fatalf("huge document: %v", err)
	}
	// Brackets inside strings do not count.
	if _, err := Unmarshal([]byte(`{"apiVersion":"v1","kind":"ConfigMap","data":{"x":"` + deep + `"}}`)); err != nil {
		t.Fatalf("brackets in a string: %v", err)
	}
}
