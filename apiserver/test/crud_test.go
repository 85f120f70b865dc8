package test

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	appsv1 "flotilla.io/proto/flotilla/apps/v1"
	corev1 "flotilla.io/proto/flotilla/core/v1"
	metav1 "flotilla.io/proto/flotilla/meta/v1"
	"flotilla.io/proto/kind"
	"flotilla.io/proto/object"
	"flotilla.io/sdk/client"
)

// Every registered kind can be created, read, listed, updated and deleted,
// from an upstream-style manifest.
func TestEveryKindCRUD(t *testing.T) {
	_, c := start(t)
	ctx := ctxFor(t, 60*time.Second)
	dyn := c.Dynamic()
	covered := map[string]bool{}
	for _, obj := range manifests(t, "testdata/kinds.yaml") {
		info, _ := kind.ForMessage(obj)
		covered[info.Kind] = true
		t.Run(info.Kind, func(t *testing.T) {
			md := object.Meta(obj)
			created, err := dyn.Create(ctx, obj)
			if err != nil {
				t.Fatalf("create: %v", err)
			}
			cmd := object.Meta(created)
			if cmd.Uid == "" || cmd.ResourceVersion == "" || cmd.CreationTimestamp == nil || cmd.Generation != 1 {
				t.Fatalf("server-set metadata missing: %v", cmd)
			}
			got, err := dyn.Get(ctx, info.Kind, md.Namespace, md.Name)
			if err != nil {
				t.Fatalf("get: %v", err)
			}
			if !proto.Equal(got, created) {
				t.Fatalf("get returned\n%v\nwant\n%v", got, created)
			}
			list, err := dyn.List(ctx, info.Kind, client.ListOptions{Namespace: md.Namespace})
			if err != nil {
				t.Fatalf("list: %v", err)
			}
			found := false
			for _, it := range list.Items {
				found = found || object.Meta(it).Name == md.Name
			}
			if !found {
				t.Fatalf("list of %d items lacks %s", len(list.Items), md.Name)
			}
			upd := proto.Clone(got)
			if object.Meta(upd).Labels == nil {
				object.Meta(upd).Labels = map[string]string{}
			}
			object.Meta(upd).Labels["touched"] = "yes"
			updated, err := dyn.Update(ctx, upd)
			if err != nil {
				t.Fatalf("update: %v", err)
			}
			umd := object.Meta(updated)
			if umd.Labels["touched"] != "yes" || umd.ResourceVersion == cmd.ResourceVersion || umd.Generation != 1 {
				t.Fatalf("update: labels %v rv %s->%s generation %d", umd.Labels, cmd.ResourceVersion, umd.ResourceVersion, umd.Generation)
			}
			if info.Kind == "Namespace" {
				testNamespaceDeletion(ctx, t, c, md.Name)
				return
			}
			if _, pending, err := dyn.Delete(ctx, info.Kind, md.Namespace, md.Name, client.DeleteOptions{}); err != nil || pending {
				t.Fatalf("delete: pending=%v err=%v", pending, err)
			}
			if _, err := dyn.Get(ctx, info.Kind, md.Namespace, md.Name); !client.IsNotFound(err) {
				t.Fatalf("get after delete: %v", err)
			}
		})
	}
	for _, info := range kind.All() {
		if !covered[info.Kind] {
			t.Errorf("kind %s has no manifest in testdata/kinds.yaml", info.Kind)
		}
	}
}

