package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/proto"

	"flotilla.io/proto/kind"
	"flotilla.io/proto/object"
	"flotilla.io/sdk/client"

	"flotilla.io/flotctl/internal/manifest"
	"flotilla.io/flotctl/internal/patch"
	"flotilla.io/flotctl/internal/printer"
)

// maxConflictRetries bounds read-modify-write retries on a stale
// resourceVersion.
const maxConflictRetries = 10

type applyOptions struct {
	files     []string
	recursive bool
	output    string
	dryRun    string
}

func newApply(e *env) *cobra.Command {
	o := &applyOptions{}
	cmd := &cobra.Command{
		Use:   "apply -f FILENAME",
		Short: "Apply a configuration to resources by file name or stdin",
		Long: "Apply creates the objects of the manifests that do not exist and updates those that do.\n" +
			"Like kubectl's client-side apply it records the applied configuration in the\n" +
			"kubectl.kubernetes.io/last-applied-configuration annotation, so fields removed from the\n" +
			"manifest are removed from the object while fields set by others are kept.",
		Example: "  flotctl apply -f web.yaml\n  flotctl apply -f manifests/ -R\n  cat web.yaml | flotctl apply -f -",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return e.runApply(cmd.Context(), o)
		},
	}
	cmd.Flags().StringSliceVarP(&o.files, "filename", "f", nil, "files, directories or - (stdin) holding the manifests")
	cmd.Flags().BoolVarP(&o.recursive, "recursive", "R", false, "process the directories of -f recursively")
	cmd.Flags().StringVarP(&o.output, "output", "o", "", "output format: name, yaml or json (default: a line per object)")
	cmd.Flags().StringVar(&o.dryRun, "dry-run", "none", `"none", "server" (validate and default on the server, persist nothing) or "client" (only compute)`)
	return cmd
}

func (e *env) runApply(ctx context.Context, o *applyOptions) error {
	out, err := printer.ParseFormat(o.output)
	if err != nil || out.Kind == "wide" {
		return fmt.Errorf("unable to match a printer suitable for the output format %q, allowed formats are: json,name,yaml", o.output)
	}
	if o.dryRun != "none" && o.dryRun != "server" && o.dryRun != "client" {
		return fmt.Errorf(`invalid dry-run value (%s). Must be "none", "server", or "client"`, o.dryRun)
	}
	objs, err := manifest.Read(o.files, o.recursive, e.In)
	if err != nil {
		return err
	}
	api, err := e.api(ctx)
	if err != nil {
		return err
	}
	rep := &reporter{w: e.ErrOut}
	for _, m := range objs {
		info, _ := kind.ForMessage(m.Object)
		if err := e.placeInNamespace(info, m.Object); err != nil {
			rep.report(err)
			continue
		}
		result, obj, err := applyOne(ctx, api, info, m, o.dryRun)
		if err != nil {
			rep.report(err)
			continue
		}
		if err := e.printResult(out, obj, result, o.dryRun); err != nil {
			return err
		}
	}
	return rep.result()
}

// printResult prints "pod/web created" or the object in the -o format.
func (e *env) printResult(out printer.Format, obj proto.Message, result, dryRun string) error {
	if out.Kind != "" {
		return printer.WriteObject(e.Out, out, obj)
	}
	switch dryRun {
	case "server":
		result += " (server dry run)"
	case "client":
		result += " (dry run)"
	}
	_, err := fmt.Fprintf(e.Out, "%s %s\n", printer.Name(obj), result)
	return err
}

