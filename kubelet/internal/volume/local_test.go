package volume

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	corev1 "flotilla.io/proto/flotilla/core/v1"
	metav1 "flotilla.io/proto/flotilla/meta/v1"
)

func testPod(uid string, vols ...*corev1.Volume) *corev1.Pod {
	return &corev1.Pod{
		Metadata: &metav1.ObjectMeta{Name: "p", Namespace: "default", Uid: uid, Labels: map[string]string{"app": "web", "tier": "front"}},
		Spec:     &corev1.PodSpec{Volumes: vols, NodeName: "n1"},
	}
}

func ptr[T any](v T) *T { return &v }

func TestHostPathTypes(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for _, tc := range []struct {
		name, path, typ string
		ok              bool
		created         bool
	}{
		{"no type, missing", filepath.Join(dir, "nothing"), "", true, false},
		{"directory", dir, "Directory", true, false},
		{"directory is a file", file, "Directory", false, false},
		{"directory missing", filepath.Join(dir, "nothing"), "Directory", false, false},
		{"directory or create", filepath.Join(dir, "new/deep"), "DirectoryOrCreate", true, true},
		{"directory or create on a file", file, "DirectoryOrCreate", false, false},
		{"file", file, "File", true, false},
		{"file is a dir", dir, "File", false, false},
		{"file or create", filepath.Join(dir, "newfile"), "FileOrCreate", true, true},
		{"file or create without parent", filepath.Join(dir, "no/parent"), "FileOrCreate", false, false},
		{"socket", sock, "Socket", true, false},
		{"socket is a file", file, "Socket", false, false},
		{"char device", "/dev/null", "CharDevice", true, false},
		{"block device is not a char device", "/dev/null", "BlockDevice", false, false},
		{"unknown type", dir, "Fifo", false, false},
		{"relative", "rel/path", "", false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := New(Config{RootDir: t.TempDir()})
			pod := testPod("u1", &corev1.Volume{Name: "v", HostPath: &corev1.HostPathVolumeSource{Path: tc.path, Type: ptr(tc.typ)}})
			paths, err := m.Setup(context.Background(), pod)
			if (err == nil) != tc.ok {
				t.Fatalf("Setup: %v, want ok=%v", err, tc.ok)
			}
			if err != nil {
				return
			}
			if paths["v"] != tc.path {
				t.Errorf("path %q", paths["v"])
			}
			if tc.created {
				if _, err := os.Stat(tc.path); err != nil {
					t.Errorf("not created: %v", err)
				}
			}
		})
	}
}

func TestEmptyDir(t *testing.T) {
	root := t.TempDir()
	m := New(Config{RootDir: root})
	pod := testPod("u1", &corev1.Volume{Name: "scratch", EmptyDir: &corev1.EmptyDirVolumeSource{}}, &corev1.Volume{Name: "legacy"})
	ctx := context.Background()
	paths, err := m.Setup(ctx, pod)
	if err != nil {
		t.Fatal(err)
	}
	want := filepath.Join(root, "pods", "u1", "volumes", "scratch")
	if paths["scratch"] != want {
		t.Fatalf("path %q, want %q", paths["scratch"], want)
	}
	fi, err := os.Stat(want)
	if err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o777 {
		t.Fatalf("emptyDir %v %v", fi.Mode(), err)
	}
	if err := os.WriteFile(filepath.Join(want, "data"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Setup again keeps the content.
	if _, err := m.Setup(ctx, pod); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(want, "data")); err != nil || string(b) != "x" {
		t.Fatalf("content lost: %q %v", b, err)
	}
	if _, ok := paths["legacy"]; !ok {
		t.Error("a volume without a source is an emptyDir")
	}
	if err := m.Teardown(ctx, pod); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "pods", "u1", "volumes")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("volumes dir left: %v", err)
	}
	if err := m.Teardown(ctx, pod); err != nil {
		t.Fatalf("second teardown: %v", err)
	}

	// fsGroup makes the directory group-owned and setgid.
	pod.Spec.SecurityContext = &corev1.PodSecurityContext{FsGroup: ptr(int64(4321))}
	if os.Geteuid() == 0 {
		if _, err := m.Setup(ctx, pod); err != nil {
			t.Fatal(err)
		}
		fi, _ := os.Stat(want)
		if st := fi.Sys().(*syscall.Stat_t); st.Gid != 4321 || fi.Mode()&os.ModeSetgid == 0 {
			t.Errorf("fsGroup: gid %d mode %v", st.Gid, fi.Mode())
		}
	}

	bad := testPod("u2", &corev1.Volume{Name: "h", EmptyDir: &corev1.EmptyDirVolumeSource{Medium: "HugePages"}})
	if _, err := m.Setup(ctx, bad); err == nil || !strings.Contains(err.Error(), "not supported") {
		t.Fatalf("HugePages: %v", err)
	}
}

