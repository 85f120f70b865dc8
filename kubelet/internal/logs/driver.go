// Package logs captures container output into CRI-format log files and reads
// them back for `flotctl logs`.
//
// The writer is containerd's binary log driver protocol (cio.BinaryIO): the
// shim starts `kubelet log-driver ...` with the container's stdout on fd 3,
// stderr on fd 4 and a "ready" pipe on fd 5, which the driver closes once it
// is set up. The driver is the shim's child, not the kubelet's, so it keeps
// writing while the kubelet restarts. It writes one line per output line:
//
//	<RFC3339Nano> <stdout|stderr> <F|P> <text>
//
// (P marks a partial line, split because it was longer than MaxLineSize),
// rotating the file by size: PATH, PATH.1 (newest rotated) ... PATH.N.
// While it runs, the driver holds an exclusive flock on the current file; a
// follower that can take the lock knows the stream has ended.
package logs

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Defaults as upstream's containerLogMaxSize and containerLogMaxFiles.
const (
	DefaultMaxSize  = 10 << 20
	DefaultMaxFiles = 5
	// MaxLineSize is the longest text in one log line; longer output lines
	// are split into partial (P) lines, as containerd's CRI does.
	MaxLineSize = 16 << 10
)

// DriverCommand is the kubelet subcommand that runs the driver.
const DriverCommand = "log-driver"

// drainTimeout bounds how long the driver keeps reading after SIGTERM (the
// shim sends it after closing its pipe ends and waits 12 s before killing).
const drainTimeout = 10 * time.Second

// DriverConfig is what the driver needs.
type DriverConfig struct {
	Path     string
	MaxSize  int64
	MaxFiles int
}

// DriverArgs returns the binary and arguments for cio.BinaryIO. The shim
// turns the URI's query into argv in map order, so everything travels as a
// single key: argv becomes `kubeletBinary log-driver <query>`, where query
// is "path=...&max-size=...&max-files=...".
func DriverArgs(kubeletBinary, logPath string, maxSize int64, maxFiles int) (binary string, args map[string]string) {
	q := url.Values{}
	q.Set("path", logPath)
	q.Set("max-size", strconv.FormatInt(maxSize, 10))
	q.Set("max-files", strconv.Itoa(maxFiles))
	return kubeletBinary, map[string]string{DriverCommand: q.Encode()}
}

