package cli

import (
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/types/known/timestamppb"
	"k8s.io/apimachinery/pkg/util/validation"

	corev1 "flotilla.io/proto/flotilla/core/v1"
)

// newTaint is kubectl taint for nodes: KEY[=VALUE]:EFFECT adds,
// KEY[:EFFECT]- removes.
func newTaint(e *env) *cobra.Command {
	var overwrite bool
	cmd := &cobra.Command{
		Use:   "taint NODE KEY_1=VAL_1:TAINT_EFFECT_1 ... KEY_N=VAL_N:TAINT_EFFECT_N",
		Short: "Update the taints on nodes",
		Example: "  flotctl taint node n1 dedicated=gpu:NoSchedule\n  flotctl taint node n1 dedicated:NoSchedule-\n  flotctl taint node n1 dedicated-\n" +
			"  flotctl taint node n1 dedicated=cpu:NoSchedule --overwrite",
		Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			var names []string
			switch {
			case args[0] == "node" || args[0] == "nodes" || args[0] == "no":
				names, args = args[1:2], args[2:]
			case strings.HasPrefix(args[0], "node/") || strings.HasPrefix(args[0], "nodes/"):
				_, n, _ := strings.Cut(args[0], "/")
				names, args = []string{n}, args[1:]
			default:
				return fmt.Errorf("only nodes can be tainted: flotctl taint node NAME ...")
			}
			if len(args) == 0 {
				return fmt.Errorf("at least one taint update is required")
			}
			add, remove, err := parseTaints(args)
			if err != nil {
				return err
			}
			nodes, err := e.nodes(cmd.Context())
			if err != nil {
				return err
			}
			for _, name := range names {
				var result string
				_, err := editNode(cmd.Context(), nodes, name, func(n *corev1.Node) (bool, error) {
					var changed bool
					n.Spec.Taints, result, changed, err = applyTaints(n.Spec.Taints, add, remove, overwrite, name)
					return changed, err
				})
				if err != nil {
					return err
				}
				fmt.Fprintf(e.Out, "node/%s %s\n", name, result)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&overwrite, "overwrite", false, "allow taints to be overwritten")
	return cmd
}

var taintEffects = []string{"NoSchedule", "PreferNoSchedule", "NoExecute"}

// parseTaints is kubectl's ParseTaints.
func parseTaints(args []string) (add, remove []*corev1.Taint, err error) {
	for _, a := range args {
		if strings.HasSuffix(a, "-") {
			spec := strings.TrimSuffix(a, "-")
			key, effect, _ := strings.Cut(spec, ":")
			if effect != "" && !slices.Contains(taintEffects, effect) {
				return nil, nil, fmt.Errorf("invalid taint effect: %s, unsupported taint effect", effect)
			}
			remove = append(remove, &corev1.Taint{Key: key, Effect: effect})
			continue
		}
		kv, effect, ok := strings.Cut(a, ":")
		if !ok || effect == "" {
			return nil, nil, fmt.Errorf("invalid taint spec: %s", a)
		}
		if !slices.Contains(taintEffects, effect) {
			return nil, nil, fmt.Errorf("invalid taint effect: %s, unsupported taint effect", effect)
		}
		key, value, _ := strings.Cut(kv, "=")
		if errs := validation.IsQualifiedName(key); len(errs) > 0 {
			return nil, nil, fmt.Errorf("invalid taint spec: %s, %s", a, strings.Join(errs, "; "))
		}
		if value != "" {
			if errs := validation.IsValidLabelValue(value); len(errs) > 0 {
				return nil, nil, fmt.Errorf("invalid taint spec: %s, %s", a, strings.Join(errs, "; "))
			}
		}
		t := &corev1.Taint{Key: key, Value: value, Effect: effect}
		if effect == "NoExecute" {
			// Upstream's apiserver stamps this; tolerationSeconds count from it.
			t.TimeAdded = timestamppb.Now()
		}
		add = append(add, t)
	}
	return add, remove, nil
}

// applyTaints is kubectl's reorganizeTaints: it returns the new taints and
// kubectl's verb (tainted, untainted, modified).
func applyTaints(cur, add, remove []*corev1.Taint, overwrite bool, node string) ([]*corev1.Taint, string, bool, error) {
	out := slices.Clone(cur)
	for _, r := range remove {
		before := len(out)
		out = slices.DeleteFunc(out, func(t *corev1.Taint) bool {
			return t.Key == r.Key && (r.Effect == "" || t.Effect == r.Effect)
		})
		if len(out) == before {
			name := r.Key
			if r.Effect != "" {
				name += ":" + r.Effect
			}
			return nil, "", false, fmt.Errorf("taint %q not found", name)
		}
	}
	changed := len(remove) > 0
	replaced := false
	for _, a := range add {
		i := slices.IndexFunc(out, func(t *corev1.Taint) bool { return t.Key == a.Key && t.Effect == a.Effect })
		if i < 0 {
			out = append(out, a)
			changed = true
			continue
		}
		if !overwrite {
			return nil, "", false, fmt.Errorf("node %s already has %s taint(s) with same effect(s) and --overwrite is false", node, a.Key)
		}
		if out[i].Value != a.Value {
			out[i] = a
			changed, replaced = true, true
		}
	}
	switch {
	case replaced || (len(add) > 0 && len(remove) > 0):
		return out, "modified", changed, nil
	case len(remove) > 0:
		return out, "untainted", changed, nil
	}
	return out, "tainted", changed, nil
}
