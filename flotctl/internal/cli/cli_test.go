package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"flotilla.io/apiserver/testserver"

	"flotilla.io/flotctl/internal/cli"
)

// The manifest an upstream Kubernetes user would write, unchanged.
const shopManifest = `apiVersion: v1
kind: Namespace
metadata:
  name: shop
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
  labels:
    app: web
spec:
  replicas: 2
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - name: nginx
        image: nginx:1.25
        ports:
        - name: http
          containerPort: 80
        resources:
          requests:
            cpu: 100m
            memory: 64Mi
          limits:
            cpu: 500m
            memory: 128Mi
---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: shop
spec:
  selector:
    app: web
  ports:
  - name: http
    port: 80
    targetPort: http
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: web-config
  namespace: shop
data:
  mode: production
  nginx.conf: |
    server { listen 80; }
---
apiVersion: v1
kind: Secret
metadata:
  name: db
  namespace: shop
type: Opaque
stringData:
  password: s3cret
---
# A bare pod with everything a real one carries.
apiVersion: v1
kind: Pod
metadata:
  name: debug
  namespace: shop
  labels:
    app: debug
spec:
  # Spelled out because the apiserver adds them on create and a pod's
  # tolerations can only grow: re-applying a manifest without them after
  # applying "get -o yaml" output would try to remove them (as upstream).
  # For the same reason the pod opts out of the injected token volume.
  automountServiceAccountToken: false
  serviceAccountName: default
  tolerations:
  - key: node.kubernetes.io/not-ready
    operator: Exists
    effect: NoExecute
    tolerationSeconds: 300
  - key: node.kubernetes.io/unreachable
    operator: Exists
    effect: NoExecute
    tolerationSeconds: 300
  containers:
  - name: app
    image: busybox:1.36
    command: ["sh", "-c", "sleep 3600"]
    env:
    - name: GREETING
      value: hello
    - name: MODE
      valueFrom:
        configMapKeyRef:
          name: web-config
          key: mode
    - name: PASSWORD
      valueFrom:
        secretKeyRef:
          name: db
          key: password
    - name: POD_NAME
      valueFrom:
        fieldRef:
          fieldPath: metadata.name
    ports:
    - containerPort: 8080
      protocol: TCP
    resources:
      requests:
        cpu: 50m
        memory: 32Mi
      limits:
        memory: 64Mi
    readinessProbe:
      httpGet:
        path: /healthz
        port: 8080
      initialDelaySeconds: 5
      periodSeconds: 10
    livenessProbe:
      exec:
        command: ["cat", "/tmp/healthy"]
    volumeMounts:
    - name: config
      mountPath: /etc/app
      readOnly: true
    - name: scratch
      mountPath: /scratch
  volumes:
  - name: config
    configMap:
      name: web-config
  - name: scratch
    emptyDir: {}
`

// harness runs flotctl commands in-process against one test apiserver.
type harness struct {
	t      *testing.T
	config string
	dir    string
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	s := testserver.Start(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "config")
	if err := s.Config.Save(path); err != nil {
		t.Fatal(err)
	}
	return &harness{t: t, config: path, dir: dir}
}

// sub is the harness for a subtest, so its failures stop only the subtest.
func (h *harness) sub(t *testing.T) *harness {
	c := *h
	c.t = t
	return &c
}

type result struct {
	out, err string
	code     int
}

func (h *harness) runIn(ctx context.Context, stdin string, args ...string) result {
	var out, errOut bytes.Buffer
	code := cli.Run(ctx, append([]string{"--config", h.config}, args...), cli.Streams{In: strings.NewReader(stdin), Out: &out, ErrOut: &errOut})
	return result{out: out.String(), err: errOut.String(), code: code}
}

func (h *harness) run(args ...string) result {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	return h.runIn(ctx, "", args...)
}

