package cli

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	apiv1 "flotilla.io/proto/flotilla/api/v1"
)

func newCreateToken(e *env) *cobra.Command {
	var (
		duration  time.Duration
		audiences []string
		boundKind string
		boundName string
	)
	cmd := &cobra.Command{
		Use:   "token SERVICEACCOUNT",
		Short: "Request a service account token, as kubectl create token",
		Example: "  flotctl create token builder -n ci\n" +
			"  flotctl create token builder --duration 10m --bound-object-kind Pod --bound-object-name worker",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			req := &apiv1.CreateTokenRequest{Namespace: e.defaultNamespace(), ServiceAccount: args[0], Audiences: audiences, ExpirationSeconds: int64(duration / time.Second)}
			switch boundKind {
			case "":
				if boundName != "" {
					return fmt.Errorf("--bound-object-name needs --bound-object-kind")
				}
			case "Pod":
				if boundName == "" {
					return fmt.Errorf("--bound-object-kind Pod needs --bound-object-name")
				}
				req.BoundPodName = boundName
			default:
				return fmt.Errorf("--bound-object-kind: only Pod is supported, not %q", boundKind)
			}
			if _, err := e.api(cmd.Context()); err != nil {
				return err
			}
			resp, err := apiv1.NewAuthServiceClient(e.client.Conn()).CreateToken(cmd.Context(), req)
			if err != nil {
				return err
			}
			fmt.Fprintln(e.Out, resp.Token)
			return nil
		},
	}
	cmd.Flags().DurationVar(&duration, "duration", 0, "requested lifetime of the token (default 1h, at least 10m)")
	cmd.Flags().StringSliceVar(&audiences, "audience", nil, "audience of the token (repeatable; default the apiserver's)")
	cmd.Flags().StringVar(&boundKind, "bound-object-kind", "", "kind of object the token is bound to (Pod)")
	cmd.Flags().StringVar(&boundName, "bound-object-name", "", "name of the object the token is bound to")
	return cmd
}
