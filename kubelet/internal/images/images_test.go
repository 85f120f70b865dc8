package images

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/containerd/v2/pkg/oci"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/opencontainers/runtime-spec/specs-go"
)

// built holds the two archives, made once for all tests.
type built struct {
	dir                 string
	busybox, testserver string
}

func build(t *testing.T) built {
	t.Helper()
	if _, err := os.Stat("/bin/busybox"); err != nil {
		t.Skip("no /bin/busybox: apt-get install -y busybox-static")
	}
	dir := t.TempDir()
	wd, _ := os.Getwd()
	ts, err := BuildTestServer(filepath.Join(wd, "..", ".."), dir)
	if err != nil {
		t.Fatal(err)
	}
	b := built{dir: dir, busybox: filepath.Join(dir, "busybox-1.35.tar"), testserver: filepath.Join(dir, "testserver.tar")}
	bb, err := Busybox("/bin/busybox")
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteArchive(b.busybox, BusyboxRef, bb); err != nil {
		t.Fatal(err)
	}
	tsImg, err := TestServer(ts)
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteArchive(b.testserver, TestServerRef, tsImg); err != nil {
		t.Fatal(err)
	}
	return b
}

// untar extracts a tar (regular files, dirs, hard links) under dst.
func untar(t *testing.T, r io.Reader, dst string) {
	t.Helper()
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dst, h.Name)
		switch h.Typeflag {
		case tar.TypeDir:
			err = os.MkdirAll(p, 0o755)
		case tar.TypeReg:
			var f *os.File
			if f, err = os.OpenFile(p, os.O_CREATE|os.O_WRONLY, os.FileMode(h.Mode)); err == nil {
				_, err = io.Copy(f, tr)
				f.Close()
			}
		case tar.TypeLink:
			err = os.Link(filepath.Join(dst, h.Linkname), p)
		default:
			t.Fatalf("unexpected entry %s type %c", h.Name, h.Typeflag)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

// openLayout extracts an archive and returns its only image and its
// index annotations.
func openLayout(t *testing.T, archive string) (v1.Image, map[string]string) {
	t.Helper()
	f, err := os.Open(archive)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dir := t.TempDir()
	untar(t, f, dir)
	for _, name := range []string{"oci-layout", "index.json"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Fatalf("archive lacks %s", name)
		}
	}
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Manifests) != 1 {
		t.Fatalf("index has %d manifests", len(m.Manifests))
	}
	img, err := idx.Image(m.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	return img, m.Manifests[0].Annotations
}

