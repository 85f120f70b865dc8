package cli

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/proto"
	"k8s.io/apimachinery/pkg/util/validation"

	metav1 "flotilla.io/proto/flotilla/meta/v1"
	"flotilla.io/proto/object"
	"flotilla.io/sdk/client"

	"flotilla.io/flotctl/internal/printer"
)

// metaMap describes the two commands that edit a metadata map: label and
// annotate.
type metaMap struct {
	verb     string // "label"
	noun     string // "label" or "annotation"
	past     string // "labeled"
	field    func(*metav1.ObjectMeta) *map[string]string
	validate func(key, value string) error
}

var labelKind = metaMap{
	verb: "label", noun: "label", past: "labeled",
	field: func(m *metav1.ObjectMeta) *map[string]string { return &m.Labels },
	validate: func(k, v string) error {
		if errs := validation.IsQualifiedName(k); len(errs) > 0 {
			return fmt.Errorf("invalid label key %q: %s", k, strings.Join(errs, "; "))
		}
		if errs := validation.IsValidLabelValue(v); len(errs) > 0 {
			return fmt.Errorf("invalid label value: %q: %s", k+"="+v, strings.Join(errs, "; "))
		}
		return nil
	},
}

var annotationKind = metaMap{
	verb: "annotate", noun: "annotation", past: "annotated",
	field: func(m *metav1.ObjectMeta) *map[string]string { return &m.Annotations },
	validate: func(k, _ string) error {
		if errs := validation.IsQualifiedName(k); len(errs) > 0 {
			return fmt.Errorf("invalid annotation key %q: %s", k, strings.Join(errs, "; "))
		}
		return nil
	},
}

type labelOptions struct {
	overwrite       bool
	labelSelector   string
	all             bool
	allNamespaces   bool
	list            bool
	resourceVersion string
	output          string
}

