package cli_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
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
