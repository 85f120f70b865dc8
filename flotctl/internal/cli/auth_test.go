package cli_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"flotilla.io/apiserver/testserver"
	"flotilla.io/flotctl/internal/cli"
)

func TestAuthCanI(t *testing.T) {
	s := testserver.Start(t)
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "config")
	if err := s.Config.Save(cfgPath); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) (int, string) {
		var out, errOut bytes.Buffer
		code := cli.Run(context.Background(), append([]string{"--config", cfgPath}, args...), cli.Streams{In: os.Stdin, Out: &out, ErrOut: &errOut})
		return code, out.String() + errOut.String()
	}
	cases := []struct {
		args []string
		code int
		out  string
	}{
		{[]string{"auth", "can-i", "create", "pods"}, 0, "yes\n"},
		{[]string{"auth", "can-i", "delete", "nodes", "--as", "alice"}, 1, "no\n"},
		{[]string{"auth", "can-i", "get", "pods/log", "-n", "x", "--as", "bob", "--as-group", "system:masters"}, 0, "yes\n"},
		{[]string{"auth", "can-i", "get", "leases.coordination.k8s.io", "--as", "system:scheduler"}, 0, "yes\n"},
		{[]string{"auth", "can-i", "list", "pods", "--as", "system:scheduler"}, 0, "yes\n"},
		{[]string{"auth", "can-i", "delete", "secrets", "--as", "system:scheduler"}, 1, "no\n"},
		{[]string{"auth", "can-i", "get", "gadgets"}, 1, "error: the server doesn't have a resource type \"gadgets\"\n"},
		{[]string{"auth", "can-i", "get", "pods", "--token", testserver.UserToken, "--as", "admin"}, 1, ""},
	}
	for _, tc := range cases {
		code, out := run(tc.args...)
		if code != tc.code || (tc.out != "" && out != tc.out) {
			t.Errorf("%v: exit %d %q, want %d %q", tc.args, code, out, tc.code, tc.out)
		}
	}
}

func TestCreateToken(t *testing.T) {
	s := testserver.Start(t)
	cfgPath := filepath.Join(t.TempDir(), "config")
	if err := s.Config.Save(cfgPath); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) (int, string) {
		var out, errOut bytes.Buffer
		code := cli.Run(context.Background(), append([]string{"--config", cfgPath}, args...), cli.Streams{In: os.Stdin, Out: &out, ErrOut: &errOut})
		return code, out.String() + errOut.String()
	}
	if code, out := run("create", "token", "ghost"); code != 1 || !strings.Contains(out, `serviceaccounts "ghost" not found`) {
		t.Fatalf("token for a missing account: %d %q", code, out)
	}
	manifest := filepath.Join(t.TempDir(), "sa.yaml")
	if err := os.WriteFile(manifest, []byte("apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: builder\n  namespace: default\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out := run("apply", "-f", manifest); code != 0 {
		t.Fatal(out)
	}
	code, tok := run("create", "token", "builder", "--duration", "15m")
	if code != 0 || strings.Count(strings.TrimSpace(tok), ".") != 2 {
		t.Fatalf("token: %d %q", code, tok)
	}
	// The token is a working identity: RBAC answers for the account.
	if code, out := run("auth", "can-i", "list", "pods", "--token", strings.TrimSpace(tok)); code != 1 || out != "no\n" {
		t.Fatalf("can-i with the token: %d %q", code, out)
	}
}
