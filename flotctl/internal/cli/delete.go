package cli

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc/codes"

	"flotilla.io/proto/object"
	"flotilla.io/sdk/client"
)

type deleteOptions struct {
	files          []string
	recursive      bool
	labelSelector  string
	fieldSelector  string
	all            bool
	allNamespaces  bool
	gracePeriod    int
	force          bool
	now            bool
	wait           bool
	timeout        time.Duration
	ignoreNotFound bool
	cascade        string
	output         string
}

func newDelete(e *env) *cobra.Command {
	o := &deleteOptions{}
	cmd := &cobra.Command{
		Use:   "delete (KIND NAME... | KIND/NAME... | -f FILENAME | KIND -l SELECTOR | KIND --all)",
		Short: "Delete resources by file names, stdin, resources and names, or by resources and label selector",
		Example: "  flotctl delete pod web\n  flotctl delete -f web.yaml\n  flotctl delete pods -l app=web\n" +
			"  flotctl delete pod web --grace-period=0 --force",
		RunE: func(cmd *cobra.Command, args []string) error {
			return e.runDelete(cmd.Context(), o, args)
		},
	}
	f := cmd.Flags()
	f.StringSliceVarP(&o.files, "filename", "f", nil, "delete the objects of these manifests")
	f.BoolVarP(&o.recursive, "recursive", "R", false, "process the directories of -f recursively")
	f.StringVarP(&o.labelSelector, "selector", "l", "", "delete the objects matching this label selector")
	f.StringVar(&o.fieldSelector, "field-selector", "", "delete the objects matching this field selector")
	f.BoolVar(&o.all, "all", false, "delete every object of the kind in the namespace")
	f.BoolVarP(&o.allNamespaces, "all-namespaces", "A", false, "with -l or --all, act in every namespace")
	f.IntVar(&o.gracePeriod, "grace-period", -1, "seconds the object has to terminate gracefully; negative uses the object's own. 0 only with --force")
	f.BoolVar(&o.force, "force", false, "delete at once (grace period 0), without waiting for the kubelet to confirm")
	f.BoolVar(&o.now, "now", false, "signal the object for immediate shutdown (grace period 1)")
	f.BoolVar(&o.wait, "wait", true, "wait until the objects are gone before returning")
	f.DurationVar(&o.timeout, "timeout", 0, "how long to wait for the deletion; 0 waits as long as it takes")
	f.BoolVar(&o.ignoreNotFound, "ignore-not-found", false, "treat objects that do not exist as deleted")
	f.StringVar(&o.cascade, "cascade", "background", `"background", "foreground" or "orphan": what happens to dependents`)
	f.StringVarP(&o.output, "output", "o", "", `"name" prints kind/name only`)
	return cmd
}

