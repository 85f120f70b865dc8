// Package cli implements flotctl's commands. Each command lives in its own
// file; they share the global flags, the client and error reporting defined
// here. Run executes one command line in-process, which is how main and the
// integration tests call it.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"time"

	"github.com/spf13/cobra"

	"flotilla.io/sdk/client"
)

// Streams are a command's standard input and outputs.
type Streams struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer
}

// env is what every command shares: streams, global flags and the client,
// connected on first use.
type env struct {
	Streams
	configPath string
	server     string
	token      string
	namespace  string
	// now is the clock for ages; tests may fix it.
	now func() time.Time

	cfg    *client.Config
	client *client.Client
}

// Run executes flotctl with args (without the program name) and returns the
// process exit code: 0 on success, 1 after printing an error to ErrOut.
func Run(ctx context.Context, args []string, s Streams) int {
	e := &env{Streams: s, now: time.Now}
	defer e.close()
	root := newRoot(e)
	root.SetArgs(args)
	root.SetIn(s.In)
	root.SetOut(s.Out)
	root.SetErr(s.ErrOut)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	var exit exitCodeError
	if errors.As(err, &exit) { // exec: the remote command's exit code
		fmt.Fprintln(s.ErrOut, exit.Error())
		return exit.code
	}
	if !errors.Is(err, errReported) {
		fmt.Fprintln(s.ErrOut, FormatError(err))
	}
	return 1
}

func newRoot(e *env) *cobra.Command {
	root := &cobra.Command{
		Use:   "flotctl",
		Short: "flotctl controls a Flotilla cluster",
		Long: "flotctl controls a Flotilla cluster, the way kubectl controls Kubernetes.\n\n" +
			"It reads its configuration from $HOME/.flotilla/config (override with --config or FLOTILLA_CONFIG).",
		SilenceErrors: true,
		SilenceUsage:  true,
	}
	root.CompletionOptions.DisableDefaultCmd = true
	pf := root.PersistentFlags()
	pf.StringVar(&e.configPath, "config", "", "path to the client config file (default $FLOTILLA_CONFIG or $HOME/.flotilla/config)")
	pf.StringVar(&e.server, "server", "", "the address (host:port) of the apiserver, overriding the config")
	pf.StringVar(&e.token, "token", "", "bearer token to authenticate with, to act as another identity")
	pf.StringVarP(&e.namespace, "namespace", "n", "", "the namespace scope of this request")
	root.AddCommand(
		newApply(e),
		newCreate(e),
		newGet(e),
		newDescribe(e),
		newDelete(e),
		newLabel(e, labelKind),
		newLabel(e, annotationKind),
		newPatch(e),
		newWait(e),
		newVersion(e),
		newAPIResources(e),
		newRollout(e),
		newScale(e),
		newSet(e),
		newCordon(e, true),
		newCordon(e, false),
		newDrain(e),
		newTaint(e),
		newAuth(e),
		newLogs(e),
		newExec(e),
		newTop(e),
		newImage(e),
	)
	return root
}

// config loads the client configuration once, applying flag overrides.
func (e *env) config() (*client.Config, error) {
	if e.cfg != nil {
		return e.cfg, nil
	}
	path := client.ResolvePath(e.configPath)
	cfg, err := client.LoadFile(path)
	if err != nil {
		if e.server == "" {
			if errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("no client configuration at %s: `make up` starts a cluster and writes it; or pass --config, set %s, or pass --server", path, client.ConfigEnv)
			}
			return nil, err
		}
		cfg = &client.Config{} // --server alone works without a config file
	}
	if e.server != "" {
		cfg.Server = e.server
	}
	if e.token != "" {
		cfg.Token, cfg.TokenFile = e.token, ""
	}
	e.cfg = cfg
	return cfg, nil
}

// api returns the untyped client, connecting on first use.
func (e *env) api(ctx context.Context) (*client.Dynamic, error) {
	if e.client == nil {
		cfg, err := e.config()
		if err != nil {
			return nil, err
		}
		c, err := client.New(ctx, cfg)
		if err != nil {
			return nil, err
		}
		e.client = c
	}
	return e.client.Dynamic(), nil
}

func (e *env) close() {
	if e.client != nil {
		_ = e.client.Close()
	}
}

// defaultNamespace is -n, else "default". The client config has no namespace
// field yet.
func (e *env) defaultNamespace() string {
	if e.namespace != "" {
		return e.namespace
	}
	return "default"
}

// errReported means the command already printed its errors (e.g. apply of
// several objects, some failing) and only the exit code remains.
var errReported = errors.New("errors reported")

// reporter prints per-object errors as they happen and remembers that one did.
type reporter struct {
	w      io.Writer
	failed bool
}

func (r *reporter) report(err error) {
	r.failed = true
	fmt.Fprintln(r.w, FormatError(err))
}

func (r *reporter) result() error {
	if r.failed {
		return errReported
	}
	return nil
}
