package suite

import (
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "flotilla.io/proto/flotilla/core/v1"
	"flotilla.io/sdk/client"
)

// servicesHint says what Services from pods rely on, for failures.
const servicesHint = "Services reached from pods need the proxy (Service VIP rules on every node) and the cluster DNS " +
	"(answering at the kubelets' --cluster-dns address) running in the cluster under test (issue 6). " +
	"On the local cluster hack/up.sh must start a proxy per node and the dns server; check $STATE/logs."

func TestServicesFromPods(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.create(`
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      terminationGracePeriodSeconds: 2
      containers:
      - name: web
        image: %s
        readinessProbe: {httpGet: {path: /healthz, port: 8080}, periodSeconds: 1}
        resources: %s
`, testserver, small)
	svc := e.create(`
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: 8080}]
`).(*corev1.Service)
	ip := svc.GetSpec().GetClusterIp()
	if ip == "" || ip == "None" {
		t.Fatalf("service web got no cluster IP: %q", ip)
	}
	e.waitDeployment("web", 2, 3*time.Minute)
	e.eventually("endpoints of web list both pods", time.Minute, func() (bool, string, error) {
		ep, err := client.For[*corev1.Endpoints](e.c).Get(e.ctx, e.ns, "web")
		if err != nil {
			return false, "", err
		}
		n := 0
		for _, s := range ep.GetSubsets() {
			n += len(s.GetAddresses())
		}
		return n == 2, fmt.Sprintf("%d ready addresses", n), nil
	})
	// Several requests each, so both backends are likely hit; each must work.
	fetch := func(url string) string {
		return fmt.Sprintf(`cat /etc/resolv.conf; for i in 1 2 3 4 5; do timeout 10 wget -q -O- %s || { echo "request $i to %s failed"; exit 1; }; echo; done`, url, url)
	}
	client := `
apiVersion: v1
kind: Pod
metadata: {name: %s}
spec:
  restartPolicy: Never
  containers:
  - {name: c, image: %s, command: [sh, -c, %q], resources: %s}
`
	e.create(client, "by-ip", busybox, fetch("http://"+ip+":80/"), small)
	e.create(client, "by-name", busybox, fetch(fmt.Sprintf("http://web.%s.svc.cluster.local/", e.ns)), small)
	e.create(client, "by-short-name", busybox, fetch("http://web/"), small)
	for _, p := range []string{"by-ip", "by-name", "by-short-name"} {
		p := p
		t.Run(p, func(t *testing.T) {
			e := *e
			e.t = t
			e.podSucceeds(p, 2*time.Minute, servicesHint)
			out := e.logs(p)
			if !strings.Contains(out, "web-") {
				t.Errorf("pod %s got no answer naming a web pod:\n%s", p, out)
			}
		})
	}
}

func TestSecretsInPods(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.create(`
apiVersion: v1
kind: Secret
metadata: {name: creds}
type: Opaque
stringData: {username: admin, password: s3cr3t}
`)
	e.create(`
apiVersion: v1
kind: Pod
metadata: {name: reader}
spec:
  restartPolicy: Never
  containers:
  - name: c
    image: %s
    command: [sh, -c, 'test "$PASSWORD" = s3cr3t && test "$username" = admin && test "$(cat /etc/creds/password)" = s3cr3t && test "$(cat /etc/creds/username)" = admin && echo secrets-ok']
    env:
    - name: PASSWORD
      valueFrom: {secretKeyRef: {name: creds, key: password}}
    envFrom:
    - secretRef: {name: creds}
    volumeMounts: [{name: creds, mountPath: /etc/creds, readOnly: true}]
    resources: %s
  volumes:
  - {name: creds, secret: {secretName: creds}}
`, busybox, small)
	e.podSucceeds("reader", 2*time.Minute, "the secret's values were not in the pod's environment and /etc/creds")
	if out := e.logs("reader"); !strings.Contains(out, "secrets-ok") {
		t.Errorf("logs of reader = %q, want secrets-ok", out)
	}
}
