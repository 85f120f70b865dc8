package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/proto"

	"flotilla.io/proto/kind"
	"flotilla.io/proto/object"
	"flotilla.io/sdk/client"

	"flotilla.io/flotctl/internal/printer"
)

type getOptions struct {
	output         string
	labelSelector  string
	fieldSelector  string
	allNamespaces  bool
	watch          bool
	watchOnly      bool
	showLabels     bool
	showKind       bool
	noHeaders      bool
	ignoreNotFound bool
	files          []string
	recursive      bool
}

func newGet(e *env) *cobra.Command {
	o := &getOptions{}
	cmd := &cobra.Command{
		Use:   "get KIND[,KIND...] [NAME...] | KIND/NAME... | -f FILENAME",
		Short: "Display one or many resources",
		Example: "  flotctl get pods\n  flotctl get po web -o yaml\n  flotctl get deploy,svc -l app=web\n" +
			"  flotctl get pods -A -o wide\n  flotctl get pods -w",
		RunE: func(cmd *cobra.Command, args []string) error {
			return e.runGet(cmd.Context(), o, args)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.output, "output", "o", "", "output format: wide, yaml, json, name or jsonpath=TEMPLATE")
	f.StringVarP(&o.labelSelector, "selector", "l", "", "label selector to filter on, e.g. -l app=web,tier!=db")
	f.StringVar(&o.fieldSelector, "field-selector", "", "field selector to filter on, e.g. --field-selector status.phase=Running")
	f.BoolVarP(&o.allNamespaces, "all-namespaces", "A", false, "list the objects of every namespace")
	f.BoolVarP(&o.watch, "watch", "w", false, "after listing, watch for changes")
	f.BoolVar(&o.watchOnly, "watch-only", false, "watch for changes without listing first")
	f.BoolVar(&o.showLabels, "show-labels", false, "add a LABELS column")
	f.BoolVar(&o.showKind, "show-kind", false, "print names as kind/name")
	f.BoolVar(&o.noHeaders, "no-headers", false, "omit the table header")
	f.BoolVar(&o.ignoreNotFound, "ignore-not-found", false, "do not report named objects that do not exist")
	f.StringSliceVarP(&o.files, "filename", "f", nil, "get the objects named in these manifests")
	f.BoolVarP(&o.recursive, "recursive", "R", false, "process the directories of -f recursively")
	return cmd
}

// kindObjects are the objects of one kind to print.
type kindObjects struct {
	info *kind.Info
	objs []proto.Message
}

func (e *env) runGet(ctx context.Context, o *getOptions, args []string) error {
	format, err := printer.ParseFormat(o.output)
	if err != nil {
		return err
	}
	var p parsedArgs
	if len(o.files) > 0 {
		if len(args) > 0 {
			return errors.New("arguments and -f cannot be used together")
		}
		if p.targets, err = e.targetsFromFiles(o.files, o.recursive); err != nil {
			return err
		}
	} else {
		if len(args) == 0 {
			return errors.New(`you must specify the type of resource to get. Use "flotctl api-resources" for a complete list of supported resources`)
		}
		if p, err = e.parseResourceArgs(args); err != nil {
			return err
		}
	}
	api, err := e.api(ctx)
	if err != nil {
		return err
	}
	if o.watch || o.watchOnly {
		return e.watch(ctx, api, o, format, p)
	}
	rep := &reporter{w: e.ErrOut}
	var groups []*kindObjects
	group := func(info *kind.Info) *kindObjects {
		for _, g := range groups {
			if g.info == info {
				return g
			}
		}
		g := &kindObjects{info: info}
		groups = append(groups, g)
		return g
	}
	resourceVersion := ""
	if len(p.targets) > 0 {
		for _, t := range p.targets {
			obj, err := api.Get(ctx, t.info.Kind, t.namespace, t.name)
			if err != nil {
				if !(o.ignoreNotFound && client.IsNotFound(err)) {
					rep.report(err)
				}
				continue
			}
			g := group(t.info)
			g.objs = append(g.objs, obj)
		}
	} else {
		for _, info := range p.kinds {
			ns := e.namespaceFor(info)
			if o.allNamespaces {
				ns = ""
			}
			l, err := api.ListAll(ctx, info.Kind, client.ListOptions{Namespace: ns, LabelSelector: o.labelSelector, FieldSelector: o.fieldSelector})
			if err != nil {
				return err
			}
			resourceVersion = l.ResourceVersion
			group(info).objs = l.Items
		}
	}
	var all []proto.Message
	for _, g := range groups {
		all = append(all, g.objs...)
	}
	switch {
	case format.IsTable():
		if len(all) == 0 {
			if len(p.targets) == 0 && !o.ignoreNotFound {
				e.noResources(o, p.kinds)
			}
			return rep.result()
		}
		withKind := o.showKind || len(groups) > 1 || len(p.kinds) > 1
		first := true
		for _, g := range groups {
			if len(g.objs) == 0 {
				continue
			}
			if !first {
				fmt.Fprintln(e.Out)
			}
			first = false
			err := printer.WriteTable(e.Out, g.info.Kind, g.objs, e.tableOptions(o, format, withKind))
			if err != nil {
				return err
			}
		}
	case len(p.targets) == 1 && len(all) == 1:
		if err := printer.WriteObject(e.Out, format, all[0]); err != nil {
			return err
		}
	case len(p.targets) > 0 && len(all) == 0:
		// Nothing found: the errors say why.
	default:
		if err := printer.WriteList(e.Out, format, all, resourceVersion); err != nil {
			return err
		}
	}
	return rep.result()
}

func (e *env) tableOptions(o *getOptions, format printer.Format, withKind bool) printer.TableOptions {
	return printer.TableOptions{
		Wide:          format.Kind == "wide",
		WithNamespace: o.allNamespaces,
		WithKind:      withKind,
		ShowLabels:    o.showLabels,
		NoHeaders:     o.noHeaders,
		Now:           e.now(),
	}
}

// noResources prints kubectl's note for an empty list, to stderr.
func (e *env) noResources(o *getOptions, kinds []*kind.Info) {
	namespaced := false
	for _, k := range kinds {
		namespaced = namespaced || k.Namespaced
	}
	if o.allNamespaces || !namespaced {
		fmt.Fprintln(e.ErrOut, "No resources found")
		return
	}
	fmt.Fprintf(e.ErrOut, "No resources found in %s namespace.\n", e.defaultNamespace())
}

// watch implements get -w and --watch-only: list (unless watch-only), then
// print every change until the context ends.
func (e *env) watch(ctx context.Context, api *client.Dynamic, o *getOptions, format printer.Format, p parsedArgs) error {
	var info *kind.Info
	fieldSel := o.fieldSelector
	switch {
	case len(p.kinds) == 1 && len(p.targets) <= 1:
		info = p.kinds[0]
	case len(p.kinds) == 0 && len(p.targets) == 1:
		info = p.targets[0].info
	default:
		return errors.New("you may only specify a single resource type, and at most one name, with --watch")
	}
	ns := e.namespaceFor(info)
	if o.allNamespaces {
		ns = ""
	}
	if len(p.targets) == 1 {
		ns = p.targets[0].namespace
		sel := "metadata.name=" + p.targets[0].name
		if fieldSel != "" {
			sel += "," + fieldSel
		}
		fieldSel = sel
	}
	opts := client.ListOptions{Namespace: ns, LabelSelector: o.labelSelector, FieldSelector: fieldSel}
	l, err := api.ListAll(ctx, info.Kind, opts)
	if err != nil {
		return err
	}
	w := &watchPrinter{e: e, o: o, format: format, info: info}
	if !o.watchOnly {
		if len(l.Items) == 0 && format.IsTable() && len(p.targets) == 0 {
			e.noResources(o, []*kind.Info{info})
		}
		if err := w.print(l.Items); err != nil {
			return err
		}
	}
	rv := l.ResourceVersion
	for {
		wt, err := api.Watch(ctx, info.Kind, client.WatchOptions{Namespace: ns, LabelSelector: opts.LabelSelector, FieldSelector: fieldSel, ResourceVersion: rv})
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		for {
			ev, err := wt.Next()
			if err != nil {
				wt.Stop()
				if ctx.Err() != nil {
					return nil // interrupted: the normal end of a watch
				}
				if errors.Is(err, client.ErrWatchClosed) {
					break // re-watch from the last revision seen
				}
				return err
			}
			if ev.ResourceVersion != "" {
				rv = ev.ResourceVersion
			}
			if ev.Type == client.Bookmark || ev.Object == nil {
				continue
			}
			if err := w.print([]proto.Message{ev.Object}); err != nil {
				wt.Stop()
				return err
			}
		}
	}
}

// watchPrinter prints watched objects: the table header once, then rows;
// YAML documents separated by "---".
type watchPrinter struct {
	e       *env
	o       *getOptions
	format  printer.Format
	info    *kind.Info
	printed bool
}

func (w *watchPrinter) print(objs []proto.Message) error {
	if len(objs) == 0 {
		return nil
	}
	out := w.e.Out
	if w.format.IsTable() {
		opts := w.e.tableOptions(w.o, w.format, w.o.showKind)
		opts.NoHeaders = opts.NoHeaders || w.printed
		w.printed = true
		return printer.WriteTable(out, w.info.Kind, objs, opts)
	}
	for _, obj := range objs {
		if w.printed && w.format.Kind == "yaml" {
			if _, err := io.WriteString(out, "---\n"); err != nil {
				return err
			}
		}
		w.printed = true
		if err := printer.WriteObject(out, w.format, obj); err != nil {
			return err
		}
		if w.format.Kind == "jsonpath" {
			fmt.Fprintln(out)
		}
	}
	return nil
}

// objectName is "namespace/name" for messages.
func objectName(obj proto.Message) string {
	return strings.TrimPrefix(object.Key(obj), "/")
}