func TestEmptyDirMemory(t *testing.T) {
	root := t.TempDir()
	m := New(Config{RootDir: root})
	t.Cleanup(func() { teardownAll(t, m, root) })
	pod := testPod("u1", &corev1.Volume{Name: "mem", EmptyDir: &corev1.EmptyDirVolumeSource{
		Medium: "Memory", SizeLimit: &metav1.Quantity{String_: "2Mi"},
	}})
	ctx := context.Background()
	paths, err := m.Setup(ctx, pod)
	if errors.Is(err, unix.EPERM) {
		t.Skipf("skipping: mounting tmpfs needs CAP_SYS_ADMIN: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	dir := paths["mem"]
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	if st.Type != unix.TMPFS_MAGIC {
		t.Fatalf("not a tmpfs: %x", st.Type)
	}
	if size := st.Blocks * uint64(st.Bsize); size != 2<<20 {
		t.Errorf("tmpfs size %d, want %d", size, 2<<20)
	}
	// Idempotent: no second mount on top.
	if _, err := m.Setup(ctx, pod); err != nil {
		t.Fatal(err)
	}
	if mps, _ := mountsUnder(dir); len(mps) != 1 {
		t.Errorf("mounts %v", mps)
	}
	if err := m.Teardown(ctx, pod); err != nil {
		t.Fatal(err)
	}
	if mps, _ := mountsUnder(dir); len(mps) != 0 {
		t.Errorf("still mounted: %v", mps)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("dir left: %v", err)
	}
}

func TestDownwardAPI(t *testing.T) {
	root := t.TempDir()
	m := New(Config{RootDir: root})
	pod := testPod("u1", &corev1.Volume{Name: "info", DownwardApi: &corev1.DownwardAPIVolumeSource{
		DefaultMode: ptr(int32(0o600)),
		Items: []*corev1.DownwardAPIVolumeFile{
			{Path: "name", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}},
			{Path: "ns", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}, Mode: ptr(int32(0o644))},
			{Path: "labels", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels"}},
			{Path: "meta/app", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels['app']"}},
			{Path: "mem", ResourceFieldRef: &corev1.ResourceFieldSelector{ContainerName: "c", Resource: "limits.memory", Divisor: &metav1.Quantity{String_: "1Mi"}}},
			{Path: "cpu", ResourceFieldRef: &corev1.ResourceFieldSelector{ContainerName: "c", Resource: "requests.cpu", Divisor: &metav1.Quantity{String_: "1m"}}},
			{Path: "cpu-cores", ResourceFieldRef: &corev1.ResourceFieldSelector{ContainerName: "c", Resource: "requests.cpu"}},
		},
	}})
	pod.Spec.Containers = []*corev1.Container{{Name: "c", Resources: &corev1.ResourceRequirements{
		Limits:   map[string]*metav1.Quantity{"memory": {String_: "64Mi"}},
		Requests: map[string]*metav1.Quantity{"cpu": {String_: "250m"}},
	}}}
	paths, err := m.Setup(context.Background(), pod)
	if err != nil {
		t.Fatal(err)
	}
	dir := paths["info"]
	for name, want := range map[string]string{
		"name": "p", "ns": "default", "labels": "app=\"web\"\ntier=\"front\"", "meta/app": "web",
		"mem": "64", "cpu": "250", "cpu-cores": "1",
	} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil || string(b) != want {
			t.Errorf("%s = %q, %v; want %q", name, b, err, want)
		}
	}
	checkMode(t, filepath.Join(dir, "name"), 0o600)
	checkMode(t, filepath.Join(dir, "ns"), 0o644)

	pod.Spec.Volumes[0].DownwardApi.Items = []*corev1.DownwardAPIVolumeFile{{Path: "x", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "spec.bogus"}}}
	if _, err := m.Setup(context.Background(), pod); err == nil {
		t.Fatal("unknown field accepted")
	}
}

func checkMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != want {
		t.Errorf("%s mode %v, want %v", filepath.Base(path), fi.Mode().Perm(), want)
	}
}

func TestWriteAtomic(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "vol")
	v1 := map[string]file{"a": {data: []byte("1"), mode: 0o644}, "sub/b": {data: []byte("2"), mode: 0o400}}
	if err := writeAtomic(dir, v1, -1); err != nil {
		t.Fatal(err)
	}
	ts1, err := os.Readlink(filepath.Join(dir, "..data"))
	if err != nil || !strings.HasPrefix(ts1, "..") {
		t.Fatalf("..data -> %q, %v", ts1, err)
	}
	if l, _ := os.Readlink(filepath.Join(dir, "sub")); l != "..data/sub" {
		t.Errorf("sub -> %q", l)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "sub", "b")); string(b) != "2" {
		t.Errorf("sub/b = %q", b)
	}
	checkMode(t, filepath.Join(dir, "sub", "b"), 0o400)

	// Same payload: nothing rewritten.
	if err := writeAtomic(dir, v1, -1); err != nil {
		t.Fatal(err)
	}
	if ts, _ := os.Readlink(filepath.Join(dir, "..data")); ts != ts1 {
		t.Errorf("unchanged payload rewrote: %s -> %s", ts1, ts)
	}

	// An update swaps ..data, drops links of removed names and the old dir.
	v2 := map[string]file{"a": {data: []byte("one"), mode: 0o644}, "c": {data: []byte("3"), mode: 0o644}}
	if err := writeAtomic(dir, v2, -1); err != nil {
		t.Fatal(err)
	}
	ts2, _ := os.Readlink(filepath.Join(dir, "..data"))
	if ts2 == ts1 {
		t.Fatal("..data not swapped")
	}
	if _, err := os.Lstat(filepath.Join(dir, "sub")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("removed name still linked: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, ts1)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("old version left: %v", err)
	}
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if strings.Join(names, ",") != strings.Join([]string{ts2, "..data", "a", "c"}, ",") {
		t.Errorf("entries %v", names)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "a")); string(b) != "one" {
		t.Errorf("a = %q", b)
	}

	for _, bad := range []string{"/abs", "../up", "a/../../x", "..hidden", "a//b", ""} {
		if err := writeAtomic(dir, map[string]file{bad: {}}, -1); err == nil {
			t.Errorf("path %q accepted", bad)
		}
	}
}

func TestUnsupportedSources(t *testing.T) {
	m := New(Config{RootDir: t.TempDir()})
	for _, v := range []*corev1.Volume{
		{Name: "n", Nfs: &corev1.NFSVolumeSource{Server: "s", Path: "/"}},
		{Name: "c", Csi: &corev1.CSIVolumeSource{Driver: "d"}},
		{Name: "../x", EmptyDir: &corev1.EmptyDirVolumeSource{}},
	} {
		if _, err := m.Setup(context.Background(), testPod("u1", v)); err == nil {
			t.Errorf("volume %v accepted", v)
		}
	}
}
