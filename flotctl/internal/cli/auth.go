package cli

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	apiv1 "flotilla.io/proto/flotilla/api/v1"
	"flotilla.io/proto/kind"
)

func newAuth(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "auth", Short: "Inspect authorization"}
	var as string
	var asGroups []string
	var all bool
	canI := &cobra.Command{
		Use:   "can-i VERB RESOURCE[/SUBRESOURCE] [NAME]",
		Short: "Check whether an action is allowed (prints yes or no; exit 1 for no)",
		Example: "  flotctl auth can-i create pods\n  flotctl auth can-i get pods/log -n team-a\n" +
			"  flotctl auth can-i delete deployments.apps web --as alice",
		Args: cobra.RangeArgs(2, 3),
		RunE: func(cmd *cobra.Command, args []string) error {
			return e.runCanI(cmd.Context(), args, as, asGroups, all)
		},
	}
	canI.Flags().StringVar(&as, "as", "", "ask about this user instead of yourself")
	canI.Flags().StringSliceVar(&asGroups, "as-group", nil, "groups of the --as user")
	canI.Flags().BoolVarP(&all, "all-namespaces", "A", false, "ask about every namespace (cluster scope)")
	cmd.AddCommand(canI)
	return cmd
}

func (e *env) runCanI(ctx context.Context, args []string, as string, groups []string, all bool) error {
	verb, res := args[0], args[1]
	name := ""
	if len(args) == 3 {
		name = args[2]
	}
	base, sub, _ := strings.Cut(res, "/")
	req := &apiv1.CheckAccessRequest{Verb: verb, Subresource: sub, Name: name, User: as, Groups: groups}
	if info, ok := kind.ByName(base); ok {
		req.Group, req.Resource = info.Group, info.Resource
		if info.Namespaced && !all {
			req.Namespace = e.defaultNamespace()
		}
	} else if base == "*" {
		req.Group, req.Resource = "*", "*"
		if !all {
			req.Namespace = e.defaultNamespace()
		}
	} else {
		return fmt.Errorf("the server doesn't have a resource type %q", base)
	}
	if _, err := e.api(ctx); err != nil {
		return err
	}
	resp, err := apiv1.NewAuthServiceClient(e.client.Conn()).CheckAccess(ctx, req)
	if err != nil {
		return err
	}
	if resp.Allowed {
		fmt.Fprintln(e.Out, "yes")
		return nil
	}
	fmt.Fprintln(e.Out, "no")
	return errReported
}
