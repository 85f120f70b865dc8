package cli

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"flotilla.io/proto/kind"
	"flotilla.io/sdk/client"
	"flotilla.io/sdk/version"
)

// Version overrides flotctl's version; by default it is the one every
// Flotilla binary carries (flotilla.io/sdk/version, set by the Makefile).
var Version = ""

func clientVersion() string {
	if Version != "" {
		return Version
	}
	if v := version.Get().Version; v != "" && v != "dev" {
		return v
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "v0.0.0-dev"
}

func newVersion(e *env) *cobra.Command {
	var clientOnly bool
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the client version and whether the server answers",
		Long: "version prints flotctl's version, then the apiserver's address and whether it answers\n" +
			"a list of namespaces (the apiserver's /version is on its admin port, not the API).",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintf(e.Out, "Client Version: %s (%s, %s/%s)\n", clientVersion(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
			if clientOnly {
				return nil
			}
			cfg, err := e.config()
			if err != nil {
				return err
			}
			fmt.Fprintf(e.Out, "Server: %s\n", cfg.Server)
			api, err := e.api(cmd.Context())
			if err != nil {
				return err
			}
			l, err := api.List(cmd.Context(), "Namespace", client.ListOptions{})
			if err != nil {
				fmt.Fprintln(e.Out, "Server Reachable: no")
				return err
			}
			fmt.Fprintf(e.Out, "Server Reachable: yes (%d namespaces, resourceVersion %s)\n", len(l.Items), l.ResourceVersion)
			return nil
		},
	}
	cmd.Flags().BoolVar(&clientOnly, "client", false, "print the client version only")
	return cmd
}

func newAPIResources(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "api-resources",
		Short: "Print the supported API resources",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			all := kind.All()
			slices.SortFunc(all, func(a, b *kind.Info) int { return strings.Compare(a.Resource, b.Resource) })
			tw := tabwriter.NewWriter(e.Out, 6, 4, 3, ' ', 0)
			fmt.Fprintln(tw, "NAME\tSHORTNAMES\tAPIVERSION\tNAMESPACED\tKIND")
			for _, i := range all {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%t\t%s\n", i.Resource, strings.Join(i.ShortNames, ","), i.APIVersion(), i.Namespaced, i.Kind)
			}
			return tw.Flush()
		},
	}
}
