package cli

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/proto"

	appsv1 "flotilla.io/proto/flotilla/apps/v1"
	corev1 "flotilla.io/proto/flotilla/core/v1"
	metav1 "flotilla.io/proto/flotilla/meta/v1"
	"flotilla.io/sdk/client"

	"flotilla.io/flotctl/internal/printer"
)

// Annotations of upstream's Deployment controller and kubectl.
const (
	revisionAnnotation    = "deployment.kubernetes.io/revision"
	changeCauseAnnotation = "kubernetes.io/change-cause"
	restartedAtAnnotation = "kubectl.kubernetes.io/restartedAt"
	templateHashLabel     = "pod-template-hash"
)

// Annotations a rollback does not copy from a ReplicaSet (kubectl's
// annotationsToSkip).
var rollbackSkip = map[string]bool{
	"kubectl.kubernetes.io/last-applied-configuration": true,
	revisionAnnotation:                          true,
	"deployment.kubernetes.io/revision-history": true,
	"deployment.kubernetes.io/desired-replicas": true,
	"deployment.kubernetes.io/max-replicas":     true,
	"deprecated.deployment.rollback.to":         true,
}

// newRollout is kubectl rollout: status, history, undo, pause, resume,
// restart of Deployments (restart also of DaemonSets and StatefulSets).
func newRollout(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "rollout SUBCOMMAND", Short: "Manage the rollout of a resource"}
	cmd.AddCommand(newRolloutStatus(e), newRolloutHistory(e), newRolloutUndo(e),
		newRolloutPause(e, true), newRolloutPause(e, false), newRolloutRestart(e))
	return cmd
}

// deploymentTarget resolves the argument and insists on a Deployment.
func (e *env) deploymentTarget(args []string) (target, error) {
	t, err := e.oneTarget(args)
	if err != nil {
		return t, err
	}
	if t.info.Kind != "Deployment" {
		return t, fmt.Errorf("no rollout support for %s; only deployments", t.info.Resource)
	}
	return t, nil
}

func (e *env) deployments(ctx context.Context) (*client.Resource[*appsv1.Deployment], error) {
	if _, err := e.api(ctx); err != nil {
		return nil, err
	}
	return client.For[*appsv1.Deployment](e.client), nil
}

// rolloutStatus is kubectl's DeploymentStatusViewer: a message and whether
// the rollout is done; an error when it exceeded its progress deadline.
func rolloutStatus(d *appsv1.Deployment) (string, bool, error) {
	name := d.GetMetadata().GetName()
	st := d.GetStatus()
	if d.GetMetadata().GetGeneration() > st.GetObservedGeneration() {
		return "Waiting for deployment spec update to be observed...\n", false, nil
	}
	for _, c := range st.GetConditions() {
		if c.Type == "Progressing" && c.Reason == "ProgressDeadlineExceeded" {
			return "", false, fmt.Errorf("deployment %q exceeded its progress deadline", name)
		}
	}
	want := d.GetSpec().GetReplicas()
	switch {
	case st.GetUpdatedReplicas() < want:
		return fmt.Sprintf("Waiting for deployment %q rollout to finish: %d out of %d new replicas have been updated...\n", name, st.GetUpdatedReplicas(), want), false, nil
	case st.GetReplicas() > st.GetUpdatedReplicas():
		return fmt.Sprintf("Waiting for deployment %q rollout to finish: %d old replicas are pending termination...\n", name, st.GetReplicas()-st.GetUpdatedReplicas()), false, nil
	case st.GetAvailableReplicas() < st.GetUpdatedReplicas():
		return fmt.Sprintf("Waiting for deployment %q rollout to finish: %d of %d updated replicas are available...\n", name, st.GetAvailableReplicas(), st.GetUpdatedReplicas()), false, nil
	}
	return fmt.Sprintf("deployment %q successfully rolled out\n", name), true, nil
}

func newRolloutStatus(e *env) *cobra.Command {
	var watch bool
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:     "status KIND/NAME",
		Short:   "Show the status of the rollout",
		Example: "  flotctl rollout status deployment/web\n  flotctl rollout status deployment/web --timeout=2m",
		Args:    cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			t, err := e.deploymentTarget(args)
			if err != nil {
				return err
			}
			ds, err := e.deployments(cmd.Context())
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			if timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, timeout)
				defer cancel()
			}
			last := ""
			for {
				d, err := ds.Get(ctx, t.namespace, t.name)
				if err != nil {
					if ctx.Err() != nil {
						return errors.New("timed out waiting for the condition")
					}
					return err
				}
				msg, done, err := rolloutStatus(d)
				if err != nil {
					return err
				}
				if msg != last {
					fmt.Fprint(e.Out, msg)
					last = msg
				}
				if done || !watch {
					return nil
				}
				select {
				case <-ctx.Done():
					return errors.New("timed out waiting for the condition")
				case <-time.After(200 * time.Millisecond):
				}
			}
		},
	}
	cmd.Flags().BoolVarP(&watch, "watch", "w", true, "watch the rollout until it finishes")
	cmd.Flags().DurationVar(&timeout, "timeout", 0, "how long to wait before giving up; 0 waits forever")
	return cmd
}

