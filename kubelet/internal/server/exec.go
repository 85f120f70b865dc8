package server

import (
	"context"
	"errors"
	"io"
	"sync"

	"go.uber.org/zap"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	kubeletv1 "flotilla.io/proto/flotilla/kubelet/v1"
)

// Exec runs a command: the first message starts it, later ones carry stdin,
// resizes and close_stdin (a half-close also closes stdin); the last
// response carries the exit code.
func (s *Server) Exec(stream kubeletv1.KubeletService_ExecServer) error {
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	start := first.GetStart()
	if start == nil {
		return status.Error(codes.InvalidArgument, "the first exec message must be start")
	}
	if start.Namespace == "" || start.Pod == "" || len(start.Command) == 0 {
		return status.Error(codes.InvalidArgument, "namespace, pod and command are required")
	}
	ctx, cancel := context.WithCancel(stream.Context())
	defer cancel()

	var sendMu sync.Mutex
	send := func(r *kubeletv1.ExecResponse) error {
		sendMu.Lock()
		defer sendMu.Unlock()
		return stream.Send(r)
	}
	stdout := writerFunc(func(p []byte) error {
		return send(&kubeletv1.ExecResponse{Response: &kubeletv1.ExecResponse_Stdout{Stdout: append([]byte(nil), p...)}})
	})
	stderr := writerFunc(func(p []byte) error {
		return send(&kubeletv1.ExecResponse{Response: &kubeletv1.ExecResponse_Stderr{Stderr: append([]byte(nil), p...)}})
	})

	var stdin io.Reader
	var stdinW *io.PipeWriter
	if start.Stdin {
		var r *io.PipeReader
		r, stdinW = io.Pipe()
		defer r.Close() // unblocks a writer the command never read
		stdin = r
	}
	resize := make(chan *kubeletv1.TerminalSize, 8)
	go func() { // client -> command
		closeStdin := func() {
			if stdinW != nil {
				_ = stdinW.Close()
			}
		}
		defer closeStdin()
		for {
			msg, err := stream.Recv()
			if err != nil {
				return // EOF (half-close) or the call ended
			}
			switch r := msg.Request.(type) {
			case *kubeletv1.ExecRequest_Stdin:
				if stdinW != nil {
					if _, err := stdinW.Write(r.Stdin); err != nil {
						return
					}
				}
			case *kubeletv1.ExecRequest_CloseStdin:
				if r.CloseStdin {
					closeStdin()
				}
			case *kubeletv1.ExecRequest_Resize:
				if !start.Tty {
					continue
				}
				select { // the newest size matters; drop when nobody reads
				case resize <- r.Resize:
				default:
				}
			}
		}
	}()

	code, err := s.cfg.Runtime.Exec(ctx, start.Namespace, start.Pod, start.Container, start.Command, start.Tty, stdin, stdout, stderr, resize)
	if err != nil {
		return err
	}
	return send(&kubeletv1.ExecResponse{Response: &kubeletv1.ExecResponse_ExitCode{ExitCode: int32(code)}})
}

type writerFunc func([]byte) error

func (f writerFunc) Write(p []byte) (int, error) {
	if err := f(p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// LoadImage pipes the archive's chunks to the runtime as they arrive.
func (s *Server) LoadImage(stream kubeletv1.KubeletService_LoadImageServer) error {
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	name := first.GetName()
	if name == "" {
		return status.Error(codes.InvalidArgument, "the first message must name the archive")
	}
	r, w := io.Pipe()
	type result struct {
		images []string
		err    error
	}
	done := make(chan result, 1)
	go func() {
		images, err := s.cfg.Runtime.LoadImage(stream.Context(), r)
		_ = r.CloseWithError(errors.New("the runtime stopped reading the archive"))
		done <- result{images, err}
	}()
	for {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			_ = w.Close()
			break
		}
		if err != nil {
			_ = w.CloseWithError(err)
			<-done
			return err
		}
		if _, err := w.Write(msg.GetChunk()); err != nil {
			break // the runtime failed or finished: its answer says which
		}
	}
	res := <-done
	if res.err != nil {
		if _, ok := status.FromError(res.err); ok {
			return res.err
		}
		return status.Errorf(codes.InvalidArgument, "load %s: %v", name, res.err)
	}
	s.log.Info("image loaded", zap.String("archive", name), zap.Strings("images", res.images))
	return stream.SendAndClose(&kubeletv1.LoadImageResponse{Images: res.images})
}
