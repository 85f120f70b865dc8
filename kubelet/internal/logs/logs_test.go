package logs

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	kubeletv1 "flotilla.io/proto/flotilla/kubelet/v1"
)

const waitFor = 30 * time.Second

// driver runs Drive in-process on real pipes, as the shim would.
type driver struct {
	stdout, stderr *os.File
	done           chan error
	ready          chan struct{}
}

func startDriver(t *testing.T, cfg DriverConfig) *driver {
	t.Helper()
	outR, outW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	readyR, readyW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	d := &driver{stdout: outW, stderr: errW, done: make(chan error, 1), ready: make(chan struct{})}
	go func() {
		ready := func() error { _, err := readyW.Write([]byte{0}); readyW.Close(); return err }
		d.done <- Drive(context.Background(), cfg, outR, errR, ready)
		outR.Close()
		errR.Close()
	}()
	b := make([]byte, 1)
	if n, _ := readyR.Read(b); n != 1 {
		t.Fatal("driver did not signal ready")
	}
	readyR.Close()
	t.Cleanup(func() { d.stop(t) })
	return d
}

func (d *driver) stop(t *testing.T) {
	t.Helper()
	d.stdout.Close()
	d.stderr.Close()
	select {
	case err, ok := <-d.done:
		if ok && err != nil {
			t.Errorf("driver: %v", err)
		}
		if ok {
			close(d.done)
		}
	case <-time.After(waitFor):
		t.Error("driver did not end after its pipes closed")
	}
}

func readAll(t *testing.T, path string, req *kubeletv1.ContainerLogsRequest) string {
	t.Helper()
	var b bytes.Buffer
	if err := Read(context.Background(), path, req, &b); err != nil {
		t.Fatalf("Read: %v", err)
	}
	return b.String()
}

func ptr[T any](v T) *T { return &v }

