package cli_test

import (
	"strings"
	"testing"
)

const drainManifest = `apiVersion: v1
kind: Node
metadata:
  name: n1
---
apiVersion: v1
kind: Pod
metadata:
  name: web-1
  ownerReferences:
  - {apiVersion: apps/v1, kind: ReplicaSet, name: web, uid: 0d4f0000-0000-0000-0000-000000000001, controller: true}
spec:
  nodeName: n1
  containers: [{name: c, image: busybox}]
---
apiVersion: v1
kind: Pod
metadata:
  name: agent
  ownerReferences:
  - {apiVersion: apps/v1, kind: DaemonSet, name: agent, uid: 0d4f0000-0000-0000-0000-000000000002, controller: true}
spec:
  nodeName: n1
  containers: [{name: c, image: busybox}]
---
apiVersion: v1
kind: Pod
metadata:
  name: bare
spec:
  nodeName: n1
  containers: [{name: c, image: busybox}]
---
apiVersion: v1
kind: Pod
metadata:
  name: elsewhere
spec:
  nodeName: n2
  containers: [{name: c, image: busybox}]
`

func TestNodeMaintenance(t *testing.T) {
	h := newHarness(t)
	h.okStdin(drainManifest, "apply", "-f", "-")

	t.Run("cordon and uncordon", func(t *testing.T) {
		h := h.sub(t)
		wantLines(t, h.ok("cordon", "n1"), "node/n1 cordoned")
		wantLines(t, h.ok("cordon", "n1"), "node/n1 already cordoned")
		wantContains(t, h.ok("get", "node", "n1", "-o", "json"), `"unschedulable": true`)
		wantLines(t, h.ok("uncordon", "n1"), "node/n1 uncordoned")
		if strings.Contains(h.ok("get", "node", "n1", "-o", "json"), "unschedulable") {
			t.Error("node still unschedulable")
		}
		wantContains(t, h.fails("cordon", "nope"), `"nope" not found`)
	})

	t.Run("taint", func(t *testing.T) {
		h := h.sub(t)
		wantLines(t, h.ok("taint", "node", "n1", "dedicated=gpu:NoSchedule"), "node/n1 tainted")
		wantContains(t, h.fails("taint", "node", "n1", "dedicated=cpu:NoSchedule"), "already has dedicated taint(s) with same effect(s) and --overwrite is false")
		wantLines(t, h.ok("taint", "node", "n1", "dedicated=cpu:NoSchedule", "--overwrite"), "node/n1 modified")
		wantLines(t, h.ok("taint", "nodes/n1", "maint:NoExecute"), "node/n1 tainted")
		out := h.ok("get", "node", "n1", "-o", "yaml")
		wantContains(t, out, "key: dedicated", "value: cpu", "effect: NoSchedule", "key: maint", "effect: NoExecute")
		wantLines(t, h.ok("taint", "node", "n1", "dedicated:NoSchedule-"), "node/n1 untainted")
		wantLines(t, h.ok("taint", "node", "n1", "maint-"), "node/n1 untainted")
		wantContains(t, h.fails("taint", "node", "n1", "maint-"), `taint "maint" not found`)
		wantContains(t, h.fails("taint", "node", "n1", "x=y:Sometimes"), "invalid taint effect")
		if strings.Contains(h.ok("get", "node", "n1", "-o", "yaml"), "taints") {
			t.Error("taints left")
		}
	})

	t.Run("drain", func(t *testing.T) {
		h := h.sub(t)
		errOut := h.fails("drain", "n1")
		wantContains(t, errOut, "cannot delete DaemonSet-managed Pods (use --ignore-daemonsets to ignore): default/agent",
			"cannot delete Pods that declare no controller (use --force to override): default/bare")
		r := h.run("drain", "n1", "--ignore-daemonsets", "--force", "--grace-period=0", "--timeout=30s")
		if r.code != 0 {
			t.Fatalf("drain: %d\n%s\n%s", r.code, r.out, r.err)
		}
		wantContains(t, r.out, "node/n1 already cordoned", "evicting pod default/web-1", "evicting pod default/bare", "pod/web-1 evicted", "pod/bare evicted", "node/n1 drained")
		wantContains(t, r.err, "Warning: ignoring DaemonSet-managed Pods: default/agent")
		out := h.ok("get", "pods")
		wantContains(t, out, "agent", "elsewhere")
		if strings.Contains(out, "web-1") || strings.Contains(out, "bare") {
			t.Errorf("drained pods left:\n%s", out)
		}
		// Pods waiting for a kubelet make a drain with a timeout give up.
		h.okStdin(strings.Replace(drainManifest[strings.Index(drainManifest, "---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: bare"):], "name: bare", "name: slow", 1), "apply", "-f", "-")
		r = h.run("drain", "n1", "--force", "--ignore-daemonsets", "--timeout=1s")
		if r.code != 1 {
			t.Fatalf("drain with a stuck pod: exit %d", r.code)
		}
		wantContains(t, r.err, "error: unable to drain node \"n1\": drain did not complete within 1s")
	})
}
