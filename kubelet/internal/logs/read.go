package logs

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
	"golang.org/x/sys/unix"

	kubeletv1 "flotilla.io/proto/flotilla/kubelet/v1"
)

// pollInterval is how often a follower looks again when no file event came
// (events can be missed, e.g. on some filesystems).
const pollInterval = time.Second

// errLimit ends reading once limit_bytes have been written.
var errLimit = errors.New("limit reached")

// entry is one parsed log line.
type entry struct {
	ts     time.Time
	stream []byte
	full   bool
	text   []byte
}

// parseLine parses `<time> <stream> <F|P> <text>`; a line without a tag
// (older formats) counts as full.
func parseLine(line []byte) (entry, error) {
	var e entry
	line = bytes.TrimSuffix(line, []byte{'\n'})
	ts, rest, ok := bytes.Cut(line, []byte{' '})
	if !ok {
		return e, fmt.Errorf("log line without stream: %q", line)
	}
	t, err := time.Parse(time.RFC3339Nano, string(ts))
	if err != nil {
		return e, fmt.Errorf("log line time: %w", err)
	}
	e.ts = t
	stream, rest, ok := bytes.Cut(rest, []byte{' '})
	e.stream = stream
	if !ok {
		e.full = true
		return e, nil
	}
	switch {
	case len(rest) >= 2 && (rest[0] == 'F' || rest[0] == 'P') && rest[1] == ' ':
		e.full, e.text = rest[0] == 'F', rest[2:]
	case len(rest) == 1 && (rest[0] == 'F' || rest[0] == 'P'):
		e.full = rest[0] == 'F'
	default:
		e.full, e.text = true, rest
	}
	return e, nil
}

// output formats entries as `kubectl logs` prints them.
type output struct {
	w          io.Writer
	timestamps bool
	limit      int64 // < 0: none
	written    int64
	midLine    bool // the last entry was partial: no timestamp before the next
	buf        []byte
}

func (o *output) write(e entry) error {
	o.buf = o.buf[:0]
	if o.timestamps && !o.midLine && !e.ts.IsZero() {
		o.buf = e.ts.UTC().AppendFormat(o.buf, time.RFC3339Nano)
		o.buf = append(o.buf, ' ')
	}
	o.buf = append(o.buf, e.text...)
	if e.full {
		o.buf = append(o.buf, '\n')
	}
	o.midLine = !e.full
	b := o.buf
	if o.limit >= 0 && o.written+int64(len(b)) > o.limit {
		b = b[:o.limit-o.written]
	}
	n, err := o.w.Write(b)
	o.written += int64(n)
	if err != nil {
		return err
	}
	if o.limit >= 0 && o.written >= o.limit {
		return errLimit
	}
	return nil
}

// Read writes the log at path (and its rotated predecessors) to w as
// `kubectl logs` does: since_seconds/since_time drop older lines,
// tail_lines keeps only the last lines, timestamps prefixes each line with
// its time, limit_bytes stops after that many bytes, and follow keeps
// writing new lines until the writer of the log (the log driver) is gone or
// ctx ends. previous is the caller's business: it passes that attempt's
// path.
func Read(ctx context.Context, path string, req *kubeletv1.ContainerLogsRequest, w io.Writer) error {
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("log file: %w", err)
	}
	out := &output{w: w, timestamps: req.GetTimestamps(), limit: -1}
	if req.LimitBytes != nil {
		if *req.LimitBytes <= 0 {
			return nil
		}
		out.limit = *req.LimitBytes
	}
	var since time.Time
	if req.SinceSeconds != nil {
		since = time.Now().Add(-time.Duration(*req.SinceSeconds) * time.Second)
	} else if req.GetSinceTime() != nil {
		since = req.GetSinceTime().AsTime()
	}
	tail := int64(-1)
	if req.TailLines != nil {
		tail = *req.TailLines
	}
	r := &reader{path: path, out: out, since: since}
	err := r.run(ctx, tail, req.GetFollow())
	if errors.Is(err, errLimit) {
		return nil
	}
	return err
}

type reader struct {
	path  string
	out   *output
	since time.Time
	// f is the current file, read up to EOF; partial holds a line without
	// its newline yet (the driver is mid-write).
	f       *os.File
	partial []byte
}

func (r *reader) emit(line []byte) error {
	e, err := parseLine(line)
	if err != nil {
		// Not CRI format (a file written without the driver): pass it on
		// as it is rather than hide it.
		e = entry{full: true, text: bytes.TrimSuffix(line, []byte{'\n'})}
	}
	if !r.since.IsZero() && !e.ts.IsZero() && e.ts.Before(r.since) {
		return nil
	}
	return r.out.write(e)
}

func (r *reader) run(ctx context.Context, tail int64, follow bool) error {
	defer func() {
		if r.f != nil {
			r.f.Close()
		}
	}()
	// Rotated files first, oldest first, then the current file; the current
	// file is opened before the rotated ones are listed so no rotation in
	// between loses lines (at worst a line shows twice).
	f, err := os.Open(r.path)
	if err != nil {
		return fmt.Errorf("log file: %w", err)
	}
	r.f = f
	var files []string
	for i := 1; ; i++ {
		p := rotatedName(r.path, i)
		if _, err := os.Stat(p); err != nil {
			break
		}
		files = append([]string{p}, files...)
	}
	if tail == 0 {
		if _, err := r.f.Seek(0, io.SeekEnd); err != nil {
			return err
		}
	} else if tail > 0 {
		if err := r.tail(files, tail); err != nil {
			return err
		}
	} else {
		for _, p := range files {
			if err := r.copyFile(p); err != nil {
				return err
			}
		}
		if err := r.drain(); err != nil {
			return err
		}
	}
	if !follow {
		return nil
	}
	return r.follow(ctx)
}