// history lists the ReplicaSets a Deployment controls, by revision.
func (e *env) history(ctx context.Context, d *appsv1.Deployment) (map[int64]*appsv1.ReplicaSet, error) {
	if _, err := e.api(ctx); err != nil {
		return nil, err
	}
	l, err := client.For[*appsv1.ReplicaSet](e.client).ListAll(ctx, client.ListOptions{Namespace: d.Metadata.Namespace})
	if err != nil {
		return nil, err
	}
	out := map[int64]*appsv1.ReplicaSet{}
	for _, rs := range l.Items {
		owned := false
		for _, r := range rs.Metadata.GetOwnerReferences() {
			owned = owned || (r.GetController() && r.Uid == d.Metadata.Uid)
		}
		rev, err := strconv.ParseInt(rs.Metadata.GetAnnotations()[revisionAnnotation], 10, 64)
		if owned && err == nil {
			out[rev] = rs
		}
	}
	return out, nil
}

func newRolloutHistory(e *env) *cobra.Command {
	var revision int64
	cmd := &cobra.Command{
		Use:     "history KIND/NAME",
		Short:   "View rollout history",
		Example: "  flotctl rollout history deployment/web\n  flotctl rollout history deployment/web --revision=2",
		Args:    cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			t, err := e.deploymentTarget(args)
			if err != nil {
				return err
			}
			ds, err := e.deployments(cmd.Context())
			if err != nil {
				return err
			}
			d, err := ds.Get(cmd.Context(), t.namespace, t.name)
			if err != nil {
				return err
			}
			hist, err := e.history(cmd.Context(), d)
			if err != nil {
				return err
			}
			if revision > 0 {
				rs, ok := hist[revision]
				if !ok {
					return fmt.Errorf("unable to find the specified revision")
				}
				fmt.Fprintf(e.Out, "%s with revision #%d\n", printer.Name(d), revision)
				writeTemplate(e.Out, rs.Spec.Template)
				return nil
			}
			fmt.Fprintf(e.Out, "%s \n", printer.Name(d))
			tw := tabwriter.NewWriter(e.Out, 0, 8, 2, ' ', 0)
			fmt.Fprintln(tw, "REVISION\tCHANGE-CAUSE")
			for _, rev := range slices.Sorted(maps.Keys(hist)) {
				cause := hist[rev].Metadata.GetAnnotations()[changeCauseAnnotation]
				if cause == "" {
					cause = "<none>"
				}
				fmt.Fprintf(tw, "%d\t%s\n", rev, cause)
			}
			fmt.Fprintln(tw)
			return tw.Flush()
		},
	}
	cmd.Flags().Int64Var(&revision, "revision", 0, "show the details of this revision, with its pod template")
	return cmd
}

// writeTemplate prints a pod template as kubectl's describe does.
func writeTemplate(w interface{ Write([]byte) (int, error) }, t *corev1.PodTemplateSpec) {
	kv := func(m map[string]string) string {
		if len(m) == 0 {
			return "<none>"
		}
		var parts []string
		for _, k := range slices.Sorted(maps.Keys(m)) {
			parts = append(parts, k+"="+m[k])
		}
		return strings.Join(parts, "\n\t")
	}
	fmt.Fprintf(w, "Pod Template:\n  Labels:\t%s\n", kv(t.GetMetadata().GetLabels()))
	if a := t.GetMetadata().GetAnnotations(); len(a) > 0 {
		fmt.Fprintf(w, "  Annotations:\t%s\n", kv(a))
	}
	fmt.Fprintf(w, "  Containers:\n")
	for _, c := range t.GetSpec().GetContainers() {
		fmt.Fprintf(w, "   %s:\n    Image:\t%s\n", c.Name, c.Image)
		if len(c.Env) > 0 {
			fmt.Fprintf(w, "    Environment:\n")
			for _, ev := range c.Env {
				fmt.Fprintf(w, "      %s:\t%s\n", ev.Name, ev.Value)
			}
		}
	}
	fmt.Fprintln(w)
}

