package cli

import (
	"errors"
	"fmt"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	appsv1 "flotilla.io/proto/flotilla/apps/v1"
	corev1 "flotilla.io/proto/flotilla/core/v1"
	metav1 "flotilla.io/proto/flotilla/meta/v1"
)

func TestParseWaitCondition(t *testing.T) {
	for in, want := range map[string]waitCondition{
		"delete":                                 {kind: "delete"},
		"condition=Ready":                        {kind: "condition", name: "Ready", value: "True", hasValue: true},
		"condition=Available=false":              {kind: "condition", name: "Available", value: "false", hasValue: true},
		"jsonpath={.status.phase}=Running":       {kind: "jsonpath", name: "{.status.phase}", value: "Running", hasValue: true},
		"jsonpath='{.status.phase}'=Running":     {kind: "jsonpath", name: "{.status.phase}", value: "Running", hasValue: true},
		"jsonpath='{.status.readyReplicas}'='3'": {kind: "jsonpath", name: "{.status.readyReplicas}", value: "3", hasValue: true},
		"jsonpath={.status.podIP}":               {kind: "jsonpath", name: "{.status.podIP}"},
	} {
		got, err := parseWaitCondition(in)
		if err != nil || got != want {
			t.Errorf("parseWaitCondition(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "ready", "condition=", "jsonpath=.status.phase"} {
		if _, err := parseWaitCondition(bad); err == nil {
			t.Errorf("parseWaitCondition(%q) accepted", bad)
		}
	}
}

func TestWaitConditionMet(t *testing.T) {
	pod := &corev1.Pod{Status: &corev1.PodStatus{Phase: "Running", Conditions: []*corev1.PodCondition{{Type: "Ready", Status: "True"}}}}
	deploy := &appsv1.Deployment{Status: &appsv1.DeploymentStatus{ReadyReplicas: 3,
		Conditions: []*appsv1.DeploymentCondition{{Type: "Available", Status: "False"}}}}
	cases := []struct {
		cond string
		pod  bool
		want bool
	}{
		{"condition=Ready", true, true},
		{"condition=ready=true", true, true},
		{"condition=Ready=False", true, false},
		{"condition=PodScheduled", true, false},
		{"jsonpath={.status.phase}=Running", true, true},
		{"jsonpath={.status.phase}=Pending", true, false},
		{"jsonpath={.status.phase}", true, true},
		{"jsonpath={.status.podIP}", true, false},
		{"condition=Available", false, false},
		{"condition=Available=False", false, true},
		{"jsonpath={.status.readyReplicas}=3", false, true},
	}
	for _, tc := range cases {
		c, err := parseWaitCondition(tc.cond)
		if err != nil {
			t.Fatal(err)
		}
		var got bool
		if tc.pod {
			got, err = c.met(pod)
		} else {
			got, err = c.met(deploy)
		}
		if err != nil || got != tc.want {
			t.Errorf("%s on pod=%v: %v, %v; want %v", tc.cond, tc.pod, got, err, tc.want)
		}
	}
}

func TestMetaChanges(t *testing.T) {
	md := func() *metav1.ObjectMeta {
		return &metav1.ObjectMeta{Labels: map[string]string{"app": "web", "tier": "fe"}}
	}
	parse := func(args ...string) metaChanges {
		t.Helper()
		c, err := parseMetaChanges(labelKind, args)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}

	m := md()
	changed, onlyRemoved, missing, err := applyMetaChanges(labelKind, m, parse("team=blue", "gone-"), false)
	if err != nil || !changed || onlyRemoved || fmt.Sprint(missing) != "[gone]" || m.Labels["team"] != "blue" {
		t.Errorf("add: %v %v %v %v %v", changed, onlyRemoved, missing, err, m.Labels)
	}
	m = md()
	if _, _, _, err := applyMetaChanges(labelKind, m, parse("tier=be"), false); err == nil || err.Error() != "'tier' already has a value (fe), and --overwrite is false" {
		t.Errorf("overwrite refused: %v", err)
	}
	if m.Labels["tier"] != "fe" {
		t.Error("a refused change was applied")
	}
	changed, _, _, err = applyMetaChanges(labelKind, m, parse("tier=fe"), false)
	if err != nil || changed {
		t.Errorf("same value: changed=%v err=%v", changed, err)
	}
	changed, onlyRemoved, _, err = applyMetaChanges(labelKind, m, parse("tier-", "app-"), false)
	if err != nil || !changed || !onlyRemoved || m.Labels != nil {
		t.Errorf("remove all: %v %v %v %v", changed, onlyRemoved, err, m.Labels)
	}
	if _, err := parseMetaChanges(labelKind, []string{"a=b", "a-"}); err == nil {
		t.Error("modify and remove of one key accepted")
	}
	if _, err := parseMetaChanges(labelKind, []string{"app=has space"}); err == nil {
		t.Error("invalid label value accepted")
	}
	if _, err := parseMetaChanges(annotationKind, []string{"note=has space, and more"}); err != nil {
		t.Errorf("annotation values are free text: %v", err)
	}
	res, ch := splitMetaArgs([]string{"pod", "web", "a=b", "c-"})
	if fmt.Sprint(res) != "[pod web]" || fmt.Sprint(ch) != "[a=b c-]" {
		t.Errorf("split: %v %v", res, ch)
	}
}

func TestFormatError(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{fmt.Errorf("get Pod default/x: %w", status.Error(codes.NotFound, `pods "x" not found`)), `Error from server (NotFound): pods "x" not found`},
		{withContext(`error when creating "a.yaml"`, fmt.Errorf("create: %w", status.Error(codes.AlreadyExists, `pods "x" already exists`))),
			`Error from server (AlreadyExists): error when creating "a.yaml": pods "x" already exists`},
		{status.Error(codes.Aborted, "Operation cannot be fulfilled"), "Error from server (Conflict): Operation cannot be fulfilled"},
		{status.Error(codes.InvalidArgument, `Pod "x" is invalid: spec.containers: Required value`), `The Pod "x" is invalid: spec.containers: Required value`},
		{status.Error(codes.InvalidArgument, `labelSelector: bad`), `Error from server (BadRequest): labelSelector: bad`},
		{status.Error(codes.PermissionDenied, "no"), "Error from server (Forbidden): no"},
		{status.Error(codes.Unauthenticated, "invalid bearer token"), "error: You must be logged in to the server (Unauthorized): invalid bearer token"},
		{status.Error(codes.OutOfRange, "Expired: too old"), "Error from server (Expired): Expired: too old"},
		{status.Error(codes.Unavailable, "connection refused"), "Unable to connect to the server: connection refused"},
		{errors.New(`the server doesn't have a resource type "foo"`), `error: the server doesn't have a resource type "foo"`},
	} {
		if got := FormatError(tc.err); got != tc.want {
			t.Errorf("FormatError(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}

func TestDeleteGrace(t *testing.T) {
	for _, tc := range []struct {
		o    deleteOptions
		want string
	}{
		{deleteOptions{gracePeriod: -1}, "<nil>"},
		{deleteOptions{gracePeriod: 30}, "30"},
		{deleteOptions{gracePeriod: -1, force: true}, "0"},
		{deleteOptions{gracePeriod: 0, force: true}, "0"},
		{deleteOptions{gracePeriod: 0}, "1"},
		{deleteOptions{gracePeriod: -1, now: true}, "1"},
	} {
		g, err := tc.o.grace()
		got := "<nil>"
		if g != nil {
			got = fmt.Sprint(*g)
		}
		if err != nil || got != tc.want {
			t.Errorf("%+v: %s %v, want %s", tc.o, got, err, tc.want)
		}
	}
	if _, err := (&deleteOptions{gracePeriod: 5, now: true}).grace(); err == nil {
		t.Error("--now with --grace-period accepted")
	}
}

func TestParseResourceArgs(t *testing.T) {
	e := &env{namespace: "shop"}
	p, err := e.parseResourceArgs([]string{"po,deploy", "a", "b"})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.kinds) != 2 || len(p.targets) != 4 || p.targets[0].String() != `pods "a"` || p.targets[1].String() != `deployments.apps "a"` || p.targets[0].namespace != "shop" {
		t.Errorf("kinds and names: %+v", p)
	}
	p, err = e.parseResourceArgs([]string{"no/n1", "pod/web"})
	if err != nil || len(p.targets) != 2 || p.targets[0].namespace != "" || p.targets[1].namespace != "shop" || p.targets[0].slashName() != "nodes/n1" {
		t.Errorf("slash form: %+v %v", p, err)
	}
	if _, err := e.parseResourceArgs([]string{"gizmo"}); err == nil || err.Error() != `the server doesn't have a resource type "gizmo"` {
		t.Errorf("unknown kind: %v", err)
	}
	if _, err := e.parseResourceArgs([]string{"pod", "pod/web"}); err == nil {
		t.Error("mixed forms accepted")
	}
}
