package printer

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"google.golang.org/protobuf/proto"

	"flotilla.io/proto/kind"
	"flotilla.io/proto/object"
)

// Column is one column of a kind's table. Value is a pure function of the
// object and the current time (for ages), so tables are table-tested.
type Column struct {
	Header string
	// Wide columns appear only with -o wide.
	Wide  bool
	Value func(obj proto.Message, now time.Time) string
}

// col adapts a typed cell function; an object of another type gives "".
func col[T proto.Message](header string, f func(T, time.Time) string) Column {
	return Column{Header: header, Value: func(m proto.Message, now time.Time) string {
		t, ok := m.(T)
		if !ok {
			return ""
		}
		return f(t, now)
	}}
}

// wide marks a column as shown only with -o wide.
func wide(c Column) Column {
	c.Wide = true
	return c
}

var (
	nameColumn = Column{Header: "NAME", Value: func(m proto.Message, _ time.Time) string { return object.Meta(m).GetName() }}
	ageColumn  = Column{Header: "AGE", Value: func(m proto.Message, now time.Time) string {
		return Age(object.Meta(m).GetCreationTimestamp(), now)
	}}
)

// columns holds the table of every kind with a kubectl-like table; other kinds
// print NAME and AGE.
var columns = map[string][]Column{}

func register(k string, cols ...Column) { columns[k] = cols }

// Columns returns the columns of a kind's table, wide ones included.
func Columns(k string) []Column {
	if c, ok := columns[k]; ok {
		return c
	}
	return []Column{nameColumn, ageColumn}
}

// TableOptions shape a table.
type TableOptions struct {
	// Wide adds the -o wide columns.
	Wide bool
	// WithNamespace adds a leading NAMESPACE column (-A).
	WithNamespace bool
	// WithKind prints names as kind/name (several kinds in one command).
	WithKind bool
	// ShowLabels adds a trailing LABELS column.
	ShowLabels bool
	NoHeaders  bool
	Now        time.Time
}

// Table returns the header and rows of objects of one kind.
func Table(k string, objs []proto.Message, opts TableOptions) (header []string, rows [][]string) {
	var cols []Column
	if opts.WithNamespace {
		cols = append(cols, Column{Header: "NAMESPACE", Value: func(m proto.Message, _ time.Time) string { return object.Meta(m).GetNamespace() }})
	}
	for _, c := range Columns(k) {
		if c.Wide && !opts.Wide {
			continue
		}
		if c.Header == "NAME" && opts.WithKind {
			prefix := kindPrefix(k)
			c = Column{Header: "NAME", Value: func(m proto.Message, _ time.Time) string { return prefix + "/" + object.Meta(m).GetName() }}
		}
		cols = append(cols, c)
	}
	if opts.ShowLabels {
		cols = append(cols, Column{Header: "LABELS", Value: func(m proto.Message, _ time.Time) string { return formatLabels(object.Meta(m).GetLabels()) }})
	}
	for _, c := range cols {
		header = append(header, c.Header)
	}
	for _, o := range objs {
		row := make([]string, len(cols))
		for n, c := range cols {
			row[n] = c.Value(o, opts.Now)
		}
		rows = append(rows, row)
	}
	return header, rows
}

// WriteTable writes objects of one kind as an aligned table.
func WriteTable(w io.Writer, k string, objs []proto.Message, opts TableOptions) error {
	header, rows := Table(k, objs, opts)
	if opts.NoHeaders {
		header = nil
	}
	return writeRows(w, header, rows)
}

func writeRows(w io.Writer, header []string, rows [][]string) error {
	tw := tabwriter.NewWriter(w, 6, 4, 3, ' ', 0) // kubectl's settings
	if header != nil {
		fmt.Fprintln(tw, strings.Join(header, "\t"))
	}
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}

// kindPrefix is how kubectl names a kind in "kind/name": the lower-case kind,
// qualified by its group for grouped kinds ("deployment.apps").
func kindPrefix(k string) string {
	info, ok := kind.ByKind(k)
	if !ok {
		return strings.ToLower(k)
	}
	if info.Group == "" {
		return info.Singular()
	}
	return info.Singular() + "." + info.Group
}

// Name is the "-o name" form of an object: "pod/web", "deployment.apps/web".
func Name(obj proto.Message) string {
	return kindPrefix(object.Kind(obj)) + "/" + object.Meta(obj).GetName()
}

func formatLabels(m map[string]string) string {
	if len(m) == 0 {
		return "<none>"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for n, k := range keys {
		parts[n] = k + "=" + m[k]
	}
	return strings.Join(parts, ",")
}

func orNone(s string) string {
	if s == "" {
		return "<none>"
	}
	return s
}
