package logs

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/containerd/v2/pkg/oci"

	kubeletv1 "flotilla.io/proto/flotilla/kubelet/v1"

	"flotilla.io/kubelet/internal/images"
)

// TestMain lets the test binary be the log driver, as the kubelet binary
// is: the shim runs it as `BINARY log-driver QUERY`.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == DriverCommand {
		if err := RunDriver(os.Args[1:]); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestDriverUnderContainerd runs a busybox container whose output goes
// through this test binary as containerd's binary log driver.
func TestDriverUnderContainerd(t *testing.T) {
	sock := os.Getenv("FLOTILLA_CONTAINERD")
	if sock == "" {
		t.Skip("FLOTILLA_CONTAINERD not set: start a private containerd with hack/containerd.sh and set it to its socket")
	}
	if _, err := os.Stat("/bin/busybox"); err != nil {
		t.Skip("no /bin/busybox: apt-get install -y busybox-static")
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	archive := filepath.Join(dir, "busybox.tar")
	bb, err := images.Busybox("/bin/busybox")
	if err != nil {
		t.Fatal(err)
	}
	if err := images.WriteArchive(archive, images.BusyboxRef, bb); err != nil {
		t.Fatal(err)
	}
	client, err := containerd.New(sock)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	ctx, cancel := context.WithTimeout(namespaces.WithNamespace(context.Background(), "flotilla-logs-test"), 3*time.Minute)
	defer cancel()
	f, err := os.Open(archive)
	if err != nil {
		t.Fatal(err)
	}
	imgs, err := client.Import(ctx, f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	img := containerd.NewImage(client, imgs[0])
	if err := img.Unpack(ctx, "overlayfs"); err != nil {
		t.Fatal(err)
	}
	id := "logs-driver-test"
	if old, err := client.LoadContainer(ctx, id); err == nil {
		if task, err := old.Task(ctx, nil); err == nil {
			_, _ = task.Delete(ctx, containerd.WithProcessKill)
		}
		_ = old.Delete(ctx, containerd.WithSnapshotCleanup)
	}
	c, err := client.NewContainer(ctx, id, containerd.WithNewSnapshot(id, img), containerd.WithNewSpec(oci.WithImageConfig(img),
		oci.WithProcessArgs("sh", "-c", "echo out; echo err >&2; sleep 1; for i in 1 2 3; do echo line $i; done; printf tail")))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Delete(context.WithoutCancel(ctx), containerd.WithSnapshotCleanup) }()
	logPath := filepath.Join(dir, "logs", "default_pod_uid", "c", "0.log")
	bin, args := DriverArgs(self, logPath, DefaultMaxSize, DefaultMaxFiles)
	task, err := c.NewTask(ctx, cio.BinaryIO(bin, args))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _, _ = task.Delete(context.WithoutCancel(ctx)) }()
	exit, err := task.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := task.Start(ctx); err != nil {
		t.Fatal(err)
	}
	// Follow while it runs: the follower ends when the driver does.
	var followed bytes.Buffer
	followErr := make(chan error, 1)
	go func() { followErr <- Read(ctx, logPath, &kubeletv1.ContainerLogsRequest{Follow: true}, &followed) }()
	if st := <-exit; st.ExitCode() != 0 {
		t.Fatalf("exit %d", st.ExitCode())
	}
	if _, err := task.Delete(ctx); err != nil { // the shim closes the pipes and stops the driver
		t.Fatal(err)
	}
	select {
	case err := <-followErr:
		if err != nil {
			t.Fatal(err)
		}
	case <-ctx.Done():
		t.Fatal("follow did not end after the container and its driver did")
	}
	want := []string{"out", "err", "line 1", "line 2", "line 3", "tail"}
	got := strings.Split(strings.TrimSuffix(followed.String(), "\n"), "\n")
	if strings.Join(got, "|") != strings.Join(want, "|") && strings.Join(got, "|") != "err|out|line 1|line 2|line 3|tail" {
		t.Errorf("followed %q", followed.String())
	}
	raw, _ := os.ReadFile(logPath)
	if !strings.Contains(string(raw), " stderr F err\n") || !strings.Contains(string(raw), " stdout F tail\n") {
		t.Errorf("log file:\n%s", raw)
	}
}
