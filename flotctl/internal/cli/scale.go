package cli

import (
	"fmt"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"flotilla.io/proto/object"

	"flotilla.io/flotctl/internal/printer"
)

// newScale is kubectl scale: set spec.replicas of a Deployment,
// ReplicaSet, ReplicationController or StatefulSet.
func newScale(e *env) *cobra.Command {
	var replicas, current int
	cmd := &cobra.Command{
		Use:     "scale KIND/NAME --replicas=COUNT",
		Short:   "Set a new size for a deployment, replica set, replication controller or stateful set",
		Example: "  flotctl scale deployment/web --replicas=5\n  flotctl scale --current-replicas=2 --replicas=3 deployment/web",
		Args:    cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if replicas < 0 {
				return fmt.Errorf("the --replicas flag is required and must be non-negative")
			}
			t, err := e.oneTarget(args)
			if err != nil {
				return err
			}
			obj, _, err := e.editObject(cmd.Context(), t, func(obj proto.Message) (bool, error) {
				spec := object.Field(obj, "spec")
				if spec == nil {
					return false, fmt.Errorf("%s cannot be scaled", t)
				}
				fd := spec.ProtoReflect().Descriptor().Fields().ByName("replicas")
				if fd == nil || fd.Kind() != protoreflect.Int32Kind {
					return false, fmt.Errorf("%s cannot be scaled", t)
				}
				m := spec.ProtoReflect()
				if current >= 0 && int(m.Get(fd).Int()) != current {
					return false, fmt.Errorf("expected replicas to be %d, was %d", current, m.Get(fd).Int())
				}
				if m.Has(fd) && int(m.Get(fd).Int()) == replicas {
					return false, nil
				}
				m.Set(fd, protoreflect.ValueOfInt32(int32(replicas)))
				return true, nil
			})
			if err != nil {
				return err
			}
			fmt.Fprintf(e.Out, "%s scaled\n", printer.Name(obj))
			return nil
		},
	}
	cmd.Flags().IntVar(&replicas, "replicas", -1, "the new desired number of replicas (required)")
	cmd.Flags().IntVar(&current, "current-replicas", -1, "precondition: scale only if the current size is this")
	return cmd
}
