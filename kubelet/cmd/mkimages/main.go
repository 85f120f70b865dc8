// Command mkimages writes the test images as OCI-layout tarballs, without a
// registry: OUT/busybox-1.35.tar (docker.io/library/busybox:1.35, from
// Debian's busybox-static, installed with apt-get when missing) and
// OUT/testserver.tar (docker.io/flotilla/testserver:latest, built from
// kubelet/cmd/testserver). Load them with `flotctl image load FILE.tar` or
// containerd's import.
//
//	go run ./kubelet/cmd/mkimages --out bin/images
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"flotilla.io/kubelet/internal/images"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "mkimages:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("mkimages", flag.ContinueOnError)
	out := fs.String("out", "bin/images", "directory to write the tarballs to")
	busybox := fs.String("busybox", "/bin/busybox", "static busybox binary (Debian's busybox-static)")
	testserver := fs.String("testserver", "", "static testserver binary (default: build kubelet/cmd/testserver)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if _, err := os.Stat(*busybox); errors.Is(err, os.ErrNotExist) && *busybox == "/bin/busybox" {
		fmt.Fprintln(os.Stderr, "mkimages: installing busybox-static")
		cmd := exec.Command("apt-get", "install", "-y", "-qq", "busybox-static")
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("apt-get install busybox-static: %w", err)
		}
	}
	if *testserver == "" {
		modDir, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "flotilla.io/kubelet").Output()
		if err != nil {
			return fmt.Errorf("find the kubelet module (run inside the workspace or pass --testserver): %w", err)
		}
		tmp, err := os.MkdirTemp("", "mkimages-*")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		if *testserver, err = images.BuildTestServer(strings.TrimSpace(string(modDir)), tmp); err != nil {
			return err
		}
	}
	for _, b := range []struct {
		file, ref string
		build     func() (v1.Image, error)
	}{
		{"busybox-1.35.tar", images.BusyboxRef, func() (v1.Image, error) { return images.Busybox(*busybox) }},
		{"testserver.tar", images.TestServerRef, func() (v1.Image, error) { return images.TestServer(*testserver) }},
	} {
		img, err := b.build()
		if err != nil {
			return err
		}
		dst := filepath.Join(*out, b.file)
		if err := images.WriteArchive(dst, b.ref, img); err != nil {
			return fmt.Errorf("%s: %w", dst, err)
		}
		fmt.Printf("%s\t%s\n", dst, b.ref)
	}
	return nil
}
