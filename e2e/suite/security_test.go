package suite

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// securityHint says what a pod's own API access relies on, for failures.
const securityHint = "In-pod API access needs the default/kubernetes Service (kept by the apiserver, reachable " +
	"through the proxy at its cluster IP), KUBERNETES_SERVICE_* in the container (kubelet), and a bound token " +
	"in the kube-api-access volume (ServiceAccount admission + kubelet TokenRequest) (issue 7)."

// A pod's service account token works from inside the pod for exactly
// what its RBAC allows: a Role to list pods in its namespace lets it list
// them there, not in another namespace; a service account without the
// Role gets nothing.
func TestServiceAccountTokenInPod(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.create(`
apiVersion: v1
kind: ServiceAccount
metadata: {name: reader}
`)
	e.create(`
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: pod-reader}
rules:
- {apiGroups: [""], resources: [pods], verbs: [get, list, watch]}
`)
	e.create(`
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: reader-reads-pods}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: pod-reader}
subjects:
- {kind: ServiceAccount, name: reader, namespace: %s}
`, e.ns)
	// The default service account is made by the controller-manager.
	e.eventually("service account default exists", time.Minute, func() (bool, string, error) {
		out, err := e.flotctl("get", "serviceaccount", "default", "-n", e.ns)
		return err == nil, out, nil
	})
	pod := func(name, sa, listNS string) {
		e.create(`
apiVersion: v1
kind: Pod
metadata: {name: %s}
spec:
  serviceAccountName: %s
  restartPolicy: Never
  containers:
  - name: client
    image: %s
    command: [/testserver, list-pods, %s]
    resources: %s
`, name, sa, testserver, listNS, small)
	}
	pod("own", "reader", e.ns)
	pod("other", "reader", "default")
	pod("nobody", "default", e.ns)

	e.podSucceeds("own", 2*time.Minute, securityHint)
	if out := e.logs("own"); !strings.Contains(out, fmt.Sprintf("pods in %s:", e.ns)) || !strings.Contains(out, "own") {
		t.Errorf("pod own listing its namespace: %q", out)
	}
	for _, name := range []string{"other", "nobody"} {
		p := e.podFinished(name, 2*time.Minute)
		cs := p.GetStatus().GetContainerStatuses()
		out := e.logs(name)
		if len(cs) != 1 || cs[0].GetState().GetTerminated().GetExitCode() != 3 || !strings.Contains(out, "forbidden") {
			t.Errorf("pod %s: %s, logs %q; want refused (exit 3)\n%s", name, describePod(p), out, securityHint)
		}
	}
}
