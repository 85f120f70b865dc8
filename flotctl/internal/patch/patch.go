// Package patch applies client-side patches to API objects: JSON merge patch
// (RFC 7386), JSON patch (RFC 6902) and Kubernetes strategic merge patch, all
// on the object's upstream JSON form, decoded back strictly so a patch that
// names an unknown field fails naming it. It also computes the three-way
// merge behind `apply`.
package patch

import (
	"encoding/json"
	"fmt"
	"slices"

	jsonpatch "github.com/evanphx/json-patch/v5"
	"google.golang.org/protobuf/proto"
	"k8s.io/apimachinery/pkg/util/jsonmergepatch"
	"k8s.io/apimachinery/pkg/util/strategicpatch"

	"flotilla.io/proto/codec"
	"flotilla.io/proto/object"
)

// Type is a --type value.
type Type string

const (
	Merge     Type = "merge"
	JSON      Type = "json"
	Strategic Type = "strategic"
)

// ParseType reads --type.
func ParseType(s string) (Type, error) {
	switch t := Type(s); t {
	case Merge, JSON, Strategic:
		return t, nil
	}
	return "", fmt.Errorf("--type must be one of [json merge strategic], not %q", s)
}

// Apply patches obj and returns the result as a new object of the same kind.
// obj is not modified.
func Apply(obj proto.Message, t Type, patch []byte) (proto.Message, error) {
	if !json.Valid(patch) {
		// kubectl also accepts YAML patches; convert them.
		j, err := yamlToJSON(patch)
		if err != nil {
			return nil, fmt.Errorf("unable to parse %q: %w", patch, err)
		}
		patch = j
	}
	doc, err := codec.MarshalJSON(obj)
	if err != nil {
		return nil, err
	}
	var out []byte
	switch t {
	case Merge:
		out, err = jsonpatch.MergePatch(doc, patch)
	case JSON:
		var p jsonpatch.Patch
		p, err = jsonpatch.DecodePatch(patch)
		if err == nil {
			out, err = p.Apply(doc)
		}
	case Strategic:
		var schema any
		schema, err = strategicSchema(object.Kind(obj))
		if err == nil {
			out, err = strategicpatch.StrategicMergePatch(doc, patch, schema)
		}
	default:
		return nil, fmt.Errorf("unknown patch type %q", t)
	}
	if err != nil {
		return nil, fmt.Errorf("unable to apply %s patch: %w", t, err)
	}
	next, err := codec.Unmarshal(out)
	if err != nil {
		return nil, err
	}
	if object.Kind(next) != object.Kind(obj) {
		return nil, fmt.Errorf("a patch cannot change the kind from %s to %s", object.Kind(obj), object.Kind(next))
	}
	return next, nil
}

// LastAppliedAnnotation holds the configuration last applied, as kubectl's
// client-side apply keeps it, so a field removed from the manifest is removed
// from the object while fields set by others are kept.
const LastAppliedAnnotation = "kubectl.kubernetes.io/last-applied-configuration"

// serverFields are metadata fields a manifest may carry (e.g. one saved with
// `get -o yaml`) that apply never sends: the server owns them.
var serverFields = []string{"resourceVersion", "uid", "creationTimestamp", "generation", "deletionTimestamp", "deletionGracePeriodSeconds", "managedFields", "selfLink"}

// Applied is the configuration apply records for a manifest object: its JSON
// without server-owned metadata, status, or the annotation itself.
func Applied(obj proto.Message) ([]byte, error) {
	raw, err := codec.MarshalJSON(obj)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, err
	}
	delete(m, "status")
	if md, ok := m["metadata"].(map[string]any); ok {
		for _, f := range serverFields {
			delete(md, f)
		}
		if ann, ok := md["annotations"].(map[string]any); ok {
			delete(ann, LastAppliedAnnotation)
			if len(ann) == 0 {
				delete(md, "annotations")
			}
		}
	}
	return json.Marshal(m)
}

// ForCreate is the object apply creates: the manifest without server-owned
// fields, annotated with its applied configuration.
func ForCreate(manifest proto.Message) (proto.Message, error) {
	applied, err := Applied(manifest)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(applied, &m); err != nil {
		return nil, err
	}
	md, _ := m["metadata"].(map[string]any)
	if md == nil {
		md = map[string]any{}
		m["metadata"] = md
	}
	ann, _ := md["annotations"].(map[string]any)
	if ann == nil {
		ann = map[string]any{}
		md["annotations"] = ann
	}
	ann[LastAppliedAnnotation] = string(applied) + "\n"
	raw, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	return codec.Unmarshal(raw)
}

// ThreeWay computes what apply writes over live: the changes from the last
// applied configuration (recorded on live) to the manifest, applied to live,
// keeping fields others set. changed is false when nothing would change.
func ThreeWay(manifest, live proto.Message) (next proto.Message, changed bool, err error) {
	applied, err := Applied(manifest)
	if err != nil {
		return nil, false, err
	}
	var modified map[string]any
	if err := json.Unmarshal(applied, &modified); err != nil {
		return nil, false, err
	}
	md, _ := modified["metadata"].(map[string]any)
	ann, _ := md["annotations"].(map[string]any)
	if ann == nil {
		ann = map[string]any{}
		md["annotations"] = ann
	}
	ann[LastAppliedAnnotation] = string(applied) + "\n"
	modifiedJSON, err := json.Marshal(modified)
	if err != nil {
		return nil, false, err
	}
	original := []byte(object.Meta(live).GetAnnotations()[LastAppliedAnnotation])
	if len(original) == 0 {
		original = []byte("{}")
	}
	current, err := codec.MarshalJSON(live)
	if err != nil {
		return nil, false, err
	}
	// Status is the controllers', never apply's: leave it out of the diff.
	current, err = withoutKeys(current, "status")
	if err != nil {
		return nil, false, err
	}
	// Built-in kinds merge lists by key as kubectl does (containers by name,
	// volumes by name, mounts by path), so entries others added survive
	// (e.g. the service account volume the apiserver injects).
	typ, how := Merge, "merge"
	var p []byte
	if schema, serr := strategicSchema(object.Kind(live)); serr == nil {
		meta, merr := strategicpatch.NewPatchMetaFromStruct(schema)
		if merr != nil {
			return nil, false, merr
		}
		p, err = strategicpatch.CreateThreeWayMergePatch(original, modifiedJSON, current, meta, true)
		typ, how = Strategic, "strategic"
	} else {
		p, err = jsonmergepatch.CreateThreeWayJSONMergePatch(original, modifiedJSON, current)
	}
	if err != nil {
		return nil, false, fmt.Errorf("compute %s apply patch: %w", how, err)
	}
	if string(p) == "{}" {
		return live, false, nil
	}
	next, err = Apply(live, typ, p)
	if err != nil {
		return nil, false, err
	}
	return next, !proto.Equal(next, live), nil
}

func withoutKeys(doc []byte, keys ...string) ([]byte, error) {
	var m map[string]any
	if err := json.Unmarshal(doc, &m); err != nil {
		return nil, err
	}
	for k := range m {
		if slices.Contains(keys, k) {
			delete(m, k)
		}
	}
	return json.Marshal(m)
}