// applyOne creates or updates one object; result is "created", "configured"
// or "unchanged".
func applyOne(ctx context.Context, api *client.Dynamic, info *kind.Info, m manifest.Object, dryRun string) (result string, obj proto.Message, err error) {
	md := object.Meta(m.Object)
	if md.GetName() == "" {
		if md.GetGenerateName() != "" {
			return "", nil, fmt.Errorf("error from %s: cannot use generate name with apply", m.Source)
		}
		return "", nil, fmt.Errorf("error when retrieving current configuration of %s from %s: resource name may not be empty", info.Kind, m.Source)
	}
	var opts []client.WriteOption
	if dryRun == "server" {
		opts = append(opts, client.DryRun())
	}
	t := target{info: info, namespace: md.GetNamespace(), name: md.GetName()}
	for range maxConflictRetries {
		live, err := api.Get(ctx, info.Kind, t.namespace, t.name)
		if client.IsNotFound(err) {
			obj, err := patch.ForCreate(m.Object)
			if err != nil {
				return "", nil, fmt.Errorf("error when creating %q: %w", m.Source, err)
			}
			if dryRun == "client" {
				return "created", obj, nil
			}
			created, err := api.Create(ctx, obj, opts...)
			if client.IsAlreadyExists(err) {
				continue // created meanwhile: apply over it
			}
			if err != nil {
				return "", nil, withContext(fmt.Sprintf("error when creating %q", m.Source), err)
			}
			return "created", created, nil
		}
		if err != nil {
			return "", nil, withContext(fmt.Sprintf("error when retrieving current configuration of %s from %q", t, m.Source), err)
		}
		next, changed, err := patch.ThreeWay(m.Object, live)
		if err != nil {
			return "", nil, fmt.Errorf("error when applying %s from %q: %w", t, m.Source, err)
		}
		if !changed {
			return "unchanged", live, nil
		}
		if dryRun == "client" {
			return "configured", next, nil
		}
		liveRV := object.Meta(live).GetResourceVersion()
		object.Meta(next).ResourceVersion = liveRV
		updated, err := api.Update(ctx, next, opts...)
		if client.IsConflict(err) {
			continue
		}
		if err != nil {
			return "", nil, withContext(fmt.Sprintf("error when applying patch to %s from %q", t, m.Source), err)
		}
		if object.Meta(updated).GetResourceVersion() == liveRV && dryRun == "none" {
			return "unchanged", updated, nil // the server found nothing to write
		}
		return "configured", updated, nil
	}
	return "", nil, fmt.Errorf("error when applying %s from %q: the object kept changing; gave up after %d conflicts", t, m.Source, maxConflictRetries)
}

type createOptions struct {
	files      []string
	recursive  bool
	output     string
	saveConfig bool
	dryRun     string
}

func newCreate(e *env) *cobra.Command {
	o := &createOptions{}
	cmd := &cobra.Command{
		Use:     "create -f FILENAME",
		Short:   "Create resources from a file or stdin",
		Example: "  flotctl create -f web.yaml\n  flotctl create namespace staging",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return e.runCreate(cmd.Context(), o)
		},
	}
	cmd.Flags().StringSliceVarP(&o.files, "filename", "f", nil, "files, directories or - (stdin) holding the manifests")
	cmd.Flags().BoolVarP(&o.recursive, "recursive", "R", false, "process the directories of -f recursively")
	cmd.Flags().StringVarP(&o.output, "output", "o", "", "output format: name, yaml or json")
	cmd.Flags().BoolVar(&o.saveConfig, "save-config", false, "record the configuration in the last-applied annotation, so apply can manage the object later")
	cmd.Flags().StringVar(&o.dryRun, "dry-run", "none", `"none" or "server"`)
	cmd.AddCommand(newCreateNamespace(e), newCreateToken(e))
	return cmd
}

func (e *env) runCreate(ctx context.Context, o *createOptions) error {
	out, err := printer.ParseFormat(o.output)
	if err != nil || out.Kind == "wide" {
		return fmt.Errorf("unable to match a printer suitable for the output format %q, allowed formats are: json,name,yaml", o.output)
	}
	objs, err := manifest.Read(o.files, o.recursive, e.In)
	if err != nil {
		return err
	}
	var opts []client.WriteOption
	switch o.dryRun {
	case "none":
	case "server":
		opts = append(opts, client.DryRun())
	default:
		return fmt.Errorf(`invalid dry-run value (%s). Must be "none" or "server"`, o.dryRun)
	}
	api, err := e.api(ctx)
	if err != nil {
		return err
	}
	rep := &reporter{w: e.ErrOut}
	for _, m := range objs {
		info, _ := kind.ForMessage(m.Object)
		if err := e.placeInNamespace(info, m.Object); err != nil {
			rep.report(err)
			continue
		}
		obj := m.Object
		if o.saveConfig {
			if obj, err = patch.ForCreate(obj); err != nil {
				rep.report(err)
				continue
			}
		}
		created, err := api.Create(ctx, obj, opts...)
		if err != nil {
			rep.report(withContext(fmt.Sprintf("error when creating %q", m.Source), err))
			continue
		}
		if err := e.printResult(out, created, "created", o.dryRun); err != nil {
			return err
		}
	}
	return rep.result()
}

func newCreateNamespace(e *env) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:     "namespace NAME",
		Aliases: []string{"ns"},
		Short:   "Create a namespace with the given name",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			out, err := printer.ParseFormat(output)
			if err != nil {
				return err
			}
			api, err := e.api(cmd.Context())
			if err != nil {
				return err
			}
			info, _ := kind.ByKind("Namespace")
			ns := info.New()
			object.Meta(ns).Name = args[0]
			created, err := api.Create(cmd.Context(), ns)
			if err != nil {
				return err
			}
			return e.printResult(out, created, "created", "none")
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "output format: name, yaml or json")
	return cmd
}