func TestOptimisticConcurrency(t *testing.T) {
	_, c := start(t)
	ctx := ctxFor(t, 20*time.Second)
	cms := client.For[*corev1.ConfigMap](c)
	cm, err := cms.Create(ctx, &corev1.ConfigMap{Metadata: &metav1.ObjectMeta{Name: "cfg", Namespace: "default"}, Data: map[string]string{"a": "1"}})
	if err != nil {
		t.Fatal(err)
	}
	first := proto.Clone(cm).(*corev1.ConfigMap)
	first.Data["a"] = "2"
	if _, err := cms.Update(ctx, first); err != nil {
		t.Fatal(err)
	}
	stale := proto.Clone(cm).(*corev1.ConfigMap)
	stale.Data["a"] = "3"
	_, err = cms.Update(ctx, stale)
	if !client.IsConflict(err) || !strings.Contains(err.Error(), "the object has been modified") {
		t.Fatalf("stale update: want conflict, got %v", err)
	}
	// A delete with a stale precondition fails too.
	err = cms.Delete(ctx, "default", "cfg", client.DeleteOptions{Preconditions: &client.Preconditions{ResourceVersion: cm.Metadata.ResourceVersion}})
	if !client.IsConflict(err) {
		t.Fatalf("stale delete precondition: want conflict, got %v", err)
	}
	got, _ := cms.Get(ctx, "default", "cfg")
	if got.Data["a"] != "2" {
		t.Fatalf("data = %v, want the first writer's", got.Data)
	}
}

