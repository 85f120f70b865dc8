package cli

import (
	"context"
	"fmt"
	"strings"

	"google.golang.org/protobuf/proto"

	"flotilla.io/proto/kind"
	"flotilla.io/proto/object"
	"flotilla.io/sdk/client"

	"flotilla.io/flotctl/internal/manifest"
)

// resolveKind finds a kind the way kubectl resolves a resource argument
// ("po", "pods", "deploy", "deployments.apps").
func resolveKind(name string) (*kind.Info, error) {
	info, ok := kind.ByName(name)
	if !ok {
		return nil, fmt.Errorf("the server doesn't have a resource type %q", name)
	}
	return info, nil
}

// target is one named object of a command line.
type target struct {
	info      *kind.Info
	namespace string
	name      string
}

// resourceName is the upstream resource name in messages: `pods "web"`.
func (t target) String() string { return fmt.Sprintf("%s %q", qualifiedResource(t.info), t.name) }

// slashName is "pods/web", the form of kubectl's wait messages.
func (t target) slashName() string { return qualifiedResource(t.info) + "/" + t.name }

func qualifiedResource(info *kind.Info) string {
	if info.Group == "" {
		return info.Resource
	}
	return info.Resource + "." + info.Group
}

// singular is `pod "web"` in kubectl's delete output.
func singular(info *kind.Info) string {
	if info.Group == "" {
		return info.Singular()
	}
	return info.Singular() + "." + info.Group
}

// parsedArgs are resource arguments: "KIND[,KIND...] [NAME...]" or
// "KIND/NAME...".
type parsedArgs struct {
	kinds   []*kind.Info
	targets []target
}

func (e *env) namespaceFor(info *kind.Info) string {
	if !info.Namespaced {
		return ""
	}
	return e.defaultNamespace()
}

func (e *env) parseResourceArgs(args []string) (parsedArgs, error) {
	var p parsedArgs
	if len(args) == 0 {
		return p, nil
	}
	if strings.Contains(args[0], "/") {
		for _, a := range args {
			k, name, ok := strings.Cut(a, "/")
			if !ok || k == "" || name == "" {
				return p, fmt.Errorf("there is no need to specify a resource type as a separate argument when passing arguments in resource/name form (e.g. 'flotctl get resource/<resource_name>' instead of 'flotctl get resource resource/<resource_name>'): %q", a)
			}
			info, err := resolveKind(k)
			if err != nil {
				return p, err
			}
			p.targets = append(p.targets, target{info: info, namespace: e.namespaceFor(info), name: name})
		}
		return p, nil
	}
	for _, k := range strings.Split(args[0], ",") {
		if k == "" {
			continue
		}
		info, err := resolveKind(k)
		if err != nil {
			return p, err
		}
		p.kinds = append(p.kinds, info)
	}
	for _, name := range args[1:] {
		if strings.Contains(name, "/") {
			return p, fmt.Errorf("there is no need to specify a resource type as a separate argument when passing arguments in resource/name form (e.g. 'flotctl get resource/<resource_name>' instead of 'flotctl get resource resource/<resource_name>')")
		}
		for _, info := range p.kinds {
			p.targets = append(p.targets, target{info: info, namespace: e.namespaceFor(info), name: name})
		}
	}
	return p, nil
}

// targetsFromFiles reads -f manifests as targets (delete -f, get -f).
func (e *env) targetsFromFiles(files []string, recursive bool) ([]target, error) {
	objs, err := manifest.Read(files, recursive, e.In)
	if err != nil {
		return nil, err
	}
	var out []target
	for _, o := range objs {
		info, _ := kind.ForMessage(o.Object)
		if err := e.placeInNamespace(info, o.Object); err != nil {
			return nil, err
		}
		out = append(out, target{info: info, namespace: object.Meta(o.Object).GetNamespace(), name: object.Meta(o.Object).GetName()})
	}
	return out, nil
}

// placeInNamespace sets a manifest object's namespace: its own, else -n,
// else "default"; a -n that contradicts the manifest is an error, as kubectl.
// Cluster-scoped objects have none.
func (e *env) placeInNamespace(info *kind.Info, obj proto.Message) error {
	md := object.Meta(obj)
	if !info.Namespaced {
		md.Namespace = ""
		return nil
	}
	if md.Namespace == "" {
		md.Namespace = e.defaultNamespace()
		return nil
	}
	if e.namespace != "" && e.namespace != md.Namespace {
		return fmt.Errorf("the namespace from the provided object %q does not match the namespace %q. You must pass '--namespace=%s' to perform this operation.", md.Namespace, e.namespace, md.Namespace)
	}
	return nil
}

// selectTargets lists the objects of kinds matching a label selector (and
// field selector), for -l and --all.
func (e *env) selectTargets(ctx context.Context, api *client.Dynamic, kinds []*kind.Info, allNamespaces bool, labelSel, fieldSel string) ([]target, error) {
	var out []target
	for _, info := range kinds {
		ns := e.namespaceFor(info)
		if allNamespaces {
			ns = ""
		}
		l, err := api.ListAll(ctx, info.Kind, client.ListOptions{Namespace: ns, LabelSelector: labelSel, FieldSelector: fieldSel})
		if err != nil {
			return nil, err
		}
		for _, o := range l.Items {
			md := object.Meta(o)
			out = append(out, target{info: info, namespace: md.GetNamespace(), name: md.GetName()})
		}
	}
	return out, nil
}