// ParseDriverArgs reads the driver's arguments, with or without the leading
// "log-driver": either the single query argument made by DriverArgs or flags
// (--path P --max-size N --max-files M), for running it by hand.
func ParseDriverArgs(args []string) (DriverConfig, error) {
	if len(args) > 0 && args[0] == DriverCommand {
		args = args[1:]
	}
	cfg := DriverConfig{MaxSize: DefaultMaxSize, MaxFiles: DefaultMaxFiles}
	if len(args) == 1 && !strings.HasPrefix(args[0], "-") {
		q, err := url.ParseQuery(args[0])
		if err != nil {
			return cfg, fmt.Errorf("log-driver arguments: %w", err)
		}
		cfg.Path = q.Get("path")
		if v := q.Get("max-size"); v != "" {
			if cfg.MaxSize, err = strconv.ParseInt(v, 10, 64); err != nil {
				return cfg, fmt.Errorf("max-size: %w", err)
			}
		}
		if v := q.Get("max-files"); v != "" {
			if cfg.MaxFiles, err = strconv.Atoi(v); err != nil {
				return cfg, fmt.Errorf("max-files: %w", err)
			}
		}
	} else {
		fs := flag.NewFlagSet(DriverCommand, flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		fs.StringVar(&cfg.Path, "path", "", "log file")
		fs.Int64Var(&cfg.MaxSize, "max-size", DefaultMaxSize, "rotate the file when it would grow past this many bytes")
		fs.IntVar(&cfg.MaxFiles, "max-files", DefaultMaxFiles, "files kept, the current one included")
		if err := fs.Parse(args); err != nil {
			return cfg, fmt.Errorf("log-driver arguments: %w", err)
		}
	}
	if cfg.Path == "" {
		return cfg, errors.New("log-driver: no path")
	}
	if cfg.MaxSize <= 0 {
		cfg.MaxSize = DefaultMaxSize
	}
	if cfg.MaxFiles < 1 {
		cfg.MaxFiles = 1
	}
	return cfg, nil
}

// RunDriver is `kubelet log-driver`: it serves the shim's fds 3, 4 and 5
// until both output pipes end, or SIGTERM and a drain timeout.
func RunDriver(args []string) error {
	cfg, err := ParseDriverArgs(args)
	if err != nil {
		return err
	}
	stdout := os.NewFile(3, "CONTAINER_STDOUT")
	stderr := os.NewFile(4, "CONTAINER_STDERR")
	wait := os.NewFile(5, "CONTAINER_WAIT")
	if stdout == nil || stderr == nil || wait == nil {
		return errors.New("log-driver: fds 3, 4 and 5 must be open (run by the containerd shim)")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sig)
	go func() {
		select {
		case <-sig:
			// The shim closed its ends: what is left in the pipes is still
			// read; give up only if something else holds them open.
			t := time.AfterFunc(drainTimeout, cancel)
			defer t.Stop()
			<-ctx.Done()
		case <-ctx.Done():
		}
	}()
	ready := func() error {
		_, err := wait.Write([]byte{0}) // binary-v2 wants a byte; binary takes EOF
		if cerr := wait.Close(); err == nil {
			err = cerr
		}
		return err
	}
	return Drive(ctx, cfg, stdout, stderr, ready)
}

// Drive copies stdout and stderr into the log file until both end or ctx
// is done; ready is called once the file is open.
func Drive(ctx context.Context, cfg DriverConfig, stdout, stderr io.Reader, ready func() error) error {
	w, err := openWriter(cfg)
	if err != nil {
		if ready != nil {
			_ = ready()
		}
		return err
	}
	defer w.close()
	if ready != nil {
		if err := ready(); err != nil {
			return fmt.Errorf("signal ready: %w", err)
		}
	}
	errs := make(chan error, 2)
	for _, s := range []struct {
		r    io.Reader
		name string
	}{{stdout, "stdout"}, {stderr, "stderr"}} {
		go func() { errs <- copyLines(w, s.r, s.name) }()
	}
	var first error
	for range 2 {
		select {
		case err := <-errs:
			if err != nil && first == nil {
				first = err
			}
		case <-ctx.Done():
			return nil
		}
	}
	return first
}

// copyLines splits r into lines of at most MaxLineSize and writes them.
func copyLines(w *writer, r io.Reader, stream string) error {
	if r == nil {
		return nil
	}
	br := bufio.NewReaderSize(r, MaxLineSize)
	for {
		line, err := br.ReadSlice('\n')
		if len(line) > 0 {
			tag := byte('F')
			if line[len(line)-1] == '\n' {
				line = line[:len(line)-1]
			} else if errors.Is(err, bufio.ErrBufferFull) {
				tag = 'P'
			}
			if werr := w.writeLine(time.Now(), stream, tag, line); werr != nil {
				return werr
			}
		}
		switch {
		case err == nil, errors.Is(err, bufio.ErrBufferFull):
		case errors.Is(err, io.EOF), errors.Is(err, os.ErrClosed):
			return nil
		default:
			return fmt.Errorf("read %s: %w", stream, err)
		}
	}
}

// writer appends lines to the current file and rotates it by size.
type writer struct {
	cfg  DriverConfig
	mu   sync.Mutex
	f    *os.File
	size int64
	buf  []byte
}

func openWriter(cfg DriverConfig) (*writer, error) {
	if err := os.MkdirAll(filepath.Dir(cfg.Path), 0o755); err != nil {
		return nil, fmt.Errorf("log dir: %w", err)
	}
	w := &writer{cfg: cfg}
	if err := w.open(); err != nil {
		return nil, err
	}
	return w, nil
}

// open makes PATH the locked current file. A new file is created and
// locked under a temporary name and then renamed into place, so a follower
// never finds PATH without its writer's lock.
func (w *writer) open() error {
	f, err := os.OpenFile(w.cfg.Path, os.O_WRONLY|os.O_APPEND, 0)
	if errors.Is(err, os.ErrNotExist) {
		return w.create()
	}
	if err != nil {
		return fmt.Errorf("open log: %w", err)
	}
	if err := lock(f); err != nil {
		f.Close()
		return err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return err
	}
	w.f, w.size = f, st.Size()
	return nil
}

func (w *writer) create() error {
	tmp := w.cfg.Path + ".new"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|os.O_APPEND, 0o640)
	if err != nil {
		return fmt.Errorf("create log: %w", err)
	}
	if err := lock(f); err != nil {
		f.Close()
		return err
	}
	if err := os.Rename(tmp, w.cfg.Path); err != nil {
		f.Close()
		return fmt.Errorf("create log: %w", err)
	}
	w.f, w.size = f, 0
	return nil
}

// lock takes the writer's exclusive lock, waiting out followers that hold
// a shared one for a moment; a lock held for long means another driver.
func lock(f *os.File) error {
	for range 100 {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if !errors.Is(err, unix.EWOULDBLOCK) {
			if err != nil {
				return fmt.Errorf("lock %s: %w", f.Name(), err)
			}
			return nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	return fmt.Errorf("lock %s: another log driver writes it", f.Name())
}

func (w *writer) writeLine(t time.Time, stream string, tag byte, text []byte) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = t.UTC().AppendFormat(w.buf[:0], time.RFC3339Nano)
	w.buf = append(w.buf, ' ')
	w.buf = append(w.buf, stream...)
	w.buf = append(w.buf, ' ', tag, ' ')
	w.buf = append(w.buf, text...)
	w.buf = append(w.buf, '\n')
	if w.size > 0 && w.size+int64(len(w.buf)) > w.cfg.MaxSize {
		if err := w.rotate(); err != nil {
			return err
		}
	}
	n, err := w.f.Write(w.buf)
	w.size += int64(n)
	if err != nil {
		return fmt.Errorf("write log: %w", err)
	}
	return nil
}

// rotate shifts PATH.i to PATH.i+1, dropping the oldest, and starts PATH
// afresh. The new file is created and locked before the old one is
// unlocked, so a follower never sees the stream without a writer.
func (w *writer) rotate() error {
	p := w.cfg.Path
	if w.cfg.MaxFiles <= 1 {
		if err := w.f.Truncate(0); err != nil {
			return fmt.Errorf("truncate log: %w", err)
		}
		w.size = 0
		return nil
	}
	_ = os.Remove(rotatedName(p, w.cfg.MaxFiles-1))
	for i := w.cfg.MaxFiles - 2; i >= 1; i-- {
		if err := os.Rename(rotatedName(p, i), rotatedName(p, i+1)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("rotate log: %w", err)
		}
	}
	if err := os.Rename(p, rotatedName(p, 1)); err != nil {
		return fmt.Errorf("rotate log: %w", err)
	}
	old := w.f
	if err := w.create(); err != nil {
		w.f = old
		return err
	}
	return old.Close()
}

func (w *writer) close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	_ = w.f.Close()
}

func rotatedName(path string, i int) string { return path + "." + strconv.Itoa(i) }
