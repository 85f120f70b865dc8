package cli

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/proto"

	corev1 "flotilla.io/proto/flotilla/core/v1"
	"flotilla.io/proto/object"
	"flotilla.io/sdk/client"

	"flotilla.io/flotctl/internal/printer"
)

type describeOptions struct {
	labelSelector string
	allNamespaces bool
	showEvents    bool
}

func newDescribe(e *env) *cobra.Command {
	o := &describeOptions{}
	cmd := &cobra.Command{
		Use:     "describe KIND [NAME...] | KIND/NAME...",
		Short:   "Show details of a resource or group of resources, with their events",
		Example: "  flotctl describe pod web\n  flotctl describe deploy -l app=web",
		RunE: func(cmd *cobra.Command, args []string) error {
			return e.runDescribe(cmd.Context(), o, args)
		},
	}
	cmd.Flags().StringVarP(&o.labelSelector, "selector", "l", "", "label selector to filter on")
	cmd.Flags().BoolVarP(&o.allNamespaces, "all-namespaces", "A", false, "describe objects of every namespace")
	cmd.Flags().BoolVar(&o.showEvents, "show-events", true, "show the events related to the object")
	return cmd
}

func (e *env) runDescribe(ctx context.Context, o *describeOptions, args []string) error {
	if len(args) == 0 {
		return errors.New(`you must specify the type of resource to describe. Use "flotctl api-resources" for a complete list of supported resources`)
	}
	p, err := e.parseResourceArgs(args)
	if err != nil {
		return err
	}
	api, err := e.api(ctx)
	if err != nil {
		return err
	}
	targets := p.targets
	if len(targets) == 0 {
		if targets, err = e.selectTargets(ctx, api, p.kinds, o.allNamespaces, o.labelSelector, ""); err != nil {
			return err
		}
		if len(targets) == 0 {
			fmt.Fprintf(e.ErrOut, "No resources found in %s namespace.\n", e.defaultNamespace())
			return nil
		}
	}
	rep := &reporter{w: e.ErrOut}
	for n, t := range targets {
		obj, err := api.Get(ctx, t.info.Kind, t.namespace, t.name)
		if err != nil {
			rep.report(err)
			continue
		}
		var events []*corev1.Event
		if o.showEvents {
			if events, err = eventsFor(ctx, api, obj); err != nil {
				return err
			}
		}
		text, err := printer.Describe(obj, events, e.now())
		if err != nil {
			return err
		}
		if n > 0 {
			fmt.Fprint(e.Out, "\n\n")
		}
		fmt.Fprint(e.Out, text)
	}
	return rep.result()
}

// eventsFor lists the events about obj: those naming it as their involved
// object, by name on the server and by kind and uid here.
func eventsFor(ctx context.Context, api *client.Dynamic, obj proto.Message) ([]*corev1.Event, error) {
	md := object.Meta(obj)
	k := object.Kind(obj)
	l, err := api.ListAll(ctx, "Event", client.ListOptions{
		Namespace:     md.GetNamespace(), // cluster-scoped objects: events of any namespace
		FieldSelector: "involvedObject.name=" + md.GetName(),
	})
	if err != nil {
		return nil, fmt.Errorf("list events of %s: %w", objectName(obj), err)
	}
	var out []*corev1.Event
	for _, it := range l.Items {
		ev, ok := it.(*corev1.Event)
		if !ok {
			continue
		}
		io := ev.GetInvolvedObject()
		if io.GetKind() != "" && io.GetKind() != k {
			continue
		}
		if io.GetUid() != "" && io.GetUid() != md.GetUid() {
			continue
		}
		out = append(out, ev)
	}
	return out, nil
}