func TestStatusIsASeparateSubresource(t *testing.T) {
	_, c := start(t)
	ctx := ctxFor(t, 20*time.Second)
	deps := client.For[*appsv1.Deployment](c)
	d := &appsv1.Deployment{
		Metadata: &metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: &appsv1.DeploymentSpec{
			Replicas: proto.Int32(2),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: &corev1.PodTemplateSpec{
				Metadata: &metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec:     &corev1.PodSpec{Containers: []*corev1.Container{{Name: "web", Image: "busybox:1.35"}}},
			},
		},
		Status: &appsv1.DeploymentStatus{Replicas: 99}, // ignored on create
	}
	created, err := deps.Create(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	if created.GetStatus().GetReplicas() != 0 {
		t.Fatalf("status set on create: %v", created.Status)
	}
	// A status write changes status only, and not the generation.
	st := proto.Clone(created).(*appsv1.Deployment)
	st.Status = &appsv1.DeploymentStatus{Replicas: 2, ReadyReplicas: 1}
	st.Spec.Replicas = proto.Int32(7)
	afterStatus, err := deps.UpdateStatus(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	if afterStatus.Status.GetReadyReplicas() != 1 || afterStatus.Spec.GetReplicas() != 2 || afterStatus.Metadata.Generation != 1 {
		t.Fatalf("after status write: spec.replicas=%d status=%v generation=%d", afterStatus.Spec.GetReplicas(), afterStatus.Status, afterStatus.Metadata.Generation)
	}
	// A spec write keeps status and bumps the generation.
	sp := proto.Clone(afterStatus).(*appsv1.Deployment)
	sp.Spec.Replicas = proto.Int32(5)
	sp.Status = nil
	afterSpec, err := deps.Update(ctx, sp)
	if err != nil {
		t.Fatal(err)
	}
	if afterSpec.Spec.GetReplicas() != 5 || afterSpec.Status.GetReadyReplicas() != 1 || afterSpec.Metadata.Generation != 2 {
		t.Fatalf("after spec write: spec.replicas=%d status=%v generation=%d", afterSpec.Spec.GetReplicas(), afterSpec.Status, afterSpec.Metadata.Generation)
	}
	// A metadata-only write leaves the generation alone.
	md := proto.Clone(afterSpec).(*appsv1.Deployment)
	md.Metadata.Labels = map[string]string{"team": "a"}
	afterMeta, err := deps.Update(ctx, md)
	if err != nil {
		t.Fatal(err)
	}
	if afterMeta.Metadata.Generation != 2 {
		t.Fatalf("label change bumped generation to %d", afterMeta.Metadata.Generation)
	}
	// An update that changes nothing writes nothing.
	same, err := deps.Update(ctx, proto.Clone(afterMeta).(*appsv1.Deployment))
	if err != nil {
		t.Fatal(err)
	}
	if same.Metadata.ResourceVersion != afterMeta.Metadata.ResourceVersion {
		t.Fatalf("no-op update moved resourceVersion %s -> %s", afterMeta.Metadata.ResourceVersion, same.Metadata.ResourceVersion)
	}
}

func TestPagination(t *testing.T) {
	_, c := start(t)
	ctx := ctxFor(t, 30*time.Second)
	cms := client.For[*corev1.ConfigMap](c)
	var want []string
	for n := 0; n < 25; n++ {
		name := fmt.Sprintf("cm-%02d", n)
		want = append(want, name)
		lbl := map[string]string{"parity": []string{"even", "odd"}[n%2]}
		if _, err := cms.Create(ctx, &corev1.ConfigMap{Metadata: &metav1.ObjectMeta{Name: name, Namespace: "default", Labels: lbl}}); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	token, pages, rv := "", 0, ""
	for {
		page, err := cms.List(ctx, client.ListOptions{Namespace: "default", PageSize: 10, PageToken: token})
		if err != nil {
			t.Fatal(err)
		}
		pages++
		if rv == "" {
			rv = page.ResourceVersion
			if page.RemainingItemCount != 15 {
				t.Errorf("first page remaining = %d, want 15", page.RemainingItemCount)
			}
		} else if page.ResourceVersion != rv {
			t.Errorf("page %d at revision %s, first page at %s", pages, page.ResourceVersion, rv)
		}
		for _, cm := range page.Items {
			got = append(got, cm.Metadata.Name)
		}
		// Writes between pages do not show up: the list is one snapshot.
		if pages == 1 {
			if _, err := cms.Create(ctx, &corev1.ConfigMap{Metadata: &metav1.ObjectMeta{Name: "cm-99-late", Namespace: "default"}}); err != nil {
				t.Fatal(err)
			}
		}
		if page.NextPageToken == "" {
			break
		}
		token = page.NextPageToken
	}
	if pages != 3 || strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("%d pages: %v\nwant %v", pages, got, want)
	}
	// Paging with a selector fills pages with matches only.
	odd, err := cms.List(ctx, client.ListOptions{Namespace: "default", LabelSelector: "parity=odd", PageSize: 5})
	if err != nil {
		t.Fatal(err)
	}
	if len(odd.Items) != 5 || odd.NextPageToken == "" {
		t.Fatalf("selector page: %d items, next %q", len(odd.Items), odd.NextPageToken)
	}
	for _, cm := range odd.Items {
		if cm.Metadata.Labels["parity"] != "odd" {
			t.Fatalf("selector page holds %s", cm.Metadata.Name)
		}
	}
	if _, err := cms.List(ctx, client.ListOptions{Namespace: "default", PageSize: 5, PageToken: "garbage"}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("bad token: %v", err)
	}
}

func TestLabelAndFieldSelectors(t *testing.T) {
	_, c := start(t)
	ctx := ctxFor(t, 30*time.Second)
	pods := client.For[*corev1.Pod](c)
	mk := func(name, app, tier, node string) {
		p := pod("default", name, map[string]string{"app": app, "tier": tier})
		p.Spec.NodeName = node
		if _, err := pods.Create(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	mk("a", "web", "front", "n1")
	mk("b", "web", "back", "n2")
	mk("c", "db", "back", "n1")
	names := func(opts client.ListOptions) string {
		t.Helper()
		opts.Namespace = "default"
		l, err := pods.List(ctx, opts)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, p := range l.Items {
			out = append(out, p.Metadata.Name)
		}
		sort.Strings(out)
		return strings.Join(out, ",")
	}
	cases := []struct {
		opts client.ListOptions
		want string
	}{
		{client.ListOptions{LabelSelector: "app=web"}, "a,b"},
		{client.ListOptions{LabelSelector: "app!=web"}, "c"},
		{client.ListOptions{LabelSelector: "tier in (back),app"}, "b,c"},
		{client.ListOptions{LabelSelector: "!missing,app notin (db)"}, "a,b"},
		{client.ListOptions{FieldSelector: "spec.nodeName=n1"}, "a,c"},
		{client.ListOptions{FieldSelector: "metadata.name!=a,spec.nodeName=n1"}, "c"},
		{client.ListOptions{FieldSelector: "spec.nodeName=n1", LabelSelector: "app=web"}, "a"},
		{client.ListOptions{FieldSelector: "spec.nodeName=n1", PageSize: 1}, "a"},
	}
	for _, tc := range cases {
		if got := names(tc.opts); got != tc.want {
			t.Errorf("%+v: got %s, want %s", tc.opts, got, tc.want)
		}
	}
	_, err := pods.List(ctx, client.ListOptions{FieldSelector: "spec.nodeNam=n1"})
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "spec.nodeNam") {
		t.Fatalf("unknown field label: %v", err)
	}
	_, err = pods.List(ctx, client.ListOptions{LabelSelector: "app in in"})
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "labelSelector") {
		t.Fatalf("bad label selector: %v", err)
	}
}

func TestLifecycleFinalizersGraceAndGenerateName(t *testing.T) {
	_, c := start(t)
	ctx := ctxFor(t, 30*time.Second)
	pods := client.For[*corev1.Pod](c)
	// generateName makes a unique name.
	gp := pod("default", "", nil)
	gp.Metadata.GenerateName = "worker-"
	g1, err := pods.Create(ctx, gp)
	if err != nil {
		t.Fatal(err)
	}
	g2, err := pods.Create(ctx, proto.Clone(gp).(*corev1.Pod))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(g1.Metadata.Name, "worker-") || len(g1.Metadata.Name) != len("worker-")+5 || g1.Metadata.Name == g2.Metadata.Name {
		t.Fatalf("generated names %q %q", g1.Metadata.Name, g2.Metadata.Name)
	}
	// A bound pod is deleted gracefully: marked, then removed with grace 0.
	bp := pod("default", "bound", nil)
	bp.Spec.NodeName = "n1"
	bp.Spec.TerminationGracePeriodSeconds = proto.Int64(20)
	if _, err := pods.Create(ctx, bp); err != nil {
		t.Fatal(err)
	}
	obj, pending, err := c.Dynamic().Delete(ctx, "Pod", "default", "bound", client.DeleteOptions{})
	if err != nil || !pending {
		t.Fatalf("graceful delete: pending=%v err=%v", pending, err)
	}
	if md := object.Meta(obj); md.DeletionTimestamp == nil || md.GetDeletionGracePeriodSeconds() != 20 {
		t.Fatalf("graceful delete metadata: %v", md)
	}
	if err := pods.Delete(ctx, "default", "bound", client.DeleteOptions{GracePeriodSeconds: proto.Int64(0)}); err != nil {
		t.Fatal(err)
	}
	if _, err := pods.Get(ctx, "default", "bound"); !client.IsNotFound(err) {
		t.Fatalf("pod still there after grace 0: %v", err)
	}
	// A finalizer holds an object until it is removed.
	cms := client.For[*corev1.ConfigMap](c)
	if _, err := cms.Create(ctx, &corev1.ConfigMap{Metadata: &metav1.ObjectMeta{Name: "held", Namespace: "default", Finalizers: []string{"example.com/hold"}}}); err != nil {
		t.Fatal(err)
	}
	if err := cms.Delete(ctx, "default", "held", client.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	held, err := cms.Get(ctx, "default", "held")
	if err != nil || held.Metadata.DeletionTimestamp == nil {
		t.Fatalf("finalized object: %v %v", held, err)
	}
	held.Metadata.Finalizers = append(held.Metadata.Finalizers, "example.com/other")
	if _, err := cms.Update(ctx, proto.Clone(held).(*corev1.ConfigMap)); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("adding a finalizer while deleting: %v", err)
	}
	held.Metadata.Finalizers = nil
	if _, err := cms.Update(ctx, held); err != nil {
		t.Fatal(err)
	}
	if _, err := cms.Get(ctx, "default", "held"); !client.IsNotFound(err) {
		t.Fatalf("object still there after its last finalizer: %v", err)
	}
	// Objects in a missing namespace are refused.
	_, err = cms.Create(ctx, &corev1.ConfigMap{Metadata: &metav1.ObjectMeta{Name: "x", Namespace: "nope"}})
	if !client.IsNotFound(err) || !strings.Contains(err.Error(), `namespaces "nope" not found`) {
		t.Fatalf("missing namespace: %v", err)
	}
}

func TestValidationErrorsNameTheField(t *testing.T) {
	_, c := start(t)
	ctx := ctxFor(t, 20*time.Second)
	pods := client.For[*corev1.Pod](c)
	cases := []struct {
		mutate func(*corev1.Pod)
		field  string
	}{
		{func(p *corev1.Pod) { p.Metadata.Name = "Bad_Name" }, "metadata.name"},
		{func(p *corev1.Pod) { p.Spec.Containers[0].Image = "" }, "spec.containers[0].image"},
		{func(p *corev1.Pod) { p.Metadata.Labels = map[string]string{"bad key!": "v"} }, "metadata.labels"},
		{func(p *corev1.Pod) { p.Spec.RestartPolicy = "Sometimes" }, "spec.restartPolicy"},
		{func(p *corev1.Pod) {
			p.Spec.Containers[0].Resources = &corev1.ResourceRequirements{Limits: map[string]*metav1.Quantity{"memory": {String_: "lots"}}}
		}, "spec.containers[0].resources.limits[memory]"},
		{func(p *corev1.Pod) { p.Metadata.Namespace = "" }, "metadata.namespace"},
	}
	for _, tc := range cases {
		p := pod("default", "v", nil)
		tc.mutate(p)
		_, err := pods.Create(ctx, p)
		if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("%s: got %v", tc.field, err)
		}
	}
}

// rvOf parses an object's resourceVersion.
func rvOf(t *testing.T, m proto.Message) int64 {
	t.Helper()
	n, err := strconv.ParseInt(object.Meta(m).ResourceVersion, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// A namespace is deleted in two steps: marked Terminating (nothing new may be
// created in it), then removed once its spec.finalizers are cleared by the
// namespace controller.
func testNamespaceDeletion(ctx context.Context, t *testing.T, c *client.Client, name string) {
	t.Helper()
	nss := client.For[*corev1.Namespace](c)
	if err := nss.Delete(ctx, "", name, client.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	ns, err := nss.Get(ctx, "", name)
	if err != nil {
		t.Fatal(err)
	}
	if ns.Metadata.DeletionTimestamp == nil || ns.Status.GetPhase() != "Terminating" || len(ns.Spec.GetFinalizers()) == 0 {
		t.Fatalf("namespace after delete: %v", ns)
	}
	_, err = client.For[*corev1.ConfigMap](c).Create(ctx, &corev1.ConfigMap{Metadata: &metav1.ObjectMeta{Name: "late", Namespace: name}})
	if status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "being terminated") {
		t.Fatalf("create in a terminating namespace: %v", err)
	}
	ns.Spec.Finalizers = nil
	if _, err := nss.Update(ctx, ns); err != nil {
		t.Fatal(err)
	}
	if _, err := nss.Get(ctx, "", name); !client.IsNotFound(err) {
		t.Fatalf("namespace still there after finalizing: %v", err)
	}
}

func TestOversizedObjectsRefused(t *testing.T) {
	_, c := start(t)
	ctx := ctxFor(t, 20*time.Second)
	cms := client.For[*corev1.ConfigMap](c)
	big := &corev1.ConfigMap{Metadata: &metav1.ObjectMeta{Name: "big", Namespace: "default"}, Data: map[string]string{"blob": strings.Repeat("x", 2<<20)}}
	_, err := cms.Create(ctx, big)
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "Request entity too large") {
		t.Fatalf("2 MiB object: %v", err)
	}
	ok := &corev1.ConfigMap{Metadata: &metav1.ObjectMeta{Name: "ok", Namespace: "default"}, Data: map[string]string{"blob": strings.Repeat("x", 1<<20)}}
	if _, err := cms.Create(ctx, ok); err != nil {
		t.Fatalf("1 MiB object: %v", err)
	}
}
