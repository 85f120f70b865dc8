package cli

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	corev1 "flotilla.io/proto/flotilla/core/v1"
	"flotilla.io/sdk/client"
)

// newCordon is kubectl cordon (unschedulable true) and uncordon (false).
func newCordon(e *env, unschedulable bool) *cobra.Command {
	verb, done := "cordon", "cordoned"
	if !unschedulable {
		verb, done = "uncordon", "uncordoned"
	}
	return &cobra.Command{
		Use:     verb + " NODE...",
		Short:   "Mark nodes as " + map[bool]string{true: "unschedulable", false: "schedulable"}[unschedulable],
		Example: "  flotctl " + verb + " n1",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			nodes, err := e.nodes(cmd.Context())
			if err != nil {
				return err
			}
			rep := &reporter{w: e.ErrOut}
			for _, name := range args {
				changed, err := setUnschedulable(cmd.Context(), nodes, name, unschedulable)
				switch {
				case err != nil:
					rep.report(err)
				case changed:
					fmt.Fprintf(e.Out, "node/%s %s\n", name, done)
				default:
					fmt.Fprintf(e.Out, "node/%s already %s\n", name, done)
				}
			}
			return rep.result()
		},
	}
}

// nodes is typed access to Nodes, connecting on first use.
func (e *env) nodes(ctx context.Context) (*client.Resource[*corev1.Node], error) {
	if _, err := e.api(ctx); err != nil {
		return nil, err
	}
	return client.For[*corev1.Node](e.client), nil
}

// editNode is a read-modify-write of a node retried on conflicts; edit
// reports whether it changed anything.
func editNode(ctx context.Context, nodes *client.Resource[*corev1.Node], name string, edit func(n *corev1.Node) (bool, error)) (bool, error) {
	for range maxConflictRetries {
		n, err := nodes.Get(ctx, "", name)
		if err != nil {
			return false, err
		}
		if n.Spec == nil {
			n.Spec = &corev1.NodeSpec{}
		}
		changed, err := edit(n)
		if err != nil || !changed {
			return false, err
		}
		_, err = nodes.Update(ctx, n)
		if client.IsConflict(err) {
			continue
		}
		return err == nil, err
	}
	return false, errors.New("node " + name + " kept changing; gave up")
}

func setUnschedulable(ctx context.Context, nodes *client.Resource[*corev1.Node], name string, v bool) (bool, error) {
	return editNode(ctx, nodes, name, func(n *corev1.Node) (bool, error) {
		if n.Spec.Unschedulable == v {
			return false, nil
		}
		n.Spec.Unschedulable = v
		return true, nil
	})
}
