package cli

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/proto"

	"flotilla.io/proto/object"
	"flotilla.io/sdk/client"

	"flotilla.io/flotctl/internal/patch"
	"flotilla.io/flotctl/internal/printer"
)

type patchOptions struct {
	patch       string
	patchFile   string
	patchType   string
	subresource string
	output      string
	dryRun      string
}

func newPatch(e *env) *cobra.Command {
	o := &patchOptions{}
	cmd := &cobra.Command{
		Use:   "patch (KIND NAME | KIND/NAME) -p PATCH [--type strategic|merge|json] [--subresource status]",
		Short: "Update fields of a resource with a strategic merge, JSON merge or JSON patch",
		Long: "patch reads the object, applies the patch to its JSON form, decodes the result strictly\n" +
			"(an unknown field is an error naming it) and writes it back at the version it read,\n" +
			"retrying when the object changed meanwhile.",
		Example: `  flotctl patch deploy web -p '{"spec":{"replicas":3}}'
  flotctl patch pod web --type merge -p '{"metadata":{"labels":{"tier":"frontend"}}}'
  flotctl patch pod web --type json -p '[{"op":"replace","path":"/spec/containers/0/image","value":"nginx:1.27"}]'
  flotctl patch pod web --subresource status --type merge -p '{"status":{"phase":"Running"}}'`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return e.runPatch(cmd.Context(), o, args)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.patch, "patch", "p", "", "the patch, JSON or YAML")
	f.StringVar(&o.patchFile, "patch-file", "", "a file holding the patch")
	f.StringVar(&o.patchType, "type", "strategic", "the patch type: strategic, merge or json")
	f.StringVar(&o.subresource, "subresource", "", `patch a subresource: "status"`)
	f.StringVarP(&o.output, "output", "o", "", "output format: name, yaml or json")
	f.StringVar(&o.dryRun, "dry-run", "none", `"none" or "server"`)
	return cmd
}

func (e *env) runPatch(ctx context.Context, o *patchOptions, args []string) error {
	t, err := patch.ParseType(o.patchType)
	if err != nil {
		return err
	}
	body := []byte(o.patch)
	switch {
	case o.patch != "" && o.patchFile != "":
		return errors.New("--patch and --patch-file are mutually exclusive")
	case o.patchFile != "":
		if body, err = os.ReadFile(o.patchFile); err != nil {
			return err
		}
	case o.patch == "":
		return errors.New("must specify --patch or --patch-file containing the contents of the patch")
	}
	if o.subresource != "" && o.subresource != "status" {
		return fmt.Errorf("invalid subresource value: %q. Must be one of [status]", o.subresource)
	}
	var opts []client.WriteOption
	switch o.dryRun {
	case "none":
	case "server":
		opts = append(opts, client.DryRun())
	default:
		return fmt.Errorf(`invalid dry-run value (%s). Must be "none" or "server"`, o.dryRun)
	}
	format, err := printer.ParseFormat(o.output)
	if err != nil {
		return err
	}
	p, err := e.parseResourceArgs(args)
	if err != nil {
		return err
	}
	if len(p.targets) != 1 {
		return errors.New("patch needs exactly one object: KIND NAME or KIND/NAME")
	}
	tg := p.targets[0]
	if o.subresource == "status" && !tg.info.HasStatus {
		return fmt.Errorf("%s has no status subresource", tg.info.Kind)
	}
	api, err := e.api(ctx)
	if err != nil {
		return err
	}
	var result proto.Message
	changed := false
	for attempt := 0; ; attempt++ {
		if attempt == maxConflictRetries {
			return fmt.Errorf("%s: the object kept changing; gave up after %d conflicts", tg, maxConflictRetries)
		}
		live, err := api.Get(ctx, tg.info.Kind, tg.namespace, tg.name)
		if err != nil {
			return err
		}
		next, err := patch.Apply(live, t, body)
		if err != nil {
			return err
		}
		md := object.Meta(next)
		md.ResourceVersion = object.Meta(live).GetResourceVersion()
		if proto.Equal(next, live) {
			result = live
			break
		}
		if o.subresource == "status" {
			result, err = api.UpdateStatus(ctx, next, opts...)
		} else {
			result, err = api.Update(ctx, next, opts...)
		}
		if client.IsConflict(err) {
			continue
		}
		if err != nil {
			return err
		}
		changed = object.Meta(result).GetResourceVersion() != md.GetResourceVersion() || o.dryRun == "server"
		break
	}
	if format.Kind != "" {
		return printer.WriteObject(e.Out, format, result)
	}
	msg := "patched"
	if !changed {
		msg = "patched (no change)"
	}
	_, err = fmt.Fprintf(e.Out, "%s %s\n", printer.Name(result), msg)
	return err
}