// copyFile writes a whole rotated file.
func (r *reader) copyFile(p string) error {
	f, err := os.Open(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil // rotated away meanwhile
	}
	if err != nil {
		return err
	}
	defer f.Close()
	br := bufio.NewReader(f)
	for {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 && line[len(line)-1] == '\n' {
			if err := r.emit(line); err != nil {
				return err
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// tail keeps the last n lines of the rotated files and the current file
// (consumed up to its end), then writes them.
func (r *reader) tail(files []string, n int64) error {
	ring := make([][]byte, 0, min(n, 4096))
	var next int64
	keep := func(line []byte) {
		if int64(len(ring)) < n {
			ring = append(ring, line)
		} else {
			ring[next%n] = line
		}
		next++
	}
	collect := func(rd io.Reader) ([]byte, error) {
		br := bufio.NewReader(rd)
		for {
			line, err := br.ReadBytes('\n')
			if errors.Is(err, io.EOF) {
				return line, nil
			}
			if err != nil {
				return nil, err
			}
			keep(line)
		}
	}
	for _, p := range files {
		f, err := os.Open(p)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		_, err = collect(f)
		f.Close()
		if err != nil {
			return err
		}
	}
	rest, err := collect(r.f)
	if err != nil {
		return err
	}
	r.partial = append(r.partial[:0], rest...)
	start := int64(0)
	if next > n {
		start = next % n
	}
	for i := range int64(len(ring)) {
		if err := r.emit(ring[(start+i)%int64(len(ring))]); err != nil {
			return err
		}
	}
	return nil
}

// drain writes the complete lines of the current file from its offset.
func (r *reader) drain() error {
	buf := make([]byte, 32<<10)
	for {
		n, err := r.f.Read(buf)
		if n > 0 {
			data := append(r.partial, buf[:n]...)
			for {
				i := bytes.IndexByte(data, '\n')
				if i < 0 {
					break
				}
				if err := r.emit(data[:i+1]); err != nil {
					return err
				}
				data = data[i+1:]
			}
			r.partial = append(r.partial[:0:0], data...)
		}
		if errors.Is(err, io.EOF) || (n == 0 && err == nil) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// follow waits for more lines until the driver is gone. A rotation is
// noticed as PATH naming another file: the old one is drained and the new
// one read from its start.
func (r *reader) follow(ctx context.Context) error {
	watcher, err := fsnotify.NewWatcher()
	var events chan fsnotify.Event
	if err == nil {
		defer watcher.Close()
		if watcher.Add(filepath.Dir(r.path)) == nil {
			events = watcher.Events
		}
	}
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	var missingSince time.Time
	for {
		if err := r.drain(); err != nil {
			return err
		}
		rotated, err := r.rotated()
		if err != nil {
			return err
		}
		if rotated {
			continue
		}
		switch active, exists := writerActive(r.path); {
		case !exists:
			// Between a rotation's rename and create, or deleted with its
			// pod: give up when it stays away.
			if missingSince.IsZero() {
				missingSince = time.Now()
			} else if time.Since(missingSince) > 3*pollInterval {
				return r.drain()
			}
		case !active:
			// The driver is gone; read what it wrote last, then stop.
			return r.drain()
		default:
			missingSince = time.Time{}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-events:
		case <-tick.C:
		}
	}
}

// rotated switches to a new current file after a rotation. The files
// rotated after the old one (PATH.1 ... newer than it) are read first, so a
// follower that fell behind several rotations loses nothing still on disk.
func (r *reader) rotated() (bool, error) {
	cur, err := os.Open(r.path)
	if err != nil {
		return false, nil // between rename and create: look again later
	}
	curSt, err1 := cur.Stat()
	mine, err2 := r.f.Stat()
	if err := errors.Join(err1, err2); err != nil {
		cur.Close()
		return false, err
	}
	if os.SameFile(curSt, mine) {
		cur.Close()
		return false, nil
	}
	if err := r.drain(); err != nil {
		cur.Close()
		return false, err
	}
	// Newest first: PATH.1, PATH.2, ... up to the old file.
	var between []*os.File
	for i := 1; ; i++ {
		f, err := os.Open(rotatedName(r.path, i))
		if err != nil {
			break
		}
		st, err := f.Stat()
		if err != nil || os.SameFile(st, mine) {
			f.Close()
			break
		}
		if os.SameFile(st, curSt) { // rotated again since cur was opened
			f.Close()
			continue
		}
		between = append(between, f)
	}
	r.f.Close()
	for i := len(between) - 1; i >= 0; i-- {
		r.f, r.partial = between[i], r.partial[:0]
		err := r.drain()
		r.f.Close()
		if err != nil {
			for _, f := range between[:i] {
				f.Close()
			}
			r.f = cur
			return false, err
		}
	}
	r.f, r.partial = cur, r.partial[:0]
	return true, nil
}

// writerActive reports whether a log driver holds the file's lock, and
// whether the file exists at all.
func writerActive(path string) (active, exists bool) {
	f, err := os.Open(path)
	if err != nil {
		return false, false
	}
	defer f.Close()
	err = unix.Flock(int(f.Fd()), unix.LOCK_SH|unix.LOCK_NB)
	if err == nil {
		_ = unix.Flock(int(f.Fd()), unix.LOCK_UN)
		// A file rotated away after the open is unlocked by its writer
		// once the new one is in place: that is no end of the stream.
		mine, err1 := f.Stat()
		cur, err2 := os.Stat(path)
		if err1 != nil || err2 != nil || !os.SameFile(mine, cur) {
			return true, true
		}
		return false, true
	}
	return errors.Is(err, unix.EWOULDBLOCK), true
}
