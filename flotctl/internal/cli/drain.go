package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/proto"

	corev1 "flotilla.io/proto/flotilla/core/v1"
	"flotilla.io/sdk/client"
)

type drainOptions struct {
	ignoreDaemonSets bool
	force            bool
	deleteEmptyDir   bool
	gracePeriod      int
	timeout          time.Duration
}

// newDrain is kubectl drain: cordon the node, then delete its pods (as
// evictions would) and wait for them to go.
func newDrain(e *env) *cobra.Command {
	o := &drainOptions{}
	cmd := &cobra.Command{
		Use:     "drain NODE",
		Short:   "Drain a node in preparation for maintenance",
		Example: "  flotctl drain n1 --ignore-daemonsets\n  flotctl drain n1 --force --grace-period=0 --timeout=60s",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return e.runDrain(cmd.Context(), args[0], o)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&o.ignoreDaemonSets, "ignore-daemonsets", false, "ignore DaemonSet-managed pods")
	f.BoolVar(&o.force, "force", false, "continue even if there are pods not managed by a controller")
	f.BoolVar(&o.deleteEmptyDir, "delete-emptydir-data", false, "continue even if there are pods using emptyDir (their data is lost)")
	f.IntVar(&o.gracePeriod, "grace-period", -1, "seconds each pod has to terminate gracefully; negative uses the pod's own")
	f.DurationVar(&o.timeout, "timeout", 0, "how long to wait before giving up; zero means infinite")
	return cmd
}

// drainFilter is kubectl's pod filter chain: it says whether a pod is
// deleted, skipped with a warning, or blocks the drain.
func drainFilter(p *corev1.Pod, o *drainOptions) (del bool, warning, blocker string) {
	if _, mirror := p.GetMetadata().GetAnnotations()["kubernetes.io/config.mirror"]; mirror {
		return false, "", ""
	}
	if ph := p.GetStatus().GetPhase(); ph == "Succeeded" || ph == "Failed" {
		return true, "", ""
	}
	var ctrl *string
	for _, r := range p.GetMetadata().GetOwnerReferences() {
		if r.GetController() {
			ctrl = proto.String(r.GetKind())
		}
	}
	switch {
	case ctrl != nil && *ctrl == "DaemonSet":
		if o.ignoreDaemonSets {
			return false, "ignoring DaemonSet-managed Pods", ""
		}
		return false, "", "cannot delete DaemonSet-managed Pods (use --ignore-daemonsets to ignore)"
	case ctrl == nil && !o.force:
		return false, "", "cannot delete Pods that declare no controller (use --force to override)"
	}
	for _, v := range p.GetSpec().GetVolumes() {
		if v.GetEmptyDir() != nil && !o.deleteEmptyDir {
			return false, "", "cannot delete Pods with local storage (use --delete-emptydir-data to override)"
		}
	}
	if ctrl == nil {
		return true, "deleting Pods that declare no controller", ""
	}
	return true, "", ""
}

func (e *env) runDrain(ctx context.Context, node string, o *drainOptions) error {
	if o.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.timeout)
		defer cancel()
	}
	nodes, err := e.nodes(ctx)
	if err != nil {
		return err
	}
	changed, err := setUnschedulable(ctx, nodes, node, true)
	if err != nil {
		return err
	}
	if changed {
		fmt.Fprintf(e.Out, "node/%s cordoned\n", node)
	} else {
		fmt.Fprintf(e.Out, "node/%s already cordoned\n", node)
	}
	pods := client.For[*corev1.Pod](e.client)
	l, err := pods.ListAll(ctx, client.ListOptions{FieldSelector: "spec.nodeName=" + node})
	if err != nil {
		return err
	}
	warnings, blockers := map[string][]string{}, map[string][]string{}
	var victims []*corev1.Pod
	for _, p := range l.Items {
		del, warning, blocker := drainFilter(p, o)
		name := p.Metadata.Namespace + "/" + p.Metadata.Name
		if warning != "" {
			warnings[warning] = append(warnings[warning], name)
		}
		if blocker != "" {
			blockers[blocker] = append(blockers[blocker], name)
		}
		if del {
			victims = append(victims, p)
		}
	}
	if len(blockers) > 0 {
		var msgs []string
		for msg, names := range blockers {
			msgs = append(msgs, msg+": "+strings.Join(names, ", "))
		}
		return fmt.Errorf("unable to drain node %q due to error: [%s], continuing command...\nThere are pending nodes to be drained:\n %s", node, strings.Join(msgs, ", "), node)
	}
	for msg, names := range warnings {
		fmt.Fprintf(e.ErrOut, "Warning: %s: %s\n", msg, strings.Join(names, ", "))
	}
	opts := client.DeleteOptions{}
	if o.gracePeriod >= 0 {
		opts.GracePeriodSeconds = proto.Int64(int64(o.gracePeriod))
	}
	for _, p := range victims {
		fmt.Fprintf(e.Out, "evicting pod %s/%s\n", p.Metadata.Namespace, p.Metadata.Name)
		opts.Preconditions = &client.Preconditions{UID: p.Metadata.Uid}
		if err := pods.Delete(ctx, p.Metadata.Namespace, p.Metadata.Name, opts); err != nil && !client.IsNotFound(err) && !client.IsPreconditionFailed(err) {
			return err
		}
	}
	for _, p := range victims {
		for {
			cur, err := pods.Get(ctx, p.Metadata.Namespace, p.Metadata.Name)
			if client.IsNotFound(err) || (err == nil && cur.Metadata.Uid != p.Metadata.Uid) {
				fmt.Fprintf(e.Out, "pod/%s evicted\n", p.Metadata.Name)
				break
			}
			if err != nil && !errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return err
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("unable to drain node %q: drain did not complete within %v", node, o.timeout)
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
	fmt.Fprintf(e.Out, "node/%s drained\n", node)
	return nil
}
