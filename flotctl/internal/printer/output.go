// Package printer renders API objects for flotctl: kubectl-like tables (one
// data-driven column list per kind), YAML, JSON, names, JSONPath templates and
// describe pages. Everything here is a pure function of its input.
package printer

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"reflect"
	"strings"

	"google.golang.org/protobuf/proto"
	"k8s.io/client-go/util/jsonpath"

	"flotilla.io/proto/codec"
)

// Format is an -o value.
type Format struct {
	// Kind is "" (table), "wide", "yaml", "json", "name" or "jsonpath".
	Kind string
	// Template is the JSONPath template of -o jsonpath=...
	Template string
}

// ParseFormat reads an -o flag value.
func ParseFormat(s string) (Format, error) {
	switch s {
	case "", "wide", "yaml", "json", "name":
		return Format{Kind: s}, nil
	}
	for _, p := range []string{"jsonpath=", "jsonpath-as-json="} {
		if t, ok := strings.CutPrefix(s, p); ok {
			if t == "" {
				return Format{}, fmt.Errorf("template format specified but no template given")
			}
			return Format{Kind: "jsonpath", Template: t}, nil
		}
	}
	return Format{}, fmt.Errorf("unable to match a printer suitable for the output format %q, allowed formats are: json,jsonpath,name,wide,yaml", s)
}

// IsTable reports whether the format prints a table.
func (f Format) IsTable() bool { return f.Kind == "" || f.Kind == "wide" }

// WriteObject prints one object in a non-table format.
func WriteObject(w io.Writer, f Format, obj proto.Message) error {
	switch f.Kind {
	case "yaml":
		b, err := codec.MarshalYAML(obj)
		if err != nil {
			return err
		}
		_, err = w.Write(b)
		return err
	case "json":
		b, err := codec.MarshalIndentJSON(obj)
		if err != nil {
			return err
		}
		_, err = w.Write(b)
		return err
	case "name":
		_, err := fmt.Fprintln(w, Name(obj))
		return err
	case "jsonpath":
		return writeJSONPath(w, f.Template, obj)
	}
	return fmt.Errorf("format %q prints tables, not single objects", f.Kind)
}

// WriteList prints several objects: a List for yaml and json (as kubectl does
// for a list request), one line per object for name and jsonpath.
func WriteList(w io.Writer, f Format, objs []proto.Message, resourceVersion string) error {
	switch f.Kind {
	case "yaml":
		b, err := codec.MarshalListYAML(objs, resourceVersion)
		if err != nil {
			return err
		}
		_, err = w.Write(b)
		return err
	case "json":
		raw, err := codec.MarshalListJSON(objs, resourceVersion)
		if err != nil {
			return err
		}
		var out bytes.Buffer
		if err := json.Indent(&out, raw, "", "    "); err != nil {
			return err
		}
		out.WriteByte('\n')
		_, err = w.Write(out.Bytes())
		return err
	case "jsonpath":
		// kubectl evaluates the template against the List, so {.items[*]...} works.
		raw, err := codec.MarshalListJSON(objs, resourceVersion)
		if err != nil {
			return err
		}
		return evalJSONPath(w, f.Template, raw)
	}
	for _, o := range objs {
		if err := WriteObject(w, f, o); err != nil {
			return err
		}
	}
	return nil
}

// JSONMap is the upstream JSON form of obj as generic data, what JSONPath
// expressions and patches work on.
func JSONMap(obj proto.Message) (map[string]any, error) {
	raw, err := codec.MarshalJSON(obj)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, err
	}
	return m, nil
}

func writeJSONPath(w io.Writer, tmpl string, obj proto.Message) error {
	raw, err := codec.MarshalJSON(obj)
	if err != nil {
		return err
	}
	return evalJSONPath(w, tmpl, raw)
}

func evalJSONPath(w io.Writer, tmpl string, raw []byte) error {
	var data any
	if err := json.Unmarshal(raw, &data); err != nil {
		return err
	}
	jp := jsonpath.New("output").AllowMissingKeys(true) // as kubectl's -o jsonpath
	if err := jp.Parse(tmpl); err != nil {
		return fmt.Errorf("error parsing jsonpath %s: %w", tmpl, err)
	}
	return jp.Execute(w, data)
}

// JSONPathValues evaluates a JSONPath expression against obj and returns the
// values it selects, rendered as kubectl renders them.
func JSONPathValues(obj proto.Message, expr string) ([]string, error) {
	data, err := JSONMap(obj)
	if err != nil {
		return nil, err
	}
	jp := jsonpath.New("values").AllowMissingKeys(true)
	if err := jp.Parse(expr); err != nil {
		return nil, fmt.Errorf("error parsing jsonpath %s: %w", expr, err)
	}
	results, err := jp.FindResults(data)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, rs := range results {
		for _, r := range rs {
			var b bytes.Buffer
			if err := jp.PrintResults(&b, []reflect.Value{r}); err != nil {
				return nil, err
			}
			out = append(out, b.String())
		}
	}
	return out, nil
}
