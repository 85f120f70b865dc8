// Package images builds the test images without a registry: OCI-layout
// tarballs whose index carries the io.containerd.image.name annotation, so
// containerd's Import (and `flotctl image load`) names them.
//
//   - busybox:1.35 from Debian's busybox-static binary, with every applet as
//     a hard link to /bin/busybox (as the upstream image has them);
//   - the test server (kubelet/cmd/testserver), a static Go binary FROM
//     scratch.
package images

import (
	"archive/tar"
	"bytes"
	"debug/elf"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// References of the test images.
const (
	BusyboxRef    = "docker.io/library/busybox:1.35"
	TestServerRef = "docker.io/flotilla/testserver:latest"
)

// NameAnnotation names an image in an OCI index for containerd's Import.
const NameAnnotation = "io.containerd.image.name"

// epoch is the files' time, so builds are reproducible.
var epoch = time.Unix(0, 0).UTC()

// file is one entry of a layer.
type file struct {
	name string // without a leading slash
	mode int64
	data []byte
	link string // hard link target (a layer path)
	dir  bool
}

func layer(files []file) (v1.Layer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		h := &tar.Header{Name: f.name, Mode: f.mode, ModTime: epoch, Format: tar.FormatPAX}
		switch {
		case f.dir:
			h.Typeflag, h.Name = tar.TypeDir, f.name+"/"
		case f.link != "":
			h.Typeflag, h.Linkname = tar.TypeLink, f.link
		default:
			h.Typeflag, h.Size = tar.TypeReg, int64(len(f.data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if h.Typeflag == tar.TypeReg {
			if _, err := tw.Write(f.data); err != nil {
				return nil, err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	b := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(b)), nil
	}, tarball.WithMediaType(types.OCILayer))
}

// image is an OCI image of one layer with the given config.
func image(l v1.Layer, cfg v1.Config) (v1.Image, error) {
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err := mutate.Append(img, mutate.Addendum{Layer: l, MediaType: types.OCILayer, History: v1.History{CreatedBy: "flotilla mkimages", Created: v1.Time{Time: epoch}}})
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.Architecture, cf.OS = runtime.GOARCH, "linux"
	cf.Created = v1.Time{Time: epoch}
	cf.Config = cfg
	return mutate.ConfigFile(img, cf)
}

var baseDirs = []file{
	{name: "bin", dir: true, mode: 0o755},
	{name: "dev", dir: true, mode: 0o755},
	{name: "etc", dir: true, mode: 0o755},
	{name: "home", dir: true, mode: 0o755},
	{name: "proc", dir: true, mode: 0o755},
	{name: "root", dir: true, mode: 0o700},
	{name: "sys", dir: true, mode: 0o755},
	{name: "tmp", dir: true, mode: 0o1777},
	{name: "usr", dir: true, mode: 0o755},
	{name: "usr/bin", dir: true, mode: 0o755},
	{name: "usr/sbin", dir: true, mode: 0o755},
	{name: "sbin", dir: true, mode: 0o755},
	{name: "var", dir: true, mode: 0o755},
	{name: "var/run", dir: true, mode: 0o755},
}

var etcFiles = []file{
	{name: "etc/passwd", mode: 0o644, data: []byte("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n")},
	{name: "etc/group", mode: 0o644, data: []byte("root:x:0:\nnobody:x:65534:\n")},
}

// Busybox builds busybox:1.35 from a static busybox binary (Debian's
// busybox-static installs /bin/busybox). The applet list comes from running
// it with --list-full.
func Busybox(busyboxPath string) (v1.Image, error) {
	bin, err := os.ReadFile(busyboxPath)
	if err != nil {
		return nil, fmt.Errorf("busybox binary (apt-get install -y busybox-static): %w", err)
	}
	if err := requireStatic(busyboxPath); err != nil {
		return nil, err
	}
	out, err := exec.Command(busyboxPath, "--list-full").Output()
	if err != nil {
		return nil, fmt.Errorf("busybox --list-full: %w", err)
	}
	files := slices.Clone(baseDirs)
	files = append(files, etcFiles...)
	files = append(files, file{name: "bin/busybox", mode: 0o755, data: bin})
	for _, applet := range strings.Fields(string(out)) {
		applet = strings.TrimPrefix(applet, "/")
		if applet == "bin/busybox" || strings.Contains(applet, "..") {
			continue
		}
		if dir := path.Dir(applet); !slices.ContainsFunc(files, func(f file) bool { return f.dir && f.name == dir }) {
			continue // applets only go into the standard directories
		}
		files = append(files, file{name: applet, mode: 0o755, link: "bin/busybox"})
	}
	l, err := layer(files)
	if err != nil {
		return nil, err
	}
	return image(l, v1.Config{
		Cmd: []string{"sh"},
		Env: []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
	})
}

// TestServer builds the test server image from its static binary.
func TestServer(binaryPath string) (v1.Image, error) {
	bin, err := os.ReadFile(binaryPath)
	if err != nil {
		return nil, fmt.Errorf("testserver binary: %w", err)
	}
	if err := requireStatic(binaryPath); err != nil {
		return nil, err
	}
	files := []file{
		{name: "etc", dir: true, mode: 0o755},
		{name: "tmp", dir: true, mode: 0o1777},
	}
	files = append(files, etcFiles...)
	files = append(files, file{name: "testserver", mode: 0o755, data: bin})
	l, err := layer(files)
	if err != nil {
		return nil, err
	}
	return image(l, v1.Config{
		Entrypoint:   []string{"/testserver"},
		Env:          []string{"PATH=/", "PORT=8080"},
		ExposedPorts: map[string]struct{}{"8080/tcp": {}},
	})
}

// BuildTestServer compiles kubelet/cmd/testserver statically into dir and
// returns the binary's path. moduleDir is the kubelet module's directory.
func BuildTestServer(moduleDir, dir string) (string, error) {
	out := filepath.Join(dir, "testserver")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", out, "./cmd/testserver")
	cmd.Dir = moduleDir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build testserver: %w\n%s", err, b)
	}
	return out, nil
}

// requireStatic refuses dynamically linked binaries: the images have no
// libc.
func requireStatic(p string) error {
	f, err := elf.Open(p)
	if err != nil {
		return fmt.Errorf("%s: %w", p, err)
	}
	defer f.Close()
	for _, prog := range f.Progs {
		if prog.Type == elf.PT_INTERP {
			return fmt.Errorf("%s is dynamically linked; the image needs a static binary", p)
		}
	}
	return nil
}

// WriteArchive writes img as an OCI-layout tar at dst, named ref in the
// index (io.containerd.image.name and org.opencontainers.image.ref.name).
func WriteArchive(dst, ref string, img v1.Image) error {
	dir, err := os.MkdirTemp("", "flotilla-image-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	lp, err := layout.Write(dir, empty.Index)
	if err != nil {
		return err
	}
	tag := ref[strings.LastIndex(ref, ":")+1:]
	if err := lp.AppendImage(img, layout.WithAnnotations(map[string]string{
		NameAnnotation:                      ref,
		"org.opencontainers.image.ref.name": tag,
	})); err != nil {
		return fmt.Errorf("write layout: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	tmp := dst + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	if err := tarDir(f, dir); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, dst)
}

// tarDir writes dir's tree (files and directories, sorted) to w.
func tarDir(w io.Writer, dir string) error {
	tw := tar.NewWriter(w)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		info, err := d.Info()
		if err != nil {
			return err
		}
		h, err := tar.FileInfoHeader(info, "")
		if err != nil {
			return err
		}
		h.Name, h.ModTime, h.Uname, h.Gname, h.Uid, h.Gid = filepath.ToSlash(rel), epoch, "", "", 0, 0
		if d.IsDir() {
			h.Name += "/"
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if d.Type().IsRegular() {
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			defer f.Close()
			if _, err := io.Copy(tw, f); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	return tw.Close()
}