func newRolloutUndo(e *env) *cobra.Command {
	var toRevision int64
	cmd := &cobra.Command{
		Use:     "undo KIND/NAME",
		Short:   "Undo a previous rollout",
		Example: "  flotctl rollout undo deployment/web\n  flotctl rollout undo deployment/web --to-revision=3",
		Args:    cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			t, err := e.deploymentTarget(args)
			if err != nil {
				return err
			}
			skipped := int64(0)
			obj, _, err := e.editObject(cmd.Context(), t, func(obj proto.Message) (bool, error) {
				d := obj.(*appsv1.Deployment)
				if d.Spec.Paused {
					return false, fmt.Errorf("you cannot rollback a paused deployment; resume it first with 'flotctl rollout resume %s' and try again", printer.Name(d))
				}
				hist, err := e.history(cmd.Context(), d)
				if err != nil {
					return false, err
				}
				rs, err := rollbackTarget(hist, toRevision)
				if err != nil {
					return false, fmt.Errorf("%w for deployment %q", err, d.Metadata.Name)
				}
				tmpl := proto.Clone(rs.Spec.Template).(*corev1.PodTemplateSpec)
				delete(tmpl.Metadata.Labels, templateHashLabel)
				if proto.Equal(tmpl, d.Spec.Template) {
					skipped = revisionOf(rs)
					return false, nil
				}
				d.Spec.Template = tmpl
				for k, v := range rs.Metadata.GetAnnotations() {
					if !rollbackSkip[k] {
						if d.Metadata.Annotations == nil {
							d.Metadata.Annotations = map[string]string{}
						}
						d.Metadata.Annotations[k] = v
					}
				}
				return true, nil
			})
			if err != nil {
				return err
			}
			if skipped > 0 {
				fmt.Fprintf(e.Out, "%s skipped rollback (current template already matches revision %d)\n", printer.Name(obj), skipped)
				return nil
			}
			fmt.Fprintf(e.Out, "%s rolled back\n", printer.Name(obj))
			return nil
		},
	}
	cmd.Flags().Int64Var(&toRevision, "to-revision", 0, "the revision to roll back to; 0 means the previous one")
	return cmd
}

func revisionOf(rs *appsv1.ReplicaSet) int64 {
	n, _ := strconv.ParseInt(rs.Metadata.GetAnnotations()[revisionAnnotation], 10, 64)
	return n
}

// rollbackTarget is the ReplicaSet of revision to, or of the revision before
// the latest when to is 0.
func rollbackTarget(hist map[int64]*appsv1.ReplicaSet, to int64) (*appsv1.ReplicaSet, error) {
	if to > 0 {
		rs, ok := hist[to]
		if !ok {
			return nil, fmt.Errorf("unable to find specified revision %d in history", to)
		}
		return rs, nil
	}
	revs := slices.Collect(maps.Keys(hist))
	sort.Slice(revs, func(i, j int) bool { return revs[i] > revs[j] })
	if len(revs) < 2 {
		return nil, errors.New("no rollout history found")
	}
	return hist[revs[1]], nil
}

func newRolloutPause(e *env, pause bool) *cobra.Command {
	verb, done := "pause", "paused"
	if !pause {
		verb, done = "resume", "resumed"
	}
	return &cobra.Command{
		Use:     verb + " KIND/NAME",
		Short:   map[bool]string{true: "Mark the provided resource as paused", false: "Resume a paused resource"}[pause],
		Example: "  flotctl rollout " + verb + " deployment/web",
		Args:    cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			t, err := e.deploymentTarget(args)
			if err != nil {
				return err
			}
			obj, changed, err := e.editObject(cmd.Context(), t, func(obj proto.Message) (bool, error) {
				d := obj.(*appsv1.Deployment)
				if d.Spec.Paused == pause {
					return false, nil
				}
				d.Spec.Paused = pause
				return true, nil
			})
			if err != nil {
				return err
			}
			if !changed {
				if pause {
					return fmt.Errorf("%s is already paused", t)
				}
				return fmt.Errorf("%s is not paused", t)
			}
			fmt.Fprintf(e.Out, "%s %s\n", printer.Name(obj), done)
			return nil
		},
	}
}

func newRolloutRestart(e *env) *cobra.Command {
	return &cobra.Command{
		Use:     "restart KIND/NAME",
		Short:   "Restart a resource: its pods are replaced by a rollout",
		Example: "  flotctl rollout restart deployment/web",
		Args:    cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			t, err := e.oneTarget(args)
			if err != nil {
				return err
			}
			switch t.info.Kind {
			case "Deployment", "DaemonSet", "StatefulSet":
			default:
				return fmt.Errorf("restarting is not supported for %s", t.info.Resource)
			}
			now := e.now().UTC().Format(time.RFC3339)
			obj, _, err := e.editObject(cmd.Context(), t, func(obj proto.Message) (bool, error) {
				if d, ok := obj.(*appsv1.Deployment); ok && d.Spec.Paused {
					return false, fmt.Errorf("can't restart paused deployment (run rollout resume first)")
				}
				tmpl := podTemplate(obj)
				if tmpl.Metadata == nil {
					tmpl.Metadata = &metav1.ObjectMeta{}
				}
				if tmpl.Metadata.Annotations == nil {
					tmpl.Metadata.Annotations = map[string]string{}
				}
				tmpl.Metadata.Annotations[restartedAtAnnotation] = now
				return true, nil
			})
			if err != nil {
				return err
			}
			fmt.Fprintf(e.Out, "%s restarted\n", printer.Name(obj))
			return nil
		},
	}
}