// ok runs a command that must succeed and returns its stdout.
func (h *harness) ok(args ...string) string {
	h.t.Helper()
	r := h.run(args...)
	if r.code != 0 {
		h.t.Fatalf("flotctl %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.code, r.out, r.err)
	}
	return r.out
}

// okStdin is ok with standard input.
func (h *harness) okStdin(stdin string, args ...string) string {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	r := h.runIn(ctx, stdin, args...)
	if r.code != 0 {
		h.t.Fatalf("flotctl %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.code, r.out, r.err)
	}
	return r.out
}

// fails runs a command that must fail and returns its stderr.
func (h *harness) fails(args ...string) string {
	h.t.Helper()
	r := h.run(args...)
	if r.code != 1 {
		h.t.Fatalf("flotctl %s: exit %d, want 1\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.code, r.out, r.err)
	}
	if !strings.HasPrefix(r.err, "error: ") && !strings.HasPrefix(r.err, "Error from server") && !strings.HasPrefix(r.err, "The ") {
		h.t.Errorf("stderr is not a kubectl-style error: %q", r.err)
	}
	return r.err
}

func (h *harness) write(name, content string) string {
	h.t.Helper()
	p := filepath.Join(h.dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		h.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		h.t.Fatal(err)
	}
	return p
}

func wantLines(t *testing.T, got string, want ...string) {
	t.Helper()
	lines := strings.Split(strings.TrimRight(got, "\n"), "\n")
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Fatalf("got:\n%s\nwant:\n%s", got, strings.Join(want, "\n"))
	}
}

func wantContains(t *testing.T, got string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(got, w) {
			t.Errorf("output lacks %q:\n%s", w, got)
		}
	}
}

// wantRow finds the table row starting with the given cells (separated by
// any run of spaces).
func wantRow(t *testing.T, table string, cells ...string) {
	t.Helper()
	pattern := "(?m)^" + strings.Join(quoteAll(cells), `\s+`) + `(\s|$)`
	if !regexp.MustCompile(pattern).MatchString(table) {
		t.Errorf("no row %q in:\n%s", strings.Join(cells, " | "), table)
	}
}

func quoteAll(s []string) []string {
	out := make([]string, len(s))
	for n, x := range s {
		out[n] = regexp.QuoteMeta(x)
	}
	return out
}

func TestCLI(t *testing.T) {
	h := newHarness(t)
	manifest := h.write("shop.yaml", shopManifest)

	t.Run("apply creates every kind of an upstream manifest", func(t *testing.T) {
		h := h.sub(t)
		out := h.ok("apply", "-f", manifest)
		wantLines(t, out,
			"namespace/shop created",
			"deployment.apps/web created",
			"service/web created",
			"configmap/web-config created",
			"secret/db created",
			"pod/debug created",
		)
	})

	t.Run("re-apply is unchanged", func(t *testing.T) {
		h := h.sub(t)
		out := h.ok("apply", "-f", manifest)
		wantLines(t, out,
			"namespace/shop unchanged",
			"deployment.apps/web unchanged",
			"service/web unchanged",
			"configmap/web-config unchanged",
			"secret/db unchanged",
			"pod/debug unchanged",
		)
	})

	t.Run("get tables", func(t *testing.T) {
		h := h.sub(t)
		pods := h.ok("get", "pods", "-n", "shop")
		wantRow(t, pods, "NAME", "READY", "STATUS", "RESTARTS", "AGE")
		wantRow(t, pods, "debug", "0/1", "Pending", "0")

		wide := h.ok("get", "po", "debug", "-n", "shop", "-o", "wide")
		wantRow(t, wide, "NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE", "NOMINATED NODE", "READINESS GATES")
		wantRow(t, wide, "debug", "0/1", "Pending", "0")
		wantContains(t, wide, "<none>")

		deploy := h.ok("get", "deploy", "-n", "shop")
		wantRow(t, deploy, "NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE")
		wantRow(t, deploy, "web", "0/2", "0", "0")

		svc := h.ok("get", "svc", "web", "-n", "shop")
		wantRow(t, svc, "NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE")
		if !regexp.MustCompile(`(?m)^web\s+ClusterIP\s+\S+\s+<none>\s+80/TCP\s+\d+s`).MatchString(svc) {
			t.Errorf("service row:\n%s", svc)
		}

		cm := h.ok("get", "cm", "-n", "shop")
		wantRow(t, cm, "NAME", "DATA", "AGE")
		wantRow(t, cm, "web-config", "2")

		secret := h.ok("get", "secrets", "-n", "shop")
		wantRow(t, secret, "NAME", "TYPE", "DATA", "AGE")
		wantRow(t, secret, "db", "Opaque", "1")

		ns := h.ok("get", "ns")
		wantRow(t, ns, "NAME", "STATUS", "AGE")
		wantRow(t, ns, "shop", "Active")
		wantRow(t, ns, "default", "Active")

		all := h.ok("get", "pods", "-A")
		wantRow(t, all, "NAMESPACE", "NAME", "READY", "STATUS", "RESTARTS", "AGE")
		wantRow(t, all, "shop", "debug", "0/1", "Pending")

		several := h.ok("get", "deploy,svc", "-n", "shop")
		wantRow(t, several, "deployment.apps/web", "0/2")
		wantRow(t, several, "service/web", "ClusterIP")

		names := h.ok("get", "pods,cm", "-n", "shop", "-o", "name")
		wantLines(t, names, "pod/debug", "configmap/web-config")

		labels := h.ok("get", "pods", "-n", "shop", "-l", "app=debug", "--show-labels")
		wantRow(t, labels, "debug", "0/1", "Pending", "0")
		wantContains(t, labels, "app=debug")

		r := h.run("get", "pods", "-n", "shop", "-l", "app=nothing")
		if r.code != 0 || r.out != "" || r.err != "No resources found in shop namespace.\n" {
			t.Errorf("empty list: %+v", r)
		}
		fs := h.ok("get", "pods", "-n", "shop", "--field-selector", "metadata.name=debug", "-o", "name")
		wantLines(t, fs, "pod/debug")

		jp := h.ok("get", "pod", "debug", "-n", "shop", "-o", "jsonpath={.spec.containers[0].image}")
		if jp != "busybox:1.36" {
			t.Errorf("jsonpath: %q", jp)
		}
	})

	t.Run("get -o yaml and json", func(t *testing.T) {
		h := h.sub(t)
		y := h.ok("get", "pod", "debug", "-n", "shop", "-o", "yaml")
		wantContains(t, y, "apiVersion: v1\n", "kind: Pod\n", "image: busybox:1.36", "resourceVersion:", "uid:",
			"kubectl.kubernetes.io/last-applied-configuration")
		if strings.Contains(y, "kind: List") {
			t.Errorf("one named object must print as itself:\n%s", y)
		}
		list := h.ok("get", "pods", "-n", "shop", "-o", "yaml")
		wantContains(t, list, "kind: List", "items:", "name: debug")

		var obj map[string]any
		if err := json.Unmarshal([]byte(h.ok("get", "secret", "db", "-n", "shop", "-o", "json")), &obj); err != nil {
			t.Fatal(err)
		}
		data, _ := obj["data"].(map[string]any)
		if data["password"] != "czNjcmV0" { // base64("s3cret"): stringData merged into data
			t.Errorf("secret data: %v", obj)
		}
	})

	t.Run("get -o yaml output re-applies unchanged", func(t *testing.T) {
		h := h.sub(t)
		one := h.ok("get", "pod", "debug", "-n", "shop", "-o", "yaml")
		out := h.okStdin(one, "apply", "-f", "-")
		if out != "pod/debug configured\n" && out != "pod/debug unchanged\n" {
			t.Fatalf("apply of get -o yaml: %q", out)
		}
		wantLines(t, h.okStdin(h.ok("get", "pod", "debug", "-n", "shop", "-o", "yaml"), "apply", "-f", "-"), "pod/debug unchanged")

		// A List of several kinds, as get -o yaml prints it.
		list := h.ok("get", "deploy,svc,cm,secret,pod", "-n", "shop", "-o", "yaml")
		out = h.okStdin(list, "apply", "-f", "-")
		for _, name := range []string{"deployment.apps/web", "service/web", "configmap/web-config", "secret/db", "pod/debug"} {
			if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + ` (configured|unchanged)$`).MatchString(out) {
				t.Errorf("apply of the List: no line for %s:\n%s", name, out)
			}
		}
		out = h.okStdin(h.ok("get", "deploy,svc,cm,secret,pod", "-n", "shop", "-o", "json"), "apply", "-f", "-")
		wantLines(t, out,
			"deployment.apps/web unchanged",
			"service/web unchanged",
			"configmap/web-config unchanged",
			"secret/db unchanged",
			"pod/debug unchanged",
		)
		// And the original manifest still applies over it.
		h.ok("apply", "-f", manifest)
	})

	t.Run("apply merges three ways", func(t *testing.T) {
		h := h.sub(t)
		// A label set by someone else survives; a key removed from the manifest goes.
		h.ok("label", "cm", "web-config", "-n", "shop", "owner=ops")
		changed := strings.Replace(shopManifest, "  mode: production\n", "", 1)
		changed = strings.Replace(changed, "replicas: 2", "replicas: 4", 1)
		out := h.ok("apply", "-f", h.write("shop-v2.yaml", changed))
		wantContains(t, out, "configmap/web-config configured", "deployment.apps/web configured", "pod/debug unchanged")
		data := h.ok("get", "cm", "web-config", "-n", "shop", "-o", "jsonpath={.data}")
		if strings.Contains(data, "mode") || !strings.Contains(data, "nginx.conf") {
			t.Errorf("data after removing mode: %s", data)
		}
		if got := h.ok("get", "cm", "web-config", "-n", "shop", "-o", "jsonpath={.metadata.labels.owner}"); got != "ops" {
			t.Errorf("label set outside apply lost: %q", got)
		}
		if got := h.ok("get", "deploy", "web", "-n", "shop", "-o", "jsonpath={.spec.replicas}"); got != "4" {
			t.Errorf("replicas: %q", got)
		}
		h.ok("apply", "-f", manifest)
	})

	t.Run("apply of a directory and of JSON", func(t *testing.T) {
		h := h.sub(t)
		h.write("dir/a.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata:\n  k: v\n")
		h.write("dir/b.json", `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"b"}}`+"\n"+`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"}}`)
		h.write("dir/ignored.txt", "not a manifest")
		out := h.ok("apply", "-f", filepath.Join(h.dir, "dir"), "-n", "shop")
		wantLines(t, out, "configmap/a created", "configmap/b created", "configmap/c created")
		h.ok("delete", "-f", filepath.Join(h.dir, "dir"), "-n", "shop")
	})

	t.Run("create", func(t *testing.T) {
		h := h.sub(t)
		wantLines(t, h.ok("create", "namespace", "team-a"), "namespace/team-a created")
		cm := h.write("cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  a: \"1\"\n")
		wantLines(t, h.ok("create", "-f", cm, "-n", "team-a"), "configmap/settings created")
		errOut := h.fails("create", "-f", cm, "-n", "team-a")
		wantLines(t, errOut, `Error from server (AlreadyExists): error when creating "`+cm+`": configmaps "settings" already exists`)
		errOut = h.fails("create", "namespace", "team-a")
		wantLines(t, errOut, `Error from server (AlreadyExists): namespaces "team-a" already exists`)
	})

	t.Run("label and annotate", func(t *testing.T) {
		h := h.sub(t)
		wantLines(t, h.ok("label", "pod", "debug", "-n", "shop", "tier=frontend"), "pod/debug labeled")
		errOut := h.fails("label", "pod", "debug", "-n", "shop", "tier=backend")
		wantLines(t, errOut, "error: 'tier' already has a value (frontend), and --overwrite is false")
		wantLines(t, h.ok("label", "pod/debug", "-n", "shop", "tier=backend", "--overwrite"), "pod/debug labeled")
		wantLines(t, h.ok("get", "pods", "-n", "shop", "-l", "tier=backend", "-o", "name"), "pod/debug")
		wantLines(t, h.ok("label", "pod", "debug", "-n", "shop", "tier=backend"), "pod/debug not labeled")
		wantLines(t, h.ok("label", "pod", "debug", "-n", "shop", "tier-"), "pod/debug unlabeled")
		if got := h.ok("get", "pod", "debug", "-n", "shop", "-o", "jsonpath={.metadata.labels}"); strings.Contains(got, "tier") {
			t.Errorf("label not removed: %s", got)
		}
		errOut = h.fails("label", "pod", "debug", "-n", "shop", "bad key=x")
		wantContains(t, errOut, `invalid label key "bad key"`)

		wantLines(t, h.ok("annotate", "pod", "debug", "-n", "shop", "example.com/note=first"), "pod/debug annotated")
		h.fails("annotate", "pod", "debug", "-n", "shop", "example.com/note=second")
		wantLines(t, h.ok("annotate", "pod", "debug", "-n", "shop", "example.com/note=second", "--overwrite"), "pod/debug annotated")
		if got := h.ok("get", "pod", "debug", "-n", "shop", "-o", "jsonpath={.metadata.annotations.example\\.com/note}"); got != "second" {
			t.Errorf("annotation: %q", got)
		}
		wantLines(t, h.ok("annotate", "pod", "debug", "-n", "shop", "example.com/note-"), "pod/debug annotated")
		wantLines(t, h.ok("label", "pods", "--all", "-n", "shop", "team=blue"), "pod/debug labeled")
	})

	t.Run("patch", func(t *testing.T) {
		h := h.sub(t)
		wantLines(t, h.ok("patch", "deploy", "web", "-n", "shop", "--type", "merge", "-p", `{"spec":{"replicas":3}}`), "deployment.apps/web patched")
		if got := h.ok("get", "deploy", "web", "-n", "shop", "-o", "jsonpath={.spec.replicas}"); got != "3" {
			t.Errorf("replicas after merge patch: %q", got)
		}
		wantLines(t, h.ok("patch", "deploy", "web", "-n", "shop", "--type", "merge", "-p", `{"spec":{"replicas":3}}`), "deployment.apps/web patched (no change)")
		// Strategic merge: the container is merged by name, its ports kept.
		h.ok("patch", "deploy/web", "-n", "shop", "-p", `{"spec":{"template":{"spec":{"containers":[{"name":"nginx","image":"nginx:1.27"}]}}}}`)
		if got := h.ok("get", "deploy", "web", "-n", "shop", "-o", "jsonpath={.spec.template.spec.containers[0].image} {.spec.template.spec.containers[0].ports[0].containerPort}"); got != "nginx:1.27 80" {
			t.Errorf("after strategic patch: %q", got)
		}
		h.ok("patch", "pod", "debug", "-n", "shop", "--type", "json", "-p", `[{"op":"replace","path":"/spec/containers/0/image","value":"busybox:1.37"}]`)
		if got := h.ok("get", "pod", "debug", "-n", "shop", "-o", "jsonpath={.spec.containers[0].image}"); got != "busybox:1.37" {
			t.Errorf("after json patch: %q", got)
		}
		errOut := h.fails("patch", "deploy", "web", "-n", "shop", "--type", "merge", "-p", `{"spec":{"replicaz":3}}`)
		wantContains(t, errOut, `unknown field "spec.replicaz"`)
		errOut = h.fails("patch", "pod", "debug", "-n", "shop", "--type", "json", "-p", `[{"op":"replace","path":"/spec/nothing/0","value":1}]`)
		wantContains(t, errOut, "json patch")

		// Status is a subresource: a plain patch leaves it alone, --subresource writes it.
		h.ok("patch", "pod", "debug", "-n", "shop", "--type", "merge", "-p", `{"status":{"phase":"Running"}}`)
		if got := h.ok("get", "pod", "debug", "-n", "shop", "-o", "jsonpath={.status.phase}"); got == "Running" {
			t.Errorf("a spec patch changed status")
		}
		wantLines(t, h.ok("patch", "pod", "debug", "-n", "shop", "--subresource=status", "--type", "merge", "-p", `{"status":{"phase":"Running"}}`), "pod/debug patched")
		wantRow(t, h.ok("get", "pod", "debug", "-n", "shop"), "debug", "0/1", "Running", "0")
		// Apply keeps the live status.
		h.ok("apply", "-f", manifest)
		if got := h.ok("get", "pod", "debug", "-n", "shop", "-o", "jsonpath={.status.phase}"); got != "Running" {
			t.Errorf("apply lost the status: phase %q", got)
		}
	})

	t.Run("describe", func(t *testing.T) {
		h := h.sub(t)
		h.ok("patch", "pod", "debug", "-n", "shop", "--subresource=status", "--type", "merge", "-p",
			`{"status":{"phase":"Pending","conditions":[{"type":"PodScheduled","status":"False","reason":"Unschedulable","message":"0/3 nodes are available: 3 Insufficient cpu."}]}}`)
		uid := h.ok("get", "pod", "debug", "-n", "shop", "-o", "jsonpath={.metadata.uid}")
		event := `apiVersion: v1
kind: Event
metadata:
  name: debug.1
  namespace: shop
involvedObject:
  apiVersion: v1
  kind: Pod
  name: debug
  namespace: shop
  uid: ` + uid + `
reason: FailedScheduling
message: "0/3 nodes are available: 3 Insufficient cpu."
type: Warning
source:
  component: default-scheduler
count: 1
---
apiVersion: v1
kind: Event
metadata:
  name: other.1
  namespace: shop
involvedObject:
  kind: Pod
  name: other
  namespace: shop
reason: Pulled
message: not about debug
type: Normal
`
		h.okStdin(event, "apply", "-f", "-")
		out := h.ok("describe", "pod", "debug", "-n", "shop")
		wantContains(t, out,
			"Name:", "debug",
			"Namespace:", "shop",
			"Labels:", "app=debug",
			"Status:", "Pending",
			"Containers:\n  app:\n",
			"Image:", "busybox",
			"Port:", "8080/TCP",
			"Readiness:", "http-get http://:8080/healthz delay=5s",
			"Liveness:", "exec [cat /tmp/healthy]",
			"MODE:", "<set to the key 'mode' of config map 'web-config'>",
			"PASSWORD:", "<set to the key 'password' in secret 'db'>",
			"/etc/app from config (ro)",
			"Conditions:", "PodScheduled", "False", "0/3 nodes are available: 3 Insufficient cpu.",
			"Volumes:", "ConfigMap (a volume populated by a ConfigMap)", "EmptyDir",
			"Events:", "Warning", "FailedScheduling", "default-scheduler",
		)
		if !regexp.MustCompile(`Limits:\n\s+memory:\s+64Mi\n\s+Requests:\n\s+cpu:\s+50m\n\s+memory:\s+32Mi\n`).MatchString(out) {
			t.Errorf("describe lacks limits and requests:\n%s", out)
		}
		if strings.Contains(out, "last-applied-configuration") {
			t.Errorf("describe shows the last-applied annotation:\n%s", out)
		}
		if strings.Contains(out, "not about debug") {
			t.Errorf("describe shows another object's event:\n%s", out)
		}
		deploy := h.ok("describe", "deploy", "web", "-n", "shop")
		wantContains(t, deploy, "Name:", "web", "Replicas:", "desired", "Pod Template:", "nginx", "Events:", "<none>")
		svc := h.ok("describe", "svc/web", "-n", "shop")
		wantContains(t, svc, "Type:", "ClusterIP", "Port:", "http  80/TCP", "TargetPort:", "http/TCP")
		secret := h.ok("describe", "secret", "db", "-n", "shop")
		wantContains(t, secret, "password:", "6 bytes")
		if strings.Contains(secret, "s3cret") {
			t.Errorf("describe printed a secret value")
		}
		generic := h.ok("describe", "events", "debug.1", "-n", "shop")
		wantContains(t, generic, "Name:", "debug.1", "Reason:", "FailedScheduling")
	})

	t.Run("errors", func(t *testing.T) {
		h := h.sub(t)
		bad := h.write("bad.yaml", "apiVersion: v1\nkind: Pod\nmetadata:\n  name: typo\nspec:\n  containers:\n  - name: c\n    imagee: busybox\n")
		errOut := h.fails("apply", "-f", bad)
		wantContains(t, errOut, `unknown field "spec.containers[0].imagee"`, bad)
		errOut = h.fails("apply", "-f", h.write("badkind.yaml", "apiVersion: v1\nkind: Gadget\nmetadata:\n  name: g\n"))
		wantContains(t, errOut, `kind "Gadget" is not supported`)
		wantLines(t, h.fails("get", "pods", "nope", "-n", "shop"), `Error from server (NotFound): pods "nope" not found`)
		wantLines(t, h.fails("get", "foo"), `error: the server doesn't have a resource type "foo"`)
		wantLines(t, h.fails("get", "pods", "--token", "wrong"), "error: You must be logged in to the server (Unauthorized): invalid bearer token")
		// alice is authenticated but holds no role (RBAC).
		wantLines(t, h.fails("get", "pods", "-n", "shop", "--token", testserver.UserToken),
			`Error from server (Forbidden): pods is forbidden: User "alice" cannot list resource "pods" in API group "" in the namespace "shop"`)
		errOut = h.fails("apply", "-f", manifest, "-n", "default")
		wantContains(t, errOut, `the namespace from the provided object "shop" does not match the namespace "default"`)
		errOut = h.fails("apply", "-f", h.write("invalid.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: Not_Valid\n"), "-n", "shop")
		if !strings.HasPrefix(errOut, "The ConfigMap \"Not_Valid\" is invalid: metadata.name") {
			t.Errorf("validation error: %q", errOut)
		}
	})

	t.Run("watch prints changes", func(t *testing.T) {
		h := h.sub(t)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		out := &syncBuffer{}
		done := make(chan int)
		go func() {
			done <- cli.Run(ctx, []string{"--config", h.config, "get", "pods", "-n", "shop", "-w"}, cli.Streams{In: strings.NewReader(""), Out: out, ErrOut: out})
		}()
		waitFor(t, func() bool { return strings.Count(out.String(), "debug") == 1 }, "the initial list", out)
		h.ok("label", "pod", "debug", "-n", "shop", "watched=yes")
		waitFor(t, func() bool { return strings.Count(out.String(), "debug") == 2 }, "a row for the change", out)
		lines := strings.Split(strings.TrimSpace(out.String()), "\n")
		if len(lines) != 3 || !strings.HasPrefix(lines[0], "NAME") || !strings.HasPrefix(lines[2], "debug") {
			t.Errorf("watch output:\n%s", out.String())
		}
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("get -w ended with %d:\n%s", code, out.String())
		}

		// --watch-only -o name prints only the changes.
		ctx2, cancel2 := context.WithCancel(context.Background())
		defer cancel2()
		out2 := &syncBuffer{}
		go func() {
			done <- cli.Run(ctx2, []string{"--config", h.config, "get", "cm", "-n", "shop", "--watch-only", "-o", "name"}, cli.Streams{In: strings.NewReader(""), Out: out2, ErrOut: out2})
		}()
		time.Sleep(300 * time.Millisecond) // let the watch start; an earlier change would be listed, not watched
		h.ok("create", "-f", h.write("watched.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: watched\n"), "-n", "shop")
		waitFor(t, func() bool { return out2.String() == "configmap/watched\n" }, "the created configmap", out2)
		cancel2()
		<-done
	})

	t.Run("wait", func(t *testing.T) {
		h := h.sub(t)
		go func() {
			time.Sleep(300 * time.Millisecond)
			h.ok("patch", "pod", "debug", "-n", "shop", "--subresource=status", "--type", "merge", "-p",
				`{"status":{"phase":"Running","conditions":[{"type":"Ready","status":"True"}]}}`)
		}()
		wantLines(t, h.ok("wait", "pod", "debug", "-n", "shop", "--for=condition=Ready", "--timeout=20s"), "pod/debug condition met")
		wantLines(t, h.ok("wait", "pod/debug", "-n", "shop", "--for=jsonpath='{.status.phase}'=Running"), "pod/debug condition met")
		errOut := h.fails("wait", "pod", "debug", "-n", "shop", "--for=condition=Ready=False", "--timeout=1s")
		wantLines(t, errOut, "error: timed out waiting for the condition on pods/debug")
		wantLines(t, h.fails("wait", "pod", "ghost", "-n", "shop", "--for=condition=Ready"), `Error from server (NotFound): pods "ghost" not found`)
		wantLines(t, h.ok("wait", "pod", "ghost", "-n", "shop", "--for=delete"), "pod/ghost deleted")
	})

	t.Run("delete", func(t *testing.T) {
		h := h.sub(t)
		wantLines(t, h.ok("delete", "pod", "debug", "-n", "shop"), `pod "debug" deleted`)
		wantLines(t, h.fails("get", "pod", "debug", "-n", "shop"), `Error from server (NotFound): pods "debug" not found`)
		wantLines(t, h.fails("delete", "pod", "debug", "-n", "shop"), `Error from server (NotFound): pods "debug" not found`)
		h.ok("delete", "pod", "debug", "-n", "shop", "--ignore-not-found")

		// A pod bound to a node lingers for its grace period until the
		// kubelet confirms; --force removes it at once.
		bound := h.write("bound.yaml", "apiVersion: v1\nkind: Pod\nmetadata:\n  name: bound\n  namespace: shop\nspec:\n  nodeName: node-1\n  containers:\n  - name: c\n    image: busybox\n")
		h.ok("apply", "-f", bound)
		wantLines(t, h.ok("delete", "pod", "bound", "-n", "shop", "--wait=false"), `pod "bound" deleted`)
		wantRow(t, h.ok("get", "pod", "bound", "-n", "shop"), "bound", "0/1", "Terminating")
		errOut := h.fails("delete", "pod", "bound", "-n", "shop", "--timeout=1s", "--grace-period=20")
		wantContains(t, errOut, "timed out waiting for the condition on pods/bound")
		r := h.run("delete", "pod", "bound", "-n", "shop", "--force")
		if r.code != 0 || r.out != "pod \"bound\" deleted\n" || !strings.Contains(r.err, "Warning: Immediate deletion") {
			t.Errorf("force delete: %+v", r)
		}
		h.fails("get", "pod", "bound", "-n", "shop")

		// The label and --all deletions run in a namespace that stays.
		h.ok("apply", "-f", h.write("three.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: one\n  labels: {set: x}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: two\n  labels: {set: x}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: three\n"), "-n", "default")
		wantLines(t, h.ok("delete", "cm", "-l", "set=x", "-n", "default"), `configmap "one" deleted`, `configmap "two" deleted`)
		out := h.ok("delete", "cm", "--all", "-n", "default")
		wantContains(t, out, `configmap "three" deleted`)
		r = h.run("get", "cm", "-n", "default")
		if r.out != "" || r.err != "No resources found in default namespace.\n" {
			t.Errorf("configmaps left: %+v", r)
		}

		// Deleting the manifest marks its namespace Terminating; the
		// namespace controller (not running here) empties and removes it.
		r = h.run("delete", "-f", manifest, "--ignore-not-found", "--wait=false")
		wantLines(t, r.out,
			`namespace "shop" deleted`,
			`deployment.apps "web" deleted`,
			`service "web" deleted`,
			`configmap "web-config" deleted`,
			`secret "db" deleted`,
		)
		wantRow(t, h.ok("get", "ns", "shop"), "shop", "Terminating")
	})

	t.Run("config from FLOTILLA_CONFIG", func(t *testing.T) {
		t.Setenv("FLOTILLA_CONFIG", h.config)
		var out, errOut bytes.Buffer
		code := cli.Run(context.Background(), []string{"get", "ns", "default", "-o", "name"}, cli.Streams{Out: &out, ErrOut: &errOut})
		if code != 0 || out.String() != "namespace/default\n" {
			t.Errorf("exit %d: %q %q", code, out.String(), errOut.String())
		}
		t.Setenv("FLOTILLA_CONFIG", filepath.Join(h.dir, "missing"))
		errOut.Reset()
		code = cli.Run(context.Background(), []string{"get", "ns"}, cli.Streams{Out: &out, ErrOut: &errOut})
		if code != 1 || !strings.HasPrefix(errOut.String(), "error: no client configuration at "+filepath.Join(h.dir, "missing")) {
			t.Errorf("missing config: exit %d, %q", code, errOut.String())
		}
	})

	t.Run("version", func(t *testing.T) {
		h := h.sub(t)
		out := h.ok("version")
		wantContains(t, out, "Client Version: ", "Server: 127.0.0.1:", "Server Reachable: yes")
		r := h.run("version", "--server", "127.0.0.1:1")
		if r.code != 1 || !strings.Contains(r.out, "Server Reachable: no") || !strings.Contains(r.err, "Unable to connect to the server") {
			t.Errorf("unreachable server: %+v", r)
		}
	})
}

func waitFor(t *testing.T, cond func() bool, what string, out *syncBuffer) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; output:\n%s", what, out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