func TestArchives(t *testing.T) {
	b := build(t)

	img, ann := openLayout(t, b.busybox)
	if ann[NameAnnotation] != BusyboxRef || ann["org.opencontainers.image.ref.name"] != "1.35" {
		t.Errorf("busybox annotations %v", ann)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cf.OS != "linux" || len(cf.Config.Cmd) != 1 || cf.Config.Cmd[0] != "sh" {
		t.Errorf("busybox config %+v", cf)
	}
	layers, err := img.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("layers %v %v", layers, err)
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	rootfs := t.TempDir()
	untar(t, rc, rootfs)
	rc.Close()
	// The applets are busybox itself: run the image's sh with the host's
	// kernel, as the container would.
	for _, applet := range []string{"bin/sh", "bin/ls", "usr/bin/wget"} {
		if _, err := os.Stat(filepath.Join(rootfs, applet)); err != nil {
			t.Errorf("busybox image lacks %s", applet)
		}
	}
	out, err := exec.Command(filepath.Join(rootfs, "bin/sh"), "-c", "echo hello from $0").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "hello from "+filepath.Join(rootfs, "bin/sh") {
		t.Errorf("sh from the image: %q %v", out, err)
	}

	img, ann = openLayout(t, b.testserver)
	if ann[NameAnnotation] != TestServerRef {
		t.Errorf("testserver annotations %v", ann)
	}
	if cf, err = img.ConfigFile(); err != nil || len(cf.Config.Entrypoint) != 1 || cf.Config.Entrypoint[0] != "/testserver" {
		t.Errorf("testserver config %+v %v", cf, err)
	}
}

func TestRequireStatic(t *testing.T) {
	if err := requireStatic("/bin/ls"); err == nil {
		t.Error("/bin/ls (dynamic) accepted")
	}
}

// TestContainerd imports both archives into a real containerd and runs
// them: busybox's sh, and the test server on the host network, asked over
// HTTP to exit with code 3.
func TestContainerd(t *testing.T) {
	sock := os.Getenv("FLOTILLA_CONTAINERD")
	if sock == "" {
		t.Skip("FLOTILLA_CONTAINERD not set: start a private containerd with hack/containerd.sh and set it to its socket")
	}
	if _, err := os.Stat(sock); err != nil {
		t.Skipf("containerd socket %s: %v", sock, err)
	}
	b := build(t)
	client, err := containerd.New(sock)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	ctx, cancel := context.WithTimeout(namespaces.WithNamespace(context.Background(), "flotilla-images-test"), 3*time.Minute)
	defer cancel()

	load := func(archive string) containerd.Image {
		f, err := os.Open(archive)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		imgs, err := client.Import(ctx, f)
		if err != nil {
			t.Fatalf("import %s: %v", archive, err)
		}
		if len(imgs) != 1 {
			t.Fatalf("import %s: %d images", archive, len(imgs))
		}
		img := containerd.NewImage(client, imgs[0])
		if err := img.Unpack(ctx, "overlayfs"); err != nil {
			t.Fatalf("unpack: %v", err)
		}
		return img
	}
	// Containers are deleted before the client closes (defers run before
	// t.Cleanup).
	var made []string
	defer func() {
		for _, id := range made {
			if err := deleteContainer(context.WithoutCancel(ctx), client, id); err != nil {
				t.Errorf("delete %s: %v", id, err)
			}
		}
	}()
	run := func(name string, img containerd.Image, stdout io.Writer, opts ...oci.SpecOpts) (containerd.Task, <-chan containerd.ExitStatus) {
		// A fresh ID each run: containerd derives the shim's socket from the
		// ID and reuses a shim still shutting down from a previous run with
		// the same ID, whose copy of the new task's output is lost.
		id := fmt.Sprintf("%s-%d", name, time.Now().UnixNano())
		c, err := client.NewContainer(ctx, id, containerd.WithNewSnapshot(id, img),
			containerd.WithNewSpec(append([]oci.SpecOpts{oci.WithImageConfig(img)}, opts...)...))
		if err != nil {
			t.Fatal(err)
		}
		made = append(made, id)
		task, err := c.NewTask(ctx, cio.NewCreator(cio.WithStreams(nil, stdout, stdout)))
		if err != nil {
			t.Fatal(err)
		}
		exit, err := task.Wait(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := task.Start(ctx); err != nil {
			t.Fatal(err)
		}
		return task, exit
	}

	bb := load(b.busybox)
	if bb.Name() != BusyboxRef {
		t.Errorf("imported as %s", bb.Name())
	}
	var out syncBuffer
	task, exit := run("busybox", bb, &out, oci.WithProcessArgs("sh", "-c", "echo hello; ls /bin | wc -l; exit 4"))
	st := <-exit
	// The exit status can arrive before the output has been copied out of
	// the FIFOs; Delete waits for the copy to finish.
	if _, err := task.Delete(ctx); err != nil {
		t.Fatal(err)
	}
	if st.ExitCode() != 4 || !strings.HasPrefix(out.String(), "hello\n") {
		t.Errorf("busybox: exit %d, output %q", st.ExitCode(), out.String())
	}

	ts := load(b.testserver)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(lis.Addr().(*net.TCPAddr).Port)
	lis.Close()
	out.Reset()
	_, exit = run("testserver", ts, &out, oci.WithHostNamespace(specs.NetworkNamespace), oci.WithEnv([]string{"PORT=" + port}))
	base := "http://127.0.0.1:" + port
	deadline := time.Now().Add(time.Minute)
	for {
		resp, err := http.Get(base + "/healthz")
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if string(body) != "ok\n" {
				t.Errorf("healthz %q", body)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("testserver never answered: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	resp, err := http.Get(base + "/echo?msg=hi")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "hi\n" {
		t.Errorf("echo %q", body)
	}
	if resp, err := http.Get(base + "/exit?code=3"); err == nil {
		resp.Body.Close()
	}
	if st := <-exit; st.ExitCode() != 3 {
		t.Errorf("testserver exit %d, output %q", st.ExitCode(), out.String())
	}
}

func deleteContainer(ctx context.Context, client *containerd.Client, id string) error {
	c, err := client.LoadContainer(ctx, id)
	if err != nil {
		return err
	}
	if task, err := c.Task(ctx, nil); err == nil {
		_, _ = task.Delete(ctx, containerd.WithProcessKill)
	}
	return c.Delete(ctx, containerd.WithSnapshotCleanup)
}

// syncBuffer is a bytes.Buffer safe for the concurrent stdout and stderr
// copies of a task's output.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *syncBuffer) Reset() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Reset()
}
