package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	kubeletv1 "flotilla.io/proto/flotilla/kubelet/v1"
)

// exitCodeError carries a remote command's exit code to flotctl's own, as
// kubectl exec does.
type exitCodeError struct{ code int }

func (e exitCodeError) Error() string {
	return fmt.Sprintf("command terminated with exit code %d", e.code)
}

type execOptions struct {
	container string
	stdin     bool
	tty       bool
}

func newExec(e *env) *cobra.Command {
	o := &execOptions{}
	cmd := &cobra.Command{
		Use:   "exec POD [-c CONTAINER] [-i] [-t] -- COMMAND [args...]",
		Short: "Execute a command in a container",
		Example: "  flotctl exec web -- date\n  flotctl exec -it web -c app -- sh\n" +
			"  echo hi | flotctl exec -i web -- cat",
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dash := cmd.ArgsLenAtDash()
			if dash < 0 || len(args) < 2 {
				return errors.New("you must specify at least one command for the container: flotctl exec POD -- COMMAND")
			}
			if dash != 1 {
				return errors.New("exec takes one pod before --, then the command")
			}
			return e.runExec(cmd.Context(), o, args[0], args[1:])
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.container, "container", "c", "", "container name; defaults to the pod's only (or default) container")
	f.BoolVarP(&o.stdin, "stdin", "i", false, "pass stdin to the container")
	f.BoolVarP(&o.tty, "tty", "t", false, "stdin is a TTY")
	return cmd
}

func (e *env) runExec(ctx context.Context, o *execOptions, arg string, command []string) error {
	pod, err := podName(arg)
	if err != nil {
		return err
	}
	ns := e.defaultNamespace()
	container, err := e.defaultContainer(ctx, ns, pod, o.container)
	if err != nil {
		return err
	}
	// A TTY needs a terminal on our side; without one kubectl warns and
	// goes on without.
	var termFd int = -1
	if o.tty {
		if f, ok := e.In.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			termFd = int(f.Fd())
		} else {
			fmt.Fprintln(e.ErrOut, "Unable to use a TTY - input is not a terminal or the right kind of file")
			o.tty = false
		}
	}
	np, err := e.nodeProxy(ctx)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := np.PodExec(ctx)
	if err != nil {
		return err
	}
	var sendMu sync.Mutex
	send := func(r *kubeletv1.ExecRequest) error {
		sendMu.Lock()
		defer sendMu.Unlock()
		return stream.Send(r)
	}
	start := &kubeletv1.ExecStart{Namespace: ns, Pod: pod, Container: container, Command: command, Stdin: o.stdin, Tty: o.tty}
	if err := send(&kubeletv1.ExecRequest{Request: &kubeletv1.ExecRequest_Start{Start: start}}); err != nil {
		return err
	}
	if termFd >= 0 {
		state, err := term.MakeRaw(termFd)
		if err != nil {
			return fmt.Errorf("terminal raw mode: %w", err)
		}
		defer func() { _ = term.Restore(termFd, state) }()
		sendSize := func() {
			if w, h, err := term.GetSize(termFd); err == nil {
				_ = send(&kubeletv1.ExecRequest{Request: &kubeletv1.ExecRequest_Resize{Resize: &kubeletv1.TerminalSize{Width: uint32(w), Height: uint32(h)}}})
			}
		}
		sendSize()
		winch := make(chan os.Signal, 1)
		signal.Notify(winch, syscall.SIGWINCH)
		defer signal.Stop(winch)
		go func() {
			for {
				select {
				case <-ctx.Done():
					return
				case <-winch:
					sendSize()
				}
			}
		}()
	}
	if o.stdin {
		go func() {
			buf := make([]byte, 32<<10)
			for {
				n, err := e.In.Read(buf)
				if n > 0 {
					if serr := send(&kubeletv1.ExecRequest{Request: &kubeletv1.ExecRequest_Stdin{Stdin: append([]byte(nil), buf[:n]...)}}); serr != nil {
						return
					}
				}
				if err != nil {
					_ = send(&kubeletv1.ExecRequest{Request: &kubeletv1.ExecRequest_CloseStdin{CloseStdin: true}})
					return
				}
			}
		}()
	} else {
		_ = stream.CloseSend()
	}
	code := -1
	for {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		switch r := msg.Response.(type) {
		case *kubeletv1.ExecResponse_Stdout:
			if _, err := e.Out.Write(r.Stdout); err != nil {
				return err
			}
		case *kubeletv1.ExecResponse_Stderr:
			if _, err := e.ErrOut.Write(r.Stderr); err != nil {
				return err
			}
		case *kubeletv1.ExecResponse_ExitCode:
			code = int(r.ExitCode)
		}
	}
	switch code {
	case 0:
		return nil
	case -1:
		return errors.New("the exec stream ended without an exit code")
	}
	return exitCodeError{code: code}
}
