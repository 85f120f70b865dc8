package cli_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	corev1 "flotilla.io/proto/flotilla/core/v1"
	metav1 "flotilla.io/proto/flotilla/meta/v1"

	"flotilla.io/apiserver/testserver"
	"flotilla.io/sdk/client"

	controllermanager "flotilla.io/controller-manager"
)

const rolloutManifest = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 3
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: busybox:1.35
`

// fakeKubelet binds every pod to one node and reports it Running and Ready,
// and confirms graceful deletions, until ctx ends.
func fakeKubelet(ctx context.Context, t *testing.T, c *client.Client) {
	if _, err := client.For[*corev1.Node](c).Create(ctx, &corev1.Node{Metadata: &metav1.ObjectMeta{Name: "n1"}, Spec: &corev1.NodeSpec{}}); err != nil {
		t.Fatal(err)
	}
	pods := client.For[*corev1.Pod](c)
	go func() {
		for ctx.Err() == nil {
			l, err := pods.List(ctx, client.ListOptions{})
			if err == nil {
				for _, p := range l.Items {
					switch {
					case p.Metadata.DeletionTimestamp != nil:
						_ = pods.Delete(ctx, p.Metadata.Namespace, p.Metadata.Name, client.DeleteOptions{GracePeriodSeconds: proto.Int64(0)})
					case p.Spec.NodeName == "":
						_, _ = c.Bind(ctx, p.Metadata.Namespace, p.Metadata.Name, p.Metadata.Uid, "n1")
					case p.GetStatus().GetPhase() != "Running":
						now := timestamppb.Now()
						p.Status = &corev1.PodStatus{Phase: "Running", StartTime: now, Conditions: []*corev1.PodCondition{
							{Type: "Ready", Status: "True", LastTransitionTime: now},
						}}
						_, _ = pods.UpdateStatus(ctx, p)
					}
				}
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
}

func TestRolloutCommands(t *testing.T) {
	s := testserver.StartWith(t, testserver.Options{Quiet: true})
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config")
	if err := s.Config.Save(cfg); err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, config: cfg, dir: dir}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- controllermanager.Run(ctx, controllermanager.Config{Client: s.Config, Controllers: []string{"replicaset", "deployment"}})
	}()
	defer func() { cancel(); <-done }()
	fakeKubelet(ctx, t, s.Client(s.Config))

	h.okStdin(rolloutManifest, "apply", "-f", "-")
	out := h.ok("rollout", "status", "deployment/web", "--timeout=2m")
	wantContains(t, out, `deployment "web" successfully rolled out`)

	wantLines(t, h.ok("set", "image", "deployment/web", "web=busybox:1.36"), "deployment.apps/web image updated")
	wantContains(t, h.ok("rollout", "status", "deploy", "web", "--timeout=2m"), `deployment "web" successfully rolled out`)
	wantLines(t, h.ok("set", "env", "deployment/web", "MODE=prod"), "deployment.apps/web env updated")
	wantContains(t, h.ok("rollout", "status", "deployment/web", "--timeout=2m"), "successfully rolled out")

	hist := h.ok("rollout", "history", "deployment/web")
	wantContains(t, hist, "deployment.apps/web", "REVISION  CHANGE-CAUSE", "1         <none>", "2         <none>", "3         <none>")
	wantContains(t, h.ok("rollout", "history", "deployment/web", "--revision=2"), "with revision #2", "Image:\tbusybox:1.36")

	// Undo goes back to revision 2 (busybox:1.36 without MODE); it becomes 4.
	wantLines(t, h.ok("rollout", "undo", "deployment/web"), "deployment.apps/web rolled back")
	wantContains(t, h.ok("rollout", "status", "deployment/web", "--timeout=2m"), "successfully rolled out")
	wantContains(t, h.ok("get", "deployment", "web", "-o", "yaml"), "image: busybox:1.36", `deployment.kubernetes.io/revision: "4"`)
	if out := h.ok("get", "deployment", "web", "-o", "yaml"); strings.Contains(out, "MODE") {
		t.Fatalf("undo kept the env of revision 3:\n%s", out)
	}
	wantLines(t, h.ok("rollout", "undo", "deployment/web", "--to-revision=1"), "deployment.apps/web rolled back")
	wantContains(t, h.ok("rollout", "status", "deployment/web", "--timeout=2m"), "successfully rolled out")
	wantContains(t, h.ok("get", "deployment", "web", "-o", "yaml"), "image: busybox:1.35")
	wantContains(t, h.ok("rollout", "undo", "deployment/web", "--to-revision=5"), "skipped rollback (current template already matches revision 5)")
	wantContains(t, h.fails("rollout", "undo", "deployment/web", "--to-revision=42"), "unable to find specified revision 42 in history")

	// Pause, change, resume.
	wantLines(t, h.ok("rollout", "pause", "deployment/web"), "deployment.apps/web paused")
	wantContains(t, h.fails("rollout", "pause", "deployment/web"), "already paused")
	wantContains(t, h.fails("rollout", "undo", "deployment/web"), "cannot rollback a paused deployment")
	wantLines(t, h.ok("rollout", "resume", "deployment/web"), "deployment.apps/web resumed")

	// Restart adds the restartedAt annotation and rolls out new pods.
	before := h.ok("get", "pods", "-l", "app=web", "-o", "name")
	wantLines(t, h.ok("rollout", "restart", "deployment/web"), "deployment.apps/web restarted")
	wantContains(t, h.ok("get", "deployment", "web", "-o", "yaml"), "kubectl.kubernetes.io/restartedAt")
	wantContains(t, h.ok("rollout", "status", "deployment/web", "--timeout=2m"), "successfully rolled out")
	waitFor(t, func() bool {
		after := h.ok("get", "pods", "-l", "app=web", "-o", "name")
		for _, p := range strings.Fields(before) {
			if strings.Contains(after, p) {
				return false
			}
		}
		return len(strings.Fields(after)) == 3
	}, "every pod replaced after restart", &syncBuffer{})

	// Scale.
	wantLines(t, h.ok("scale", "deployment/web", "--replicas=5"), "deployment.apps/web scaled")
	wantContains(t, h.ok("rollout", "status", "deployment/web", "--timeout=2m"), "successfully rolled out")
	waitFor(t, func() bool { return len(strings.Fields(h.ok("get", "pods", "-l", "app=web", "-o", "name"))) == 5 }, "5 pods", &syncBuffer{})
	wantContains(t, h.fails("scale", "deployment/web", "--current-replicas=3", "--replicas=1"), "expected replicas to be 3, was 5")
	wantContains(t, h.fails("scale", "configmap/x", "--replicas=1"), "not found")
	wantContains(t, h.fails("set", "image", "deployment/web", "nope=busybox"), `unable to find container named "nope"`)
}