func newLabel(e *env, mm metaMap) *cobra.Command {
	o := &labelOptions{}
	cmd := &cobra.Command{
		Use:   mm.verb + " KIND NAME... | KIND/NAME... KEY_1=VAL_1 ... KEY_N=VAL_N | KEY-",
		Short: "Update the " + mm.noun + "s of resources",
		Example: fmt.Sprintf("  flotctl %[1]s pod web tier=frontend\n  flotctl %[1]s --overwrite pod web tier=backend\n  flotctl %[1]s pod web tier-\n  flotctl %[1]s pods --all team=blue",
			mm.verb),
		RunE: func(cmd *cobra.Command, args []string) error {
			return e.runLabel(cmd.Context(), mm, o, args)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&o.overwrite, "overwrite", false, "allow changing the value of an existing "+mm.noun)
	f.StringVarP(&o.labelSelector, "selector", "l", "", "act on the objects matching this label selector")
	f.BoolVar(&o.all, "all", false, "act on every object of the kind in the namespace")
	f.BoolVarP(&o.allNamespaces, "all-namespaces", "A", false, "with -l or --all, act in every namespace")
	f.BoolVar(&o.list, "list", false, "list the "+mm.noun+"s of the objects")
	f.StringVar(&o.resourceVersion, "resource-version", "", "update only if the object is still at this resourceVersion")
	f.StringVarP(&o.output, "output", "o", "", "output format: name, yaml or json")
	return cmd
}

// metaChanges are parsed KEY=VAL and KEY- arguments.
type metaChanges struct {
	set    map[string]string
	remove []string
}

// splitMetaArgs separates resource arguments from KEY=VAL and KEY-.
func splitMetaArgs(args []string) (resources []string, changes []string) {
	for n, a := range args {
		if strings.Contains(a, "=") || (strings.HasSuffix(a, "-") && n > 0) {
			changes = append(changes, a)
		} else {
			resources = append(resources, a)
		}
	}
	return resources, changes
}

func parseMetaChanges(mm metaMap, args []string) (metaChanges, error) {
	c := metaChanges{set: map[string]string{}}
	for _, a := range args {
		if k, v, ok := strings.Cut(a, "="); ok {
			if err := mm.validate(k, v); err != nil {
				return c, err
			}
			c.set[k] = v
			continue
		}
		k := strings.TrimSuffix(a, "-")
		if err := mm.validate(k, ""); err != nil {
			return c, err
		}
		c.remove = append(c.remove, k)
	}
	for _, k := range c.remove {
		if _, both := c.set[k]; both {
			return c, fmt.Errorf("can not both modify and remove the %s %q in the same command", mm.noun, k)
		}
	}
	return c, nil
}

// applyMetaChanges edits a metadata map in place. It returns what happened:
// whether anything changed, whether only removals did, and the removals of
// keys that were not there (reported, not errors, as kubectl).
func applyMetaChanges(mm metaMap, md *metav1.ObjectMeta, c metaChanges, overwrite bool) (changed, onlyRemoved bool, missing []string, err error) {
	m := mm.field(md)
	before := maps.Clone(*m)
	if !overwrite {
		var errs []string
		for _, k := range slices.Sorted(maps.Keys(c.set)) {
			if cur, ok := before[k]; ok && cur != c.set[k] {
				errs = append(errs, fmt.Sprintf("'%s' already has a value (%s), and --overwrite is false", k, cur))
			}
		}
		if len(errs) > 0 {
			return false, false, nil, errors.New(strings.Join(errs, "\n"))
		}
	}
	if *m == nil && len(c.set) > 0 {
		*m = map[string]string{}
	}
	for k, v := range c.set {
		(*m)[k] = v
	}
	for _, k := range c.remove {
		if _, ok := (*m)[k]; !ok {
			missing = append(missing, k)
			continue
		}
		delete(*m, k)
	}
	if len(*m) == 0 {
		*m = nil
	}
	changed = !maps.Equal(before, *m)
	onlyRemoved = changed && len(*m) < len(before) && len(c.set) == 0
	return changed, onlyRemoved, missing, nil
}

func (e *env) runLabel(ctx context.Context, mm metaMap, o *labelOptions, args []string) error {
	resources, changeArgs := splitMetaArgs(args)
	if len(resources) == 0 {
		return fmt.Errorf("one or more resources must be specified as <resource> <name> or <resource>/<name>")
	}
	if len(changeArgs) == 0 && !o.list {
		return fmt.Errorf("at least one %s update is required", mm.noun)
	}
	changes, err := parseMetaChanges(mm, changeArgs)
	if err != nil {
		return err
	}
	format, err := printer.ParseFormat(o.output)
	if err != nil {
		return err
	}
	p, err := e.parseResourceArgs(resources)
	if err != nil {
		return err
	}
	api, err := e.api(ctx)
	if err != nil {
		return err
	}
	targets := p.targets
	if len(targets) == 0 {
		if !o.all && o.labelSelector == "" {
			return errors.New("resource(s) were provided, but no name was specified")
		}
		if targets, err = e.selectTargets(ctx, api, p.kinds, o.allNamespaces, o.labelSelector, ""); err != nil {
			return err
		}
	}
	rep := &reporter{w: e.ErrOut}
	for _, t := range targets {
		if o.list {
			obj, err := api.Get(ctx, t.info.Kind, t.namespace, t.name)
			if err != nil {
				rep.report(err)
				continue
			}
			m := *mm.field(object.Meta(obj))
			for _, k := range slices.Sorted(maps.Keys(m)) {
				fmt.Fprintf(e.Out, "%s=%s\n", k, m[k])
			}
			continue
		}
		result, obj, err := e.editMeta(ctx, api, mm, t, changes, o)
		if err != nil {
			rep.report(err)
			continue
		}
		if format.Kind != "" {
			if err := printer.WriteObject(e.Out, format, obj); err != nil {
				return err
			}
			continue
		}
		fmt.Fprintf(e.Out, "%s %s\n", printer.Name(obj), result)
	}
	return rep.result()
}

// editMeta is the read-modify-write of one object's labels or annotations,
// retried on conflict unless --resource-version pinned the version.
func (e *env) editMeta(ctx context.Context, api *client.Dynamic, mm metaMap, t target, c metaChanges, o *labelOptions) (string, proto.Message, error) {
	for range maxConflictRetries {
		obj, err := api.Get(ctx, t.info.Kind, t.namespace, t.name)
		if err != nil {
			return "", nil, err
		}
		md := object.Meta(obj)
		changed, onlyRemoved, missing, err := applyMetaChanges(mm, md, c, o.overwrite)
		if err != nil {
			return "", nil, err
		}
		for _, k := range missing {
			fmt.Fprintf(e.Out, "%s %q not found.\n", mm.noun, k)
		}
		if !changed {
			if mm.verb == "label" {
				return "not labeled", obj, nil
			}
			return mm.past, obj, nil
		}
		if o.resourceVersion != "" {
			md.ResourceVersion = o.resourceVersion
		}
		updated, err := api.Update(ctx, obj)
		if client.IsConflict(err) && o.resourceVersion == "" {
			continue
		}
		if err != nil {
			return "", nil, err
		}
		if onlyRemoved && mm.verb == "label" {
			return "unlabeled", updated, nil
		}
		return mm.past, updated, nil
	}
	return "", nil, fmt.Errorf("%s: the object kept changing; gave up after %d conflicts", t, maxConflictRetries)
}
