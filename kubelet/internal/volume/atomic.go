package volume

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// file is one file of a payload: content and mode bits.
type file struct {
	data []byte
	mode os.FileMode
}

const dataDirName = "..data"

// writeAtomic makes dir hold exactly payload (relative path -> file) the way
// upstream's AtomicWriter does, so a reader never sees half an update:
//
//	dir/..2030_01_02_15_04_05.123456789/<files>  the content of one version
//	dir/..data -> ..2030_...                     swapped with a rename
//	dir/<top> -> ..data/<top>                    one link per top-level name
//
// Nothing is written when the current version already equals payload. gid
// >= 0 (the pod's fsGroup) owns the files, which also become group-readable.
func writeAtomic(dir string, payload map[string]file, gid int) error {
	for p := range payload {
		if err := validatePath(p); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	dataLink := filepath.Join(dir, dataDirName)
	oldTS, _ := os.Readlink(dataLink)
	if oldTS != "" && sameContent(filepath.Join(dir, oldTS), payload, gid) {
		return updateUserLinks(dir, payload)
	}

	tsDir, err := os.MkdirTemp(dir, time.Now().UTC().Format("..2006_01_02_15_04_05."))
	if err != nil {
		return err
	}
	if err := os.Chmod(tsDir, 0o755); err != nil {
		return err
	}
	for p, f := range payload {
		full := filepath.Join(tsDir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return err
		}
		mode := f.mode
		if gid >= 0 {
			mode |= 0o440
		}
		if err := os.WriteFile(full, f.data, mode); err != nil {
			return err
		}
		// WriteFile's mode is masked by the umask.
		if err := os.Chmod(full, mode); err != nil {
			return err
		}
		if gid >= 0 {
			if err := os.Chown(full, -1, gid); err != nil {
				return err
			}
		}
	}
	tmpLink := filepath.Join(dir, "..data_tmp")
	_ = os.Remove(tmpLink)
	if err := os.Symlink(filepath.Base(tsDir), tmpLink); err != nil {
		return err
	}
	if err := os.Rename(tmpLink, dataLink); err != nil {
		return err
	}
	if err := updateUserLinks(dir, payload); err != nil {
		return err
	}
	if oldTS != "" && oldTS != filepath.Base(tsDir) {
		if err := os.RemoveAll(filepath.Join(dir, oldTS)); err != nil {
			return err
		}
	}
	return nil
}

// validatePath rejects absolute paths, ".." elements and names starting
// with "..", as upstream does.
func validatePath(p string) error {
	if p == "" || filepath.IsAbs(p) {
		return fmt.Errorf("invalid path %q: must be relative", p)
	}
	for _, e := range strings.Split(p, "/") {
		if e == "" || e == "." || e == ".." {
			return fmt.Errorf("invalid path %q", p)
		}
	}
	if strings.HasPrefix(p, "..") {
		return fmt.Errorf("invalid path %q: must not start with ..", p)
	}
	return nil
}

// topLevel is the first element of each payload path.
func topLevel(payload map[string]file) map[string]bool {
	out := map[string]bool{}
	for p := range payload {
		first, _, _ := strings.Cut(p, "/")
		out[first] = true
	}
	return out
}

// updateUserLinks points dir/<top> at ..data/<top> for every top-level name
// and removes links for names no longer in the payload.
func updateUserLinks(dir string, payload map[string]file) error {
	want := topLevel(payload)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, "..") || want[name] {
			continue
		}
		if e.Type()&fs.ModeSymlink != 0 {
			if err := os.Remove(filepath.Join(dir, name)); err != nil {
				return err
			}
		}
	}
	names := make([]string, 0, len(want))
	for n := range want {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		link := filepath.Join(dir, n)
		target := filepath.Join(dataDirName, n)
		if cur, err := os.Readlink(link); err == nil && cur == target {
			continue
		}
		if err := os.RemoveAll(link); err != nil {
			return err
		}
		if err := os.Symlink(target, link); err != nil {
			return err
		}
	}
	return nil
}

// sameContent reports whether tsDir holds exactly payload with its modes.
func sameContent(tsDir string, payload map[string]file, gid int) bool {
	n := 0
	err := filepath.WalkDir(tsDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(tsDir, path)
		f, ok := payload[rel]
		if !ok {
			return errors.New("extra file")
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		mode := f.mode
		if gid >= 0 {
			mode |= 0o440
		}
		if fi.Mode().Perm() != mode.Perm() {
			return errors.New("mode differs")
		}
		b, err := os.ReadFile(path)
		if err != nil || !bytes.Equal(b, f.data) {
			return errors.New("content differs")
		}
		n++
		return nil
	})
	return err == nil && n == len(payload)
}
