// Package manifest reads the objects of `-f` arguments: files, directories
// (their .yaml, .yml and .json files), and "-" for stdin, each holding one or
// more YAML documents or JSON objects, any of which may be a List.
package manifest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"google.golang.org/protobuf/proto"
	"k8s.io/apimachinery/pkg/util/yaml"

	"flotilla.io/proto/codec"
)

// Object is one decoded object and where it came from.
type Object struct {
	// Source names the file ("-" for stdin) for messages such as
	// `error when creating "web.yaml": ...`.
	Source string
	Object proto.Message
}

// Read decodes every object named by paths, in order. Directories are read in
// name order, recursively when recursive is set. Decoding is strict: an
// unknown field or kind is an error naming the file, the document and the
// field.
func Read(paths []string, recursive bool, stdin io.Reader) ([]Object, error) {
	if len(paths) == 0 {
		return nil, errors.New("must specify -f FILENAME")
	}
	var out []Object
	for _, p := range paths {
		if p == "-" {
			if stdin == nil {
				return nil, errors.New("no standard input to read from")
			}
			objs, err := Decode("STDIN", stdin)
			if err != nil {
				return nil, err
			}
			out = append(out, objs...)
			continue
		}
		files, err := expand(p, recursive)
		if err != nil {
			return nil, err
		}
		for _, f := range files {
			fh, err := os.Open(f)
			if err != nil {
				return nil, fmt.Errorf("the path %q cannot be read: %w", f, err)
			}
			objs, err := Decode(f, fh)
			fh.Close()
			if err != nil {
				return nil, err
			}
			out = append(out, objs...)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("no objects passed to apply")
	}
	return out, nil
}

var extensions = []string{".yaml", ".yml", ".json"}

// expand turns a path into the files it names.
func expand(p string, recursive bool) ([]string, error) {
	st, err := os.Stat(p)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("the path %q does not exist", p)
		}
		return nil, err
	}
	if !st.IsDir() {
		return []string{p}, nil
	}
	var files []string
	err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != p && !recursive {
				return filepath.SkipDir
			}
			return nil
		}
		if slices.Contains(extensions, strings.ToLower(filepath.Ext(path))) {
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return files, nil // WalkDir visits in lexical order
}

// Decode splits a stream of YAML documents or JSON objects and decodes each.
// Empty documents are skipped.
func Decode(source string, r io.Reader) ([]Object, error) {
	dec := yaml.NewYAMLOrJSONDecoder(r, 4096)
	var out []Object
	for doc := 1; ; doc++ {
		var raw json.RawMessage
		err := dec.Decode(&raw)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("error parsing %s (document %d): %w", source, doc, err)
		}
		raw = bytes.TrimSpace(raw)
		if len(raw) == 0 || string(raw) == "null" {
			continue
		}
		objs, err := codec.UnmarshalAll(raw)
		if err != nil {
			return nil, fmt.Errorf("error parsing %s%s: %w", source, describeDoc(raw, doc), err)
		}
		for _, o := range objs {
			out = append(out, Object{Source: source, Object: o})
		}
	}
}

// describeDoc names a failing document: "(document 2, Pod web)".
func describeDoc(raw []byte, doc int) string {
	tm, err := codec.PeekTypeMeta(raw)
	if err != nil || tm.Kind == "" {
		return fmt.Sprintf(" (document %d)", doc)
	}
	var m struct {
		Metadata struct {
			Name string `json:"name"`
		} `json:"metadata"`
	}
	_ = json.Unmarshal(raw, &m)
	if m.Metadata.Name == "" {
		return fmt.Sprintf(" (document %d, %s)", doc, tm.Kind)
	}
	return fmt.Sprintf(" (document %d, %s %s)", doc, tm.Kind, m.Metadata.Name)
}
