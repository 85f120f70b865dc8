package manifest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "flotilla.io/proto/flotilla/core/v1"
	"flotilla.io/proto/object"
)

func names(objs []Object) string {
	var out []string
	for _, o := range objs {
		out = append(out, object.Kind(o.Object)+"/"+object.Meta(o.Object).GetName())
	}
	return strings.Join(out, " ")
}

func TestDecodeMultiDocumentYAML(t *testing.T) {
	in := `# leading comment
---
apiVersion: v1
kind: Namespace
metadata:
  name: shop
---
---
# an empty document above and a comment-only one here
---
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: ConfigMap
  metadata: {name: a}
- apiVersion: apps/v1
  kind: Deployment
  metadata: {name: web}
---
apiVersion: v1
kind: Secret
metadata:
  name: db
stringData:
  password: s3cret
`
	objs, err := Decode("in.yaml", strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if got := names(objs); got != "Namespace/shop ConfigMap/a Deployment/web Secret/db" {
		t.Fatalf("objects: %s", got)
	}
	if objs[0].Source != "in.yaml" {
		t.Errorf("source: %q", objs[0].Source)
	}
	if s := objs[3].Object.(*corev1.Secret); s.GetStringData()["password"] != "s3cret" {
		t.Errorf("stringData: %v", s)
	}
}

func TestDecodeJSONStream(t *testing.T) {
	in := `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"}}
{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"b"},"data":{"k":"v"}}`
	objs, err := Decode("in.json", strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if got := names(objs); got != "ConfigMap/a ConfigMap/b" {
		t.Fatalf("objects: %s", got)
	}
}

func TestDecodeErrorsNameFileDocumentAndField(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ok}\n---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: web\nspec:\n  containers:\n  - name: c\n    imagee: x\n",
			`error parsing f.yaml (document 2, Pod web): unknown field "spec.containers[0].imagee"`},
		{"apiVersion: v1\nkind: Gizmo\nmetadata: {name: g}\n", `error parsing f.yaml (document 1, Gizmo g): kind: kind "Gizmo" is not supported`},
		{"apiVersion: v2\nkind: Pod\nmetadata: {name: p}\n", `error parsing f.yaml (document 1, Pod p): kind: kind Pod is served as apiVersion "v1", not "v2"`},
		{"kind: Pod\nmetadata: {name: p}\n", `apiVersion: Required value`},
		{"apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers: [{name: c, ports: [{containerPort: http}]}]\n", `spec.containers[0].ports[0].containerPort: must be an integer, not a string`},
		{"apiVersion: v1\nkind: Pod\n  bad indent: [\n", `error parsing f.yaml (document 1)`},
	} {
		_, err := Decode("f.yaml", strings.NewReader(tc.in))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("error %v, want it to contain %q", err, tc.want)
		}
	}
}

func TestReadFilesDirectoriesAndStdin(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cm := func(name string) string { return "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: " + name + "}\n" }
	write("b.yaml", cm("b"))
	write("a.yml", cm("a"))
	write("c.json", `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"}}`)
	write("notes.txt", "ignored")
	write("sub/d.yaml", cm("d"))

	objs, err := Read([]string{dir}, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := names(objs); got != "ConfigMap/a ConfigMap/b ConfigMap/c" {
		t.Errorf("directory: %s", got)
	}
	objs, err = Read([]string{dir}, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := names(objs); got != "ConfigMap/a ConfigMap/b ConfigMap/c ConfigMap/d" {
		t.Errorf("recursive: %s", got)
	}
	objs, err = Read([]string{filepath.Join(dir, "b.yaml"), "-"}, false, strings.NewReader(cm("stdin")))
	if err != nil {
		t.Fatal(err)
	}
	if got := names(objs); got != "ConfigMap/b ConfigMap/stdin" || objs[1].Source != "STDIN" {
		t.Errorf("file and stdin: %s (%s)", got, objs[1].Source)
	}
	if _, err := Read([]string{filepath.Join(dir, "missing.yaml")}, false, nil); err == nil || !strings.Contains(err.Error(), `the path "`) {
		t.Errorf("missing file: %v", err)
	}
	if _, err := Read(nil, false, nil); err == nil {
		t.Error("no -f must be an error")
	}
	if _, err := Read([]string{"-"}, false, strings.NewReader("---\n# nothing\n")); err == nil || !strings.Contains(err.Error(), "no objects passed") {
		t.Errorf("empty input: %v", err)
	}
}