var lineRE = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z (stdout|stderr) [FP] `)

func TestDriverWritesCRILines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ns_pod_uid", "c", "0.log")
	d := startDriver(t, DriverConfig{Path: path, MaxSize: DefaultMaxSize, MaxFiles: 5})
	fmt.Fprint(d.stdout, "hello\nworld\n")
	fmt.Fprint(d.stderr, "oops\n")
	long := strings.Repeat("x", MaxLineSize+10)
	fmt.Fprint(d.stdout, long+"\n")
	fmt.Fprint(d.stdout, "no newline at end")
	d.stop(t)

	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(raw), "\n"), "\n")
	if len(lines) != 6 {
		t.Fatalf("want 6 lines, got %d:\n%s", len(lines), raw)
	}
	var partial, stderr int
	for _, l := range lines {
		if !lineRE.MatchString(l) {
			t.Errorf("not CRI format: %.80q", l)
		}
		if strings.Contains(l, " P ") {
			partial++
		}
		if strings.Contains(l, " stderr F oops") {
			stderr++
		}
	}
	if partial != 1 || stderr != 1 {
		t.Errorf("partial lines %d (want 1), stderr lines %d (want 1)\n%s", partial, stderr, raw)
	}
	got := readAll(t, path, &kubeletv1.ContainerLogsRequest{})
	want := "hello\nworld\n" + long + "\nno newline at end\n"
	// stdout and stderr interleave freely; check stdout's order and oops.
	if strings.Replace(got, "oops\n", "", 1) != want || !strings.Contains(got, "oops\n") {
		t.Errorf("read back:\n%.200q\nwant (plus oops):\n%.200q", got, want)
	}
}

func TestParseDriverArgs(t *testing.T) {
	bin, args := DriverArgs("/usr/bin/kubelet", "/var/log/a b/0.log", 1234, 3)
	if bin != "/usr/bin/kubelet" || len(args) != 1 {
		t.Fatalf("DriverArgs = %s %v", bin, args)
	}
	// The shim's argv: key then value.
	argv := []string{DriverCommand, args[DriverCommand]}
	cfg, err := ParseDriverArgs(argv)
	if err != nil {
		t.Fatal(err)
	}
	if cfg != (DriverConfig{Path: "/var/log/a b/0.log", MaxSize: 1234, MaxFiles: 3}) {
		t.Errorf("from query: %+v", cfg)
	}
	cfg, err = ParseDriverArgs([]string{"--path", "/x.log", "--max-size=99", "--max-files", "2"})
	if err != nil || cfg != (DriverConfig{Path: "/x.log", MaxSize: 99, MaxFiles: 2}) {
		t.Errorf("from flags: %+v %v", cfg, err)
	}
	if _, err := ParseDriverArgs(nil); err == nil {
		t.Error("no path accepted")
	}
}

func TestRotation(t *testing.T) {
	path := filepath.Join(t.TempDir(), "0.log")
	d := startDriver(t, DriverConfig{Path: path, MaxSize: 400, MaxFiles: 3})
	var want strings.Builder
	for i := range 100 {
		fmt.Fprintf(d.stdout, "line %03d\n", i)
		fmt.Fprintf(&want, "line %03d\n", i)
	}
	d.stop(t)
	for _, p := range []string{path, path + ".1", path + ".2"} {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if st.Size() > 400 {
			t.Errorf("%s is %d bytes, over the 400 limit", p, st.Size())
		}
	}
	if _, err := os.Stat(path + ".3"); err == nil {
		t.Error("more files kept than max-files")
	}
	got := readAll(t, path, &kubeletv1.ContainerLogsRequest{})
	// The oldest lines are gone; what is left is the newest, in order.
	if !strings.HasSuffix(want.String(), got) || !strings.HasSuffix(got, "line 099\n") || strings.Count(got, "\n") < 15 {
		t.Errorf("after rotation read %q", got)
	}
	tail := readAll(t, path, &kubeletv1.ContainerLogsRequest{TailLines: ptr[int64](12)})
	var tw strings.Builder
	for i := 88; i < 100; i++ {
		fmt.Fprintf(&tw, "line %03d\n", i)
	}
	if tail != tw.String() {
		t.Errorf("tail 12 across rotated files:\n%s", tail)
	}
}

// writeLog writes a finished log file (no driver holds it).
func writeLog(t *testing.T, lines ...string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "1.log")
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestReadOptions(t *testing.T) {
	now := time.Now().UTC()
	ts := func(ago time.Duration) string { return now.Add(-ago).Format(time.RFC3339Nano) }
	path := writeLog(t,
		ts(time.Hour)+" stdout F old",
		ts(3*time.Minute)+" stderr F three minutes",
		ts(time.Minute)+" stdout P part one ",
		ts(time.Minute)+" stdout F part two",
		"garbage line",
		ts(time.Second)+" stdout F newest",
	)
	cases := []struct {
		name string
		req  *kubeletv1.ContainerLogsRequest
		want string
	}{
		{"all", &kubeletv1.ContainerLogsRequest{}, "old\nthree minutes\npart one part two\ngarbage line\nnewest\n"},
		{"tail 2", &kubeletv1.ContainerLogsRequest{TailLines: ptr[int64](2)}, "garbage line\nnewest\n"}, // a line not in CRI format passes as it is
		{"tail 0", &kubeletv1.ContainerLogsRequest{TailLines: ptr[int64](0)}, ""},
		{"tail 100", &kubeletv1.ContainerLogsRequest{TailLines: ptr[int64](100)}, "old\nthree minutes\npart one part two\ngarbage line\nnewest\n"},
		{"since 2m", &kubeletv1.ContainerLogsRequest{SinceSeconds: ptr[int64](120)}, "part one part two\ngarbage line\nnewest\n"},
		{"since time", &kubeletv1.ContainerLogsRequest{SinceTime: timestamppb.New(now.Add(-5 * time.Minute))}, "three minutes\npart one part two\ngarbage line\nnewest\n"},
		{"limit", &kubeletv1.ContainerLogsRequest{LimitBytes: ptr[int64](6)}, "old\nth"},
		{"timestamps", &kubeletv1.ContainerLogsRequest{Timestamps: true, TailLines: ptr[int64](1)}, ts(time.Second) + " newest\n"},
		{"timestamps partial", &kubeletv1.ContainerLogsRequest{Timestamps: true, SinceSeconds: ptr[int64](90)}, ts(time.Minute) + " part one part two\ngarbage line\n" + ts(time.Second) + " newest\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := readAll(t, path, c.req); got != c.want {
				t.Errorf("got %q, want %q", got, c.want)
			}
		})
	}
	var b bytes.Buffer
	if err := Read(context.Background(), path+".missing", &kubeletv1.ContainerLogsRequest{}, &b); err == nil {
		t.Error("missing file: no error")
	}
}

// syncBuffer is written by the follower and read by the test.
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

func waitContains(t *testing.T, b *syncBuffer, want string) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for !strings.Contains(b.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("follower output %q never contained %q", b.String(), want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestFollowAcrossRotationUntilDriverEnds(t *testing.T) {
	path := filepath.Join(t.TempDir(), "0.log")
	d := startDriver(t, DriverConfig{Path: path, MaxSize: 300, MaxFiles: 4})
	fmt.Fprintln(d.stdout, "before follow")
	out := &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- Read(context.Background(), path, &kubeletv1.ContainerLogsRequest{Follow: true, TailLines: ptr[int64](10)}, out)
	}()
	waitContains(t, out, "before follow\n")
	var want strings.Builder
	want.WriteString("before follow\n")
	for i := range 30 { // ~40 bytes a line: several rotations
		fmt.Fprintf(d.stdout, "followed %02d\n", i)
		fmt.Fprintf(&want, "followed %02d\n", i)
		if i%10 == 9 {
			waitContains(t, out, fmt.Sprintf("followed %02d\n", i))
		}
	}
	select {
	case err := <-done:
		t.Fatalf("follow ended while the driver runs: %v", err)
	default:
	}
	fmt.Fprintln(d.stderr, "last words")
	want.WriteString("last words\n")
	d.stop(t)
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(waitFor):
		t.Fatal("follow did not end after the driver did")
	}
	if got := out.String(); got != want.String() {
		t.Errorf("followed:\n%s\nwant:\n%s", got, want.String())
	}
}

func TestFollowStopsWithContext(t *testing.T) {
	path := filepath.Join(t.TempDir(), "0.log")
	d := startDriver(t, DriverConfig{Path: path, MaxSize: DefaultMaxSize, MaxFiles: 2})
	fmt.Fprintln(d.stdout, "one")
	ctx, cancel := context.WithCancel(context.Background())
	out := &syncBuffer{}
	done := make(chan error, 1)
	go func() { done <- Read(ctx, path, &kubeletv1.ContainerLogsRequest{Follow: true}, out) }()
	waitContains(t, out, "one\n")
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(waitFor):
		t.Fatal("follow ignored its context")
	}
}

func TestFollowFinishedLogReturns(t *testing.T) {
	path := writeLog(t, time.Now().UTC().Format(time.RFC3339Nano)+" stdout F done")
	var b bytes.Buffer
	if err := Read(context.Background(), path, &kubeletv1.ContainerLogsRequest{Follow: true}, &b); err != nil || b.String() != "done\n" {
		t.Fatalf("%q %v", b.String(), err)
	}
}
