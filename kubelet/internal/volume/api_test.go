package volume

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
	"golang.org/x/sys/unix"

	"flotilla.io/apiserver/testserver"
	corev1 "flotilla.io/proto/flotilla/core/v1"
	metav1 "flotilla.io/proto/flotilla/meta/v1"
	"flotilla.io/sdk/client"
)

// Volumes that read the API, against a real apiserver and etcd.
func TestAPIVolumes(t *testing.T) {
	s := testserver.Start(t)
	c := s.Client(s.Config)
	ctx := context.Background()
	secrets := client.For[*corev1.Secret](c)
	configMaps := client.For[*corev1.ConfigMap](c)
	mustCreate := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	mustCreate(secrets.Create(ctx, &corev1.Secret{
		Metadata: &metav1.ObjectMeta{Name: "creds", Namespace: "default"},
		Data:     map[string][]byte{"user": []byte("admin"), "pass": []byte("s3cret")},
	}))
	mustCreate(configMaps.Create(ctx, &corev1.ConfigMap{
		Metadata:   &metav1.ObjectMeta{Name: "conf", Namespace: "default"},
		Data:       map[string]string{"app.yaml": "port: 80\n", "level": "debug"},
		BinaryData: map[string][]byte{"blob": {0, 1, 2}},
	}))

	root := t.TempDir()
	m := New(Config{RootDir: root, Client: c, Log: zaptest.NewLogger(t)})
	t.Cleanup(func() { teardownAll(t, m, root) })
	read := func(t *testing.T, path string) string {
		t.Helper()
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	listing := func(t *testing.T, dir string) string {
		t.Helper()
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, e := range entries {
			if !strings.HasPrefix(e.Name(), "..") {
				names = append(names, e.Name())
			}
		}
		sort.Strings(names)
		return strings.Join(names, ",")
	}

	t.Run("secret and configMap, all keys", func(t *testing.T) {
		pod := testPod("all",
			&corev1.Volume{Name: "s", Secret: &corev1.SecretVolumeSource{SecretName: "creds", DefaultMode: ptr(int32(0o400))}},
			&corev1.Volume{Name: "c", ConfigMap: &corev1.ConfigMapVolumeSource{Name: "conf"}},
		)
		paths, err := m.Setup(ctx, pod)
		if err != nil {
			t.Fatal(err)
		}
		if paths["s"] != filepath.Join(root, "pods", "all", "volumes", "s") {
			t.Errorf("path %s", paths["s"])
		}
		if got := listing(t, paths["s"]); got != "pass,user" {
			t.Errorf("secret files %s", got)
		}
		if read(t, filepath.Join(paths["s"], "pass")) != "s3cret" {
			t.Error("secret content")
		}
		checkMode(t, filepath.Join(paths["s"], "pass"), 0o400)
		// Secrets live in memory (when mounting is permitted).
		var st unix.Statfs_t
		if err := unix.Statfs(paths["s"], &st); err != nil {
			t.Fatal(err)
		}
		if os.Geteuid() == 0 && st.Type != unix.TMPFS_MAGIC {
			t.Errorf("secret volume is not on a tmpfs (fs type %x)", st.Type)
		}
		if got := listing(t, paths["c"]); got != "app.yaml,blob,level" {
			t.Errorf("configMap files %s", got)
		}
		if read(t, filepath.Join(paths["c"], "app.yaml")) != "port: 80\n" || read(t, filepath.Join(paths["c"], "blob")) != "\x00\x01\x02" {
			t.Error("configMap content")
		}
		checkMode(t, filepath.Join(paths["c"], "level"), 0o644)
		if err := m.Teardown(ctx, pod); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(paths["s"]); !os.IsNotExist(err) {
			t.Errorf("teardown left %s: %v", paths["s"], err)
		}
	})

	t.Run("items with paths and modes", func(t *testing.T) {
		pod := testPod("items",
			&corev1.Volume{Name: "s", Secret: &corev1.SecretVolumeSource{SecretName: "creds", Items: []*corev1.KeyToPath{
				{Key: "pass", Path: "db/password", Mode: ptr(int32(0o600))},
			}}},
			&corev1.Volume{Name: "c", ConfigMap: &corev1.ConfigMapVolumeSource{Name: "conf", DefaultMode: ptr(int32(0o640)), Items: []*corev1.KeyToPath{
				{Key: "level", Path: "log-level"}, {Key: "app.yaml", Path: "etc/app.yaml", Mode: ptr(int32(0o444))},
			}}},
		)
		paths, err := m.Setup(ctx, pod)
		if err != nil {
			t.Fatal(err)
		}
		if got := listing(t, paths["s"]); got != "db" {
			t.Errorf("secret files %s", got)
		}
		if read(t, filepath.Join(paths["s"], "db", "password")) != "s3cret" {
			t.Error("item content")
		}
		checkMode(t, filepath.Join(paths["s"], "db", "password"), 0o600)
		if got := listing(t, paths["c"]); got != "etc,log-level" {
			t.Errorf("configMap files %s", got)
		}
		checkMode(t, filepath.Join(paths["c"], "log-level"), 0o640)
		checkMode(t, filepath.Join(paths["c"], "etc", "app.yaml"), 0o444)
	})

	t.Run("missing objects and keys", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			vol  *corev1.Volume
			ok   bool
		}{
			{"missing secret", &corev1.Volume{Name: "v", Secret: &corev1.SecretVolumeSource{SecretName: "nope"}}, false},
			{"optional missing secret", &corev1.Volume{Name: "v", Secret: &corev1.SecretVolumeSource{SecretName: "nope", Optional: ptr(true)}}, true},
			{"missing configMap", &corev1.Volume{Name: "v", ConfigMap: &corev1.ConfigMapVolumeSource{Name: "nope"}}, false},
			{"optional missing configMap", &corev1.Volume{Name: "v", ConfigMap: &corev1.ConfigMapVolumeSource{Name: "nope", Optional: ptr(true)}}, true},
			{"missing key", &corev1.Volume{Name: "v", Secret: &corev1.SecretVolumeSource{SecretName: "creds", Items: []*corev1.KeyToPath{{Key: "x", Path: "x"}}}}, false},
			{"optional missing key", &corev1.Volume{Name: "v", Secret: &corev1.SecretVolumeSource{SecretName: "creds", Optional: ptr(true), Items: []*corev1.KeyToPath{{Key: "x", Path: "x"}}}}, true},
		} {
			t.Run(tc.name, func(t *testing.T) {
				paths, err := m.Setup(ctx, testPod("missing", tc.vol))
				if (err == nil) != tc.ok {
					t.Fatalf("Setup: %v, want ok=%v", err, tc.ok)
				}
				if err == nil {
					if got := listing(t, paths["v"]); got != "" {
						t.Errorf("files %q in an empty volume", got)
					}
				}
			})
		}
	})

	t.Run("updates are atomic swaps", func(t *testing.T) {
		cm, err := configMaps.Create(ctx, &corev1.ConfigMap{
			Metadata: &metav1.ObjectMeta{Name: "live", Namespace: "default"},
			Data:     map[string]string{"a": "1", "b": "2"},
		})
		if err != nil {
			t.Fatal(err)
		}
		pod := testPod("upd", &corev1.Volume{Name: "c", ConfigMap: &corev1.ConfigMapVolumeSource{Name: "live"}})
		paths, err := m.Setup(ctx, pod)
		if err != nil {
			t.Fatal(err)
		}
		before, _ := os.Readlink(filepath.Join(paths["c"], "..data"))
		cm.Data = map[string]string{"a": "one", "c": "3"}
		if _, err := configMaps.Update(ctx, cm); err != nil {
			t.Fatal(err)
		}
		if _, err := m.Setup(ctx, pod); err != nil {
			t.Fatal(err)
		}
		after, _ := os.Readlink(filepath.Join(paths["c"], "..data"))
		if before == after {
			t.Error("..data not swapped")
		}
		if got := listing(t, paths["c"]); got != "a,c" {
			t.Errorf("files after update %s", got)
		}
		if read(t, filepath.Join(paths["c"], "a")) != "one" {
			t.Error("content not updated")
		}
	})

	t.Run("projected service account volume", func(t *testing.T) {
		if _, err := client.For[*corev1.Namespace](c).Create(ctx, &corev1.Namespace{Metadata: &metav1.ObjectMeta{Name: "team"}}); err != nil {
			t.Fatal(err)
		}
		mustCreate(secrets.Create(ctx, &corev1.Secret{
			Metadata: &metav1.ObjectMeta{Name: "builder-token-abc", Namespace: "team", Annotations: map[string]string{saNameAnnotation: "builder"}},
			Type:     saTokenSecretType,
			Data:     map[string][]byte{"token": []byte("tok-builder"), "ca.crt": []byte("CA FROM SECRET")},
		}))
		mustCreate(client.For[*corev1.ServiceAccount](c).Create(ctx, &corev1.ServiceAccount{Metadata: &metav1.ObjectMeta{Name: "builder", Namespace: "team"}}))
		// The token is bound to the pod, which the apiserver must know.
		mustCreate(client.For[*corev1.Pod](c).Create(ctx, &corev1.Pod{Metadata: &metav1.ObjectMeta{Name: "p", Namespace: "team"},
			Spec: &corev1.PodSpec{ServiceAccountName: "builder", AutomountServiceAccountToken: ptr(false),
				Containers: []*corev1.Container{{Name: "c", Image: "busybox"}}}}))
		// The upstream kube-api-access volume, as admission writes it.
		access := &corev1.Volume{Name: "kube-api-access-x", Projected: &corev1.ProjectedVolumeSource{
			DefaultMode: ptr(int32(0o644)),
			Sources: []*corev1.VolumeProjection{
				{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token", ExpirationSeconds: ptr(int64(3607))}},
				{ConfigMap: &corev1.ConfigMapProjection{Name: rootCAConfigMap, Items: []*corev1.KeyToPath{{Key: "ca.crt", Path: "ca.crt"}}}},
				{DownwardApi: &corev1.DownwardAPIProjection{Items: []*corev1.DownwardAPIVolumeFile{
					{Path: "namespace", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}},
				}}},
			},
		}}
		pod := testPod("proj", access)
		pod.Metadata.Namespace = "team"
		pod.Spec.ServiceAccountName = "builder"

		// No kube-root-ca.crt yet: the token Secret's ca.crt stands in.
		paths, err := m.Setup(ctx, pod)
		if err != nil {
			t.Fatal(err)
		}
		dir := paths["kube-api-access-x"]
		if got := listing(t, dir); got != "ca.crt,namespace,token" {
			t.Errorf("files %s", got)
		}
		if read(t, filepath.Join(dir, "namespace")) != "team" || read(t, filepath.Join(dir, "ca.crt")) != "CA FROM SECRET" {
			t.Error("projected content")
		}
		// The token is a bound one from the apiserver, not the legacy
		// Secret's: it names the account and the pod, and expires.
		claims := jwtClaims(t, read(t, filepath.Join(dir, "token")))
		k8s, _ := claims["kubernetes.io"].(map[string]any)
		podClaim, _ := k8s["pod"].(map[string]any)
		if claims["sub"] != "system:serviceaccount:team:builder" || podClaim["name"] != "p" {
			t.Errorf("token claims %v", claims)
		}
		if exp, iat := claims["exp"].(float64), claims["iat"].(float64); exp-iat != 3607 {
			t.Errorf("token lifetime %v s, want 3607", exp-iat)
		}
		// Renewed once 80% of its life has passed, not before.
		key := tokenKey(pod.Metadata.Uid, "kube-api-access-x", "token")
		first := m.tokens.m[key]
		if err := m.Refresh(ctx, pod); err != nil || m.tokens.m[key] != first {
			t.Fatalf("renewed early: %v", err)
		}
		later := time.Now().Add(3000 * time.Second)
		m.cfg.Now = func() time.Time { return later }
		if err := m.Refresh(ctx, pod); err != nil {
			t.Fatal(err)
		}
		if e := m.tokens.m[key]; !e.issued.Equal(later) || !e.renewAt.After(later) {
			t.Errorf("not renewed: %+v", e)
		}
		m.cfg.Now = nil
		mustCreate(configMaps.Create(ctx, &corev1.ConfigMap{
			Metadata: &metav1.ObjectMeta{Name: rootCAConfigMap, Namespace: "team"},
			Data:     map[string]string{"ca.crt": "ROOT CA"},
		}))
		if _, err := m.Setup(ctx, pod); err != nil {
			t.Fatal(err)
		}
		if read(t, filepath.Join(dir, "ca.crt")) != "ROOT CA" {
			t.Error("kube-root-ca.crt not used")
		}

		// A pod the apiserver does not know gets no token: the mount fails.
		other := testPod("proj2", access)
		other.Metadata.Namespace, other.Metadata.Name = "team", "ghost"
		if _, err = m.Setup(ctx, other); err == nil || !strings.Contains(err.Error(), "service account token") {
			t.Errorf("token for an unknown pod: %v", err)
		}

		// Secrets and configMaps project too.
		mixed := testPod("proj3", &corev1.Volume{Name: "all", Projected: &corev1.ProjectedVolumeSource{Sources: []*corev1.VolumeProjection{
			{Secret: &corev1.SecretProjection{Name: "creds", Items: []*corev1.KeyToPath{{Key: "user", Path: "u"}}}},
			{ConfigMap: &corev1.ConfigMapProjection{Name: "conf", Items: []*corev1.KeyToPath{{Key: "level", Path: "l", Mode: ptr(int32(0o600))}}}},
			{Secret: &corev1.SecretProjection{Name: "nope", Optional: ptr(true)}},
		}}})
		paths, err = m.Setup(ctx, mixed)
		if err != nil {
			t.Fatal(err)
		}
		if got := listing(t, paths["all"]); got != "l,u" {
			t.Errorf("files %s", got)
		}
		checkMode(t, filepath.Join(paths["all"], "l"), 0o600)
		checkMode(t, filepath.Join(paths["all"], "u"), 0o644)
	})

	t.Run("persistentVolumeClaim", func(t *testing.T) {
		hostDir := t.TempDir()
		localDir := t.TempDir()
		pvs := client.For[*corev1.PersistentVolume](c)
		pvcs := client.For[*corev1.PersistentVolumeClaim](c)
		capacity := map[string]*metav1.Quantity{"storage": {String_: "1Gi"}}
		mustCreate(pvs.Create(ctx, &corev1.PersistentVolume{
			Metadata: &metav1.ObjectMeta{Name: "pv-host"},
			Spec: &corev1.PersistentVolumeSpec{Capacity: capacity, AccessModes: []string{"ReadWriteOnce"},
				HostPath: &corev1.HostPathVolumeSource{Path: hostDir, Type: ptr("Directory")}},
		}))
		mustCreate(pvs.Create(ctx, &corev1.PersistentVolume{
			Metadata: &metav1.ObjectMeta{Name: "pv-local"},
			Spec: &corev1.PersistentVolumeSpec{Capacity: capacity, AccessModes: []string{"ReadWriteOnce"},
				Local: &corev1.LocalVolumeSource{Path: localDir},
				NodeAffinity: &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{NodeSelectorTerms: []*corev1.NodeSelectorTerm{{
					MatchExpressions: []*corev1.NodeSelectorRequirement{{Key: "kubernetes.io/hostname", Operator: "In", Values: []string{"n1"}}},
				}}}}},
		}))
		claim := func(name, volume string) {
			pvc, err := pvcs.Create(ctx, &corev1.PersistentVolumeClaim{
				Metadata: &metav1.ObjectMeta{Name: name, Namespace: "default"},
				Spec: &corev1.PersistentVolumeClaimSpec{AccessModes: []string{"ReadWriteOnce"}, VolumeName: volume,
					Resources: &corev1.VolumeResourceRequirements{Requests: capacity}},
			})
			if err != nil {
				t.Fatal(err)
			}
			if volume == "" {
				return
			}
			// What the binder in the controller-manager does.
			pvc.Status = &corev1.PersistentVolumeClaimStatus{Phase: "Bound", AccessModes: []string{"ReadWriteOnce"}, Capacity: capacity}
			mustCreate(pvcs.UpdateStatus(ctx, pvc))
		}
		claim("data-host", "pv-host")
		claim("data-local", "pv-local")
		claim("unbound", "")
		pod := testPod("pvc",
			&corev1.Volume{Name: "h", PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data-host"}},
			&corev1.Volume{Name: "l", PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data-local"}},
		)
		paths, err := m.Setup(ctx, pod)
		if err != nil {
			t.Fatal(err)
		}
		if paths["h"] != hostDir || paths["l"] != localDir {
			t.Errorf("paths %v", paths)
		}
		for _, name := range []string{"unbound", "absent"} {
			bad := testPod("pvc2", &corev1.Volume{Name: "x", PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: name}})
			if _, err := m.Setup(ctx, bad); err == nil {
				t.Errorf("claim %s accepted", name)
			}
		}
		// Teardown leaves the persistent data alone.
		if err := os.WriteFile(filepath.Join(hostDir, "keep"), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := m.Teardown(ctx, pod); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(filepath.Join(hostDir, "keep")); err != nil {
			t.Errorf("persistent data removed: %v", err)
		}
	})
}

// teardownAll tears down every pod under root (unmounting their tmpfs).
func teardownAll(t *testing.T, m *Manager, root string) {
	entries, _ := os.ReadDir(filepath.Join(root, "pods"))
	for _, e := range entries {
		if err := m.Teardown(context.Background(), &corev1.Pod{Metadata: &metav1.ObjectMeta{Uid: e.Name()}}); err != nil {
			t.Error(err)
		}
	}
}

// jwtClaims decodes a JWT's payload (no verification: the apiserver made it).
func jwtClaims(t *testing.T, tok string) map[string]any {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", tok)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	if err := json.Unmarshal(b, &claims); err != nil {
		t.Fatal(err)
	}
	return claims
}