func (e *env) runDelete(ctx context.Context, o *deleteOptions, args []string) error {
	grace, err := o.grace()
	if err != nil {
		return err
	}
	propagation, err := cascadePolicy(o.cascade)
	if err != nil {
		return err
	}
	if o.output != "" && o.output != "name" {
		return fmt.Errorf("unexpected -o output mode: %s, the flag 'output' must be one of [name]", o.output)
	}
	var targets []target
	switch {
	case len(o.files) > 0:
		if len(args) > 0 {
			return errors.New("arguments and -f cannot be used together")
		}
		if targets, err = e.targetsFromFiles(o.files, o.recursive); err != nil {
			return err
		}
	case len(args) == 0:
		return errors.New(`you must provide one or more resources by argument or filename.
Example resource specifications include:
   '-f rsrc.yaml'
   '--filename=rsrc.json'
   '<resource> <name>'
   '<resource>'`)
	}
	api, err := e.api(ctx)
	if err != nil {
		return err
	}
	if len(args) > 0 {
		p, err := e.parseResourceArgs(args)
		if err != nil {
			return err
		}
		targets = p.targets
		selecting := o.all || o.labelSelector != "" || o.fieldSelector != ""
		switch {
		case len(targets) > 0 && selecting:
			return errors.New("name cannot be provided when a selector or --all is specified")
		case len(targets) == 0 && !selecting:
			return errors.New("resource(s) were provided, but no name was specified")
		case len(targets) == 0:
			if targets, err = e.selectTargets(ctx, api, p.kinds, o.allNamespaces, o.labelSelector, o.fieldSelector); err != nil {
				return err
			}
			if len(targets) == 0 {
				fmt.Fprintln(e.ErrOut, "No resources found")
				return nil
			}
		}
	}
	if o.force {
		fmt.Fprintln(e.ErrOut, "Warning: Immediate deletion does not wait for confirmation that the running resource has been terminated. The resource may continue to run on the cluster indefinitely.")
	}
	rep := &reporter{w: e.ErrOut}
	type pending struct {
		t   target
		uid string
	}
	var waits []pending
	for _, t := range targets {
		obj, isPending, err := api.Delete(ctx, t.info.Kind, t.namespace, t.name, client.DeleteOptions{GracePeriodSeconds: grace, PropagationPolicy: propagation})
		if err != nil {
			if o.ignoreNotFound && client.IsNotFound(err) {
				continue
			}
			rep.report(err)
			continue
		}
		if o.output == "name" {
			fmt.Fprintf(e.Out, "%s/%s\n", singular(t.info), t.name)
		} else {
			fmt.Fprintf(e.Out, "%s %q deleted\n", singular(t.info), t.name)
		}
		if isPending && o.wait && obj != nil {
			waits = append(waits, pending{t: t, uid: object.Meta(obj).GetUid()})
		}
	}
	for _, w := range waits {
		wctx, cancel := ctx, context.CancelFunc(func() {})
		if o.timeout > 0 {
			wctx, cancel = context.WithTimeout(ctx, o.timeout)
		}
		err := waitDeleted(wctx, api, w.t, w.uid)
		timedOut := isTimeout(wctx, err) && ctx.Err() == nil
		cancel()
		if timedOut {
			err = fmt.Errorf("timed out waiting for the condition on %s", w.t.slashName())
		}
		if err != nil {
			rep.report(err)
		}
	}
	return rep.result()
}

// isTimeout reports whether err ended a wait because ctx's deadline passed;
// the server may notice the propagated deadline a moment before the client.
func isTimeout(ctx context.Context, err error) bool {
	if err == nil {
		return false
	}
	if ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	st, ok := grpcStatus(err)
	return ok && st.Code() == codes.DeadlineExceeded
}

// grace turns --grace-period, --force and --now into the request's grace
// period, with kubectl's rules.
func (o *deleteOptions) grace() (*int64, error) {
	g := int64(o.gracePeriod)
	switch {
	case o.now && o.gracePeriod >= 0:
		return nil, errors.New("--now and --grace-period cannot be specified together")
	case o.now:
		g = 1
	case o.force && g < 0:
		g = 0
	case g == 0 && !o.force:
		g = 1 // 0 means immediate only with --force, as kubectl
	}
	if g < 0 {
		return nil, nil
	}
	return &g, nil
}

func cascadePolicy(s string) (client.PropagationPolicy, error) {
	switch s {
	case "background", "true":
		return client.Background, nil
	case "foreground":
		return client.Foreground, nil
	case "orphan", "false":
		return client.Orphan, nil
	}
	return "", fmt.Errorf(`invalid cascade value (%s). Must be "background", "foreground", or "orphan"`, s)
}

// waitDeleted blocks until the object is gone (or replaced by another with a
// different uid), using a watch from the revision it was last read at.
func waitDeleted(ctx context.Context, api *client.Dynamic, t target, uid string) error {
	for {
		obj, err := api.Get(ctx, t.info.Kind, t.namespace, t.name)
		if client.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
		md := object.Meta(obj)
		if uid != "" && md.GetUid() != uid {
			return nil
		}
		w, err := api.Watch(ctx, t.info.Kind, client.WatchOptions{
			Namespace: t.namespace, FieldSelector: "metadata.name=" + t.name, ResourceVersion: md.GetResourceVersion(),
		})
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
					break // read again and re-watch
				}
				return err
			}
			if ev.Object == nil {
				continue
			}
			if ev.Type == client.Deleted || (uid != "" && object.Meta(ev.Object).GetUid() != uid) {
				w.Stop()
				return nil
			}
		}
	}
}
