package informer

import (
	"slices"
	"testing"

	"k8s.io/apimachinery/pkg/labels"

	corev1 "flotilla.io/proto/flotilla/core/v1"
	metav1 "flotilla.io/proto/flotilla/meta/v1"
)

func testPod(ns, name, node string, lbls map[string]string) *corev1.Pod {
	return &corev1.Pod{Metadata: &metav1.ObjectMeta{Namespace: ns, Name: name, Labels: lbls}, Spec: &corev1.PodSpec{NodeName: node}}
}

func names(pods []*corev1.Pod) []string {
	var out []string
	for _, p := range pods {
		out = append(out, p.GetMetadata().GetName())
	}
	return out
}

func TestKeys(t *testing.T) {
	for _, tc := range []struct{ ns, name, key string }{{"ns", "a", "ns/a"}, {"", "node1", "node1"}} {
		if got := Key(tc.ns, tc.name); got != tc.key {
			t.Errorf("Key(%q,%q) = %q", tc.ns, tc.name, got)
		}
		if ns, name := SplitKey(tc.key); ns != tc.ns || name != tc.name {
			t.Errorf("SplitKey(%q) = %q,%q", tc.key, ns, name)
		}
	}
	if got := KeyOf(testPod("ns", "a", "", nil)); got != "ns/a" {
		t.Errorf("KeyOf = %q", got)
	}
}

func TestStoreIndexes(t *testing.T) {
	s := NewStore[*corev1.Pod]()
	s.Upsert(testPod("ns1", "a", "n1", nil))
	s.Upsert(testPod("ns1", "b", "n2", nil))
	s.Upsert(testPod("ns2", "c", "n1", nil))
	s.Upsert(testPod("ns2", "pending", "", nil))
	// An index added after objects exist covers them.
	if err := s.AddIndex("node", FieldIndex[*corev1.Pod]("spec.nodeName")); err != nil {
		t.Fatal(err)
	}
	if err := s.AddIndex("node", FieldIndex[*corev1.Pod]("spec.nodeName")); err == nil {
		t.Error("duplicate index accepted")
	}

	check := func(index, value string, want ...string) {
		t.Helper()
		got, err := s.ByIndex(index, value)
		if err != nil || !slices.Equal(names(got), want) {
			t.Errorf("ByIndex(%s,%s) = %v, %v; want %v", index, value, names(got), err, want)
		}
	}
	check(ByNamespace, "ns1", "a", "b")
	check(ByNamespace, "ns2", "c", "pending")
	check("node", "n1", "a", "c")
	check("node", "") // unscheduled pods are not indexed
	if _, err := s.ByIndex("nope", "x"); err == nil {
		t.Error("ByIndex on a missing index succeeded")
	}

	// Moving a pod re-files it; deleting unfiles it.
	old, existed := s.Upsert(testPod("ns1", "a", "n2", nil))
	if !existed || old.GetSpec().GetNodeName() != "n1" {
		t.Errorf("Upsert returned old=%v existed=%v", old, existed)
	}
	check("node", "n1", "c")
	check("node", "n2", "a", "b")
	if _, existed := s.Delete("ns2/c"); !existed {
		t.Error("Delete missed ns2/c")
	}
	check("node", "n1")
	if vals := s.IndexValues("node"); !slices.Equal(vals, []string{"n2"}) {
		t.Errorf("IndexValues = %v", vals)
	}
	if _, existed := s.Delete("ns2/c"); existed {
		t.Error("second Delete reported an object")
	}
	if got := s.Keys(); !slices.Equal(got, []string{"ns1/a", "ns1/b", "ns2/pending"}) || s.Len() != 3 {
		t.Errorf("Keys = %v", got)
	}
}

func TestLister(t *testing.T) {
	s := NewStore[*corev1.Pod]()
	s.Upsert(testPod("ns1", "a", "", map[string]string{"app": "web"}))
	s.Upsert(testPod("ns1", "b", "", map[string]string{"app": "db"}))
	s.Upsert(testPod("ns2", "c", "", map[string]string{"app": "web"}))
	l := NewLister(s)

	p, err := l.Get("ns1", "a")
	if err != nil || p.GetMetadata().GetName() != "a" {
		t.Fatalf("Get = %v, %v", p, err)
	}
	if _, err := l.Get("ns1", "zzz"); err == nil {
		t.Error("Get of a missing object succeeded")
	}
	web := labels.SelectorFromSet(labels.Set{"app": "web"})
	for _, tc := range []struct {
		got  []*corev1.Pod
		want []string
	}{
		{l.List(nil), []string{"a", "b", "c"}},
		{l.List(web), []string{"a", "c"}},
		{l.List(labels.Everything()), []string{"a", "b", "c"}},
		{l.ListNamespace("ns1", web), []string{"a"}},
		{l.ListNamespace("ns1", nil), []string{"a", "b"}},
	} {
		if !slices.Equal(names(tc.got), tc.want) {
			t.Errorf("got %v, want %v", names(tc.got), tc.want)
		}
	}
	// Filtering must not disturb the store's own order or contents.
	if all := l.List(nil); !slices.Equal(names(all), []string{"a", "b", "c"}) {
		t.Errorf("List after filters = %v", names(all))
	}
}
