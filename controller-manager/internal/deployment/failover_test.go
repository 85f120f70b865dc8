package deployment_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	appsv1 "flotilla.io/proto/flotilla/apps/v1"
	corev1 "flotilla.io/proto/flotilla/core/v1"

	"flotilla.io/apiserver/testserver"
	"flotilla.io/sdk/client"
	"flotilla.io/sdk/leaderelection"

	controllermanager "flotilla.io/controller-manager"
	"flotilla.io/controller-manager/internal/controllerutil"
	"flotilla.io/controller-manager/internal/testkubelet"
)

// TestLeaderFailover stops the leading controller-manager in the middle of a
// rollout; the standby takes over the lease and finishes it, with every pod
// created exactly once and none lost.
func TestLeaderFailover(t *testing.T) {
	s := testserver.StartWith(t, testserver.Options{Quiet: true})
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	run := func(identity string) (context.CancelFunc, chan error) {
		cctx, stop := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() {
			done <- controllermanager.Run(cctx, controllermanager.Config{
				Client: s.Config, Controllers: []string{"replicaset", "deployment"},
				Election: func(c *client.Client, reg prometheus.Registerer, log *zap.Logger) (*leaderelection.Config, error) {
					return &leaderelection.Config{
						Client: c, Namespace: "flotilla-system", Name: "controller-manager", Identity: identity,
						LeaseDuration: 2 * time.Second, RenewDeadline: 1500 * time.Millisecond, RetryPeriod: 200 * time.Millisecond,
						Logger: log, Registerer: reg,
					}, nil
				},
			})
		}()
		return stop, done
	}
	stopA, doneA := run("a")
	c := s.Client(s.Config)
	if _, err := testkubelet.Start(ctx, c, "n1", "n2", "n3"); err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, ctx: ctx, c: c, deploys: client.For[*appsv1.Deployment](c), rss: client.For[*appsv1.ReplicaSet](c), pods: client.For[*corev1.Pod](c)}
	e.namespace("failover")

	var mu sync.Mutex
	created := map[string]int{}
	w, err := e.pods.Watch(ctx, client.WatchOptions{Namespace: "failover"})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	go func() {
		for {
			ev, err := w.Next()
			if err != nil {
				return
			}
			if ev.Type == client.Added {
				mu.Lock()
				created[ev.Object.Metadata.Name]++
				mu.Unlock()
			}
		}
	}()

	if _, err := e.deploys.Create(ctx, newDeployment("failover", "web", 20)); err != nil {
		t.Fatal(err)
	}
	e.waitComplete("failover", "web") // a leads
	stopB, doneB := run("b")
	defer func() { stopB(); <-doneB }()

	e.update("failover", "web", func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers[0].Image = "busybox:1.36" })
	e.eventually("the rollout under way", func() bool {
		d := e.get("failover", "web")
		return d.GetStatus().GetUpdatedReplicas() > 0
	})
	stopA() // the leader goes away mid-rollout, without releasing the lease
	<-doneA
	d := e.waitComplete("failover", "web")

	pods := e.activePods("failover", "web")
	if len(pods) != 20 {
		t.Fatalf("%d pods after the rollout, want 20", len(pods))
	}
	for _, p := range pods {
		if p.Spec.Containers[0].Image != "busybox:1.36" || !controllerutil.IsPodReady(p) {
			t.Fatalf("pod %s: image %s ready %v", p.Metadata.Name, p.Spec.Containers[0].Image, controllerutil.IsPodReady(p))
		}
	}
	time.Sleep(500 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	// 20 pods of revision 1 and 20 of revision 2, each created once.
	if len(created) != 40 {
		t.Fatalf("%d pods created over two revisions of 20 (revision %s)", len(created), d.Metadata.Annotations["deployment.kubernetes.io/revision"])
	}
}
