package cli

import (
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/proto"

	corev1 "flotilla.io/proto/flotilla/core/v1"

	"flotilla.io/flotctl/internal/printer"
)

// newSet is kubectl set, with its image and env subcommands.
func newSet(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "set SUBCOMMAND", Short: "Set specific features on objects"}
	cmd.AddCommand(newSetImage(e), newSetEnv(e))
	return cmd
}

// containers are the containers of a pod spec that name selects ("*" or ""
// for all), init containers included.
func containers(spec *corev1.PodSpec, name string) []*corev1.Container {
	var out []*corev1.Container
	for _, c := range append(append([]*corev1.Container(nil), spec.GetInitContainers()...), spec.GetContainers()...) {
		if name == "" || name == "*" || c.Name == name {
			out = append(out, c)
		}
	}
	return out
}

func newSetImage(e *env) *cobra.Command {
	return &cobra.Command{
		Use:     "image KIND/NAME CONTAINER=IMAGE ...",
		Short:   "Update the image of a pod template",
		Example: "  flotctl set image deployment/web nginx=nginx:1.26\n  flotctl set image deployment/web '*=busybox:1.36'",
		Args:    cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			resources, pairs := splitMetaArgs(args)
			images := map[string]string{}
			for _, p := range pairs {
				name, image, ok := strings.Cut(p, "=")
				if !ok || name == "" || image == "" {
					return fmt.Errorf("invalid image update %q: expected CONTAINER=IMAGE", p)
				}
				images[name] = image
			}
			t, err := e.oneTarget(resources)
			if err != nil {
				return err
			}
			obj, _, err := e.editObject(cmd.Context(), t, func(obj proto.Message) (bool, error) {
				spec := podSpec(obj)
				if spec == nil {
					return false, fmt.Errorf("%s has no pod template", t)
				}
				changed := false
				for name, image := range images {
					cs := containers(spec, name)
					if len(cs) == 0 {
						return false, fmt.Errorf("unable to find container named %q", name)
					}
					for _, c := range cs {
						if c.Image != image {
							c.Image, changed = image, true
						}
					}
				}
				return changed, nil
			})
			if err != nil {
				return err
			}
			fmt.Fprintf(e.Out, "%s image updated\n", printer.Name(obj))
			return nil
		},
	}
}

func newSetEnv(e *env) *cobra.Command {
	var container string
	cmd := &cobra.Command{
		Use:     "env KIND/NAME KEY_1=VAL_1 ... KEY_N=VAL_N | KEY-",
		Short:   "Update environment variables of a pod template",
		Example: "  flotctl set env deployment/web MODE=production\n  flotctl set env deployment/web MODE-\n  flotctl set env deployment/web -c web DEBUG=1",
		Args:    cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			resources, changes := splitMetaArgs(args)
			set := map[string]string{}
			var order []string
			var remove []string
			for _, a := range changes {
				if k, v, ok := strings.Cut(a, "="); ok {
					if k == "" {
						return fmt.Errorf("invalid env %q", a)
					}
					if _, dup := set[k]; !dup {
						order = append(order, k)
					}
					set[k] = v
					continue
				}
				remove = append(remove, strings.TrimSuffix(a, "-"))
			}
			t, err := e.oneTarget(resources)
			if err != nil {
				return err
			}
			obj, _, err := e.editObject(cmd.Context(), t, func(obj proto.Message) (bool, error) {
				spec := podSpec(obj)
				if spec == nil {
					return false, fmt.Errorf("%s has no pod template", t)
				}
				cs := containers(spec, container)
				if len(cs) == 0 {
					return false, fmt.Errorf("unable to find container named %q", container)
				}
				changed := false
				for _, c := range cs {
					if editEnv(c, order, set, remove) {
						changed = true
					}
				}
				return changed, nil
			})
			if err != nil {
				return err
			}
			fmt.Fprintf(e.Out, "%s env updated\n", printer.Name(obj))
			return nil
		},
	}
	cmd.Flags().StringVarP(&container, "containers", "c", "*", "the names of containers to change (* for all)")
	return cmd
}

// editEnv sets and removes variables of one container, keeping the order
// of those it keeps; it reports a change.
func editEnv(c *corev1.Container, order []string, set map[string]string, remove []string) bool {
	changed := false
	seen := map[string]bool{}
	var out []*corev1.EnvVar
	for _, ev := range c.Env {
		if slices.Contains(remove, ev.Name) {
			changed = true
			continue
		}
		if v, ok := set[ev.Name]; ok {
			seen[ev.Name] = true
			if ev.Value != v || ev.ValueFrom != nil {
				ev = &corev1.EnvVar{Name: ev.Name, Value: v}
				changed = true
			}
		}
		out = append(out, ev)
	}
	for _, k := range order {
		if !seen[k] {
			out = append(out, &corev1.EnvVar{Name: k, Value: set[k]})
			changed = true
		}
	}
	c.Env = out
	return changed
}
