package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/proto"

	"flotilla.io/proto/object"
	"flotilla.io/sdk/client"

	"flotilla.io/flotctl/internal/printer"
)

type waitOptions struct {
	forCond       string
	timeout       time.Duration
	labelSelector string
	all           bool
	allNamespaces bool
}

func newWait(e *env) *cobra.Command {
	o := &waitOptions{}
	cmd := &cobra.Command{
		Use:   "wait (KIND NAME... | KIND/NAME... | KIND -l SELECTOR | KIND --all) --for=delete|condition=COND[=VALUE]|jsonpath='{PATH}'=VALUE",
		Short: "Wait for a condition on one or many resources",
		Example: "  flotctl wait pod web --for=condition=Ready --timeout=60s\n" +
			"  flotctl wait deploy/web --for=condition=Available=True\n" +
			"  flotctl wait pod web --for=jsonpath='{.status.phase}'=Running\n" +
			"  flotctl wait pod web --for=delete",
		RunE: func(cmd *cobra.Command, args []string) error {
			return e.runWait(cmd.Context(), o, args)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.forCond, "for", "", "the condition: delete, create, condition=NAME[=VALUE] or jsonpath='{PATH}'[=VALUE]")
	f.DurationVar(&o.timeout, "timeout", 30*time.Second, "how long to wait; 0 checks once, negative waits a week")
	f.StringVarP(&o.labelSelector, "selector", "l", "", "wait for the objects matching this label selector")
	f.BoolVar(&o.all, "all", false, "wait for every object of the kind in the namespace")
	f.BoolVarP(&o.allNamespaces, "all-namespaces", "A", false, "with -l or --all, act in every namespace")
	return cmd
}

// waitCondition is a parsed --for.
type waitCondition struct {
	kind string // "delete", "create", "condition" or "jsonpath"
	// name is the condition type or the JSONPath expression.
	name string
	// value is the wanted condition status or JSONPath value; for jsonpath,
	// hasValue false means "the path exists".
	value    string
	hasValue bool
}

func parseWaitCondition(s string) (waitCondition, error) {
	switch {
	case s == "":
		return waitCondition{}, errors.New("--for must be specified: delete, create, condition=NAME[=VALUE] or jsonpath='{PATH}'=VALUE")
	case strings.EqualFold(s, "delete"):
		return waitCondition{kind: "delete"}, nil
	case strings.EqualFold(s, "create"):
		return waitCondition{kind: "create"}, nil
	}
	if rest, ok := strings.CutPrefix(s, "condition="); ok {
		name, value, hasValue := strings.Cut(rest, "=")
		if name == "" {
			return waitCondition{}, fmt.Errorf("--for=condition needs a condition name: %q", s)
		}
		if !hasValue {
			value = "True"
		}
		return waitCondition{kind: "condition", name: name, value: value, hasValue: true}, nil
	}
	if rest, ok := strings.CutPrefix(s, "jsonpath="); ok {
		// The expression is {...}, possibly quoted; the value follows "=".
		rest = strings.Trim(rest, "'\"")
		end := strings.LastIndex(rest, "}")
		if !strings.HasPrefix(rest, "{") || end < 0 {
			return waitCondition{}, fmt.Errorf("jsonpath wait format must be --for=jsonpath='{.status.readyReplicas}'=3: %q", s)
		}
		expr := rest[:end+1]
		tail := strings.Trim(rest[end+1:], "'\"")
		c := waitCondition{kind: "jsonpath", name: expr}
		if tail != "" {
			v, ok := strings.CutPrefix(tail, "=")
			if !ok {
				return waitCondition{}, fmt.Errorf("jsonpath wait format must be --for=jsonpath='{.status.readyReplicas}'=3: %q", s)
			}
			c.value, c.hasValue = strings.Trim(v, "'\""), true
		}
		return c, nil
	}
	return waitCondition{}, fmt.Errorf("unrecognized condition: %q", s)
}

// met reports whether obj satisfies the condition (not for delete/create).
func (c waitCondition) met(obj proto.Message) (bool, error) {
	switch c.kind {
	case "create":
		return true, nil
	case "condition":
		data, err := printer.JSONMap(obj)
		if err != nil {
			return false, err
		}
		status, _ := data["status"].(map[string]any)
		conds, _ := status["conditions"].([]any)
		for _, it := range conds {
			cond, _ := it.(map[string]any)
			t, _ := cond["type"].(string)
			s, _ := cond["status"].(string)
			if strings.EqualFold(t, c.name) {
				return strings.EqualFold(s, c.value), nil
			}
		}
		return false, nil
	case "jsonpath":
		vals, err := printer.JSONPathValues(obj, c.name)
		if err != nil {
			return false, err
		}
		if !c.hasValue {
			return len(vals) > 0, nil
		}
		return len(vals) == 1 && vals[0] == c.value, nil
	}
	return false, fmt.Errorf("condition %q is not evaluated on objects", c.kind)
}

func (e *env) runWait(ctx context.Context, o *waitOptions, args []string) error {
	cond, err := parseWaitCondition(o.forCond)
	if err != nil {
		return err
	}
	if len(args) == 0 {
		return errors.New("resource name(s) or a selector must be specified")
	}
	p, err := e.parseResourceArgs(args)
	if err != nil {
		return err
	}
	timeout := o.timeout
	if timeout < 0 {
		timeout = 7 * 24 * time.Hour
	}
	ctx, cancel := context.WithTimeout(ctx, max(timeout, time.Millisecond))
	defer cancel()
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
		if len(targets) == 0 {
			return errors.New("no matching resources found")
		}
	}
	for _, t := range targets {
		var err error
		if cond.kind == "delete" {
			err = waitDeleted(ctx, api, t, "")
		} else {
			err = waitFor(ctx, api, t, cond)
		}
		if isTimeout(ctx, err) {
			return fmt.Errorf("timed out waiting for the condition on %s", t.slashName())
		}
		if err != nil {
			return err
		}
		verb := "condition met"
		if cond.kind == "delete" {
			verb = "deleted"
		}
		fmt.Fprintf(e.Out, "%s/%s %s\n", singular(t.info), t.name, verb)
	}
	return nil
}

// waitFor watches one object until the condition holds.
func waitFor(ctx context.Context, api *client.Dynamic, t target, cond waitCondition) error {
	for {
		obj, err := api.Get(ctx, t.info.Kind, t.namespace, t.name)
		rv := ""
		switch {
		case client.IsNotFound(err) && cond.kind == "create":
			// keep watching for it to appear
		case err != nil:
			return err
		default:
			ok, err := cond.met(obj)
			if err != nil || ok {
				return err
			}
			rv = object.Meta(obj).GetResourceVersion()
		}
		w, err := api.Watch(ctx, t.info.Kind, client.WatchOptions{Namespace: t.namespace, FieldSelector: "metadata.name=" + t.name, ResourceVersion: rv})
		if err != nil {
			return err
		}
		for {
			ev, err := w.Next()
			if err != nil {
				w.Stop()
				if ctx.Err() != nil {
					return ctx.Err()
				}
				if errors.Is(err, client.ErrWatchClosed) || client.IsExpired(err) {
					break
				}
				return err
			}
			if ev.Object == nil || ev.Type == client.Deleted || ev.Type == client.Bookmark {
				continue
			}
			ok, err := cond.met(ev.Object)
			if err != nil || ok {
				w.Stop()
				return err
			}
		}
	}
}
