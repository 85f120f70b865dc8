package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	kubeletv1 "flotilla.io/proto/flotilla/kubelet/v1"
)

func newImage(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "image",
		Short: "Manage the images on the cluster's nodes",
	}
	var nodes []string
	load := &cobra.Command{
		Use:   "load FILE.tar [--node NODE,...]",
		Short: "Load an image archive (OCI layout or docker-archive tar) into every Ready node, through the apiserver",
		Example: "  flotctl image load bin/images/busybox-1.35.tar\n" +
			"  docker save myapp:dev | flotctl image load - --node node-1",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return e.runImageLoad(cmd.Context(), args[0], nodes)
		},
	}
	load.Flags().StringSliceVar(&nodes, "node", nil, "load only into these nodes (default: every Ready node)")
	cmd.AddCommand(load)
	return cmd
}

const imageChunk = 1 << 20

func (e *env) runImageLoad(ctx context.Context, file string, nodes []string) error {
	var in io.Reader
	name := filepath.Base(file)
	if file == "-" {
		in, name = e.In, "stdin.tar"
	} else {
		f, err := os.Open(file)
		if err != nil {
			return err
		}
		defer f.Close()
		in = f
	}
	if strings.Contains(name, "@") {
		return fmt.Errorf("%s: the archive name may not contain @", name)
	}
	if len(nodes) > 0 {
		name += "@" + strings.Join(nodes, ",")
	}
	np, err := e.nodeProxy(ctx)
	if err != nil {
		return err
	}
	up, err := np.LoadImage(ctx)
	if err != nil {
		return err
	}
	if err := up.Send(&kubeletv1.LoadImageRequest{Request: &kubeletv1.LoadImageRequest_Name{Name: name}}); err != nil {
		return err
	}
	buf := make([]byte, imageChunk)
	for {
		n, rerr := io.ReadFull(in, buf)
		if n > 0 {
			if err := up.Send(&kubeletv1.LoadImageRequest{Request: &kubeletv1.LoadImageRequest_Chunk{Chunk: append([]byte(nil), buf[:n]...)}}); err != nil {
				if errors.Is(err, io.EOF) {
					break // the server ended the call: CloseAndRecv says why
				}
				return err
			}
		}
		if errors.Is(rerr, io.EOF) || errors.Is(rerr, io.ErrUnexpectedEOF) {
			break
		}
		if rerr != nil {
			return rerr
		}
	}
	resp, err := up.CloseAndRecv()
	if err != nil {
		return err
	}
	slices.SortFunc(resp.Nodes, func(a, b *kubeletv1.LoadImageResponse) int { return strings.Compare(a.Node, b.Node) })
	for _, n := range resp.Nodes {
		fmt.Fprintf(e.Out, "%s: loaded %s\n", n.Node, strings.Join(n.Images, ", "))
	}
	failed := make([]string, 0, len(resp.Errors))
	for node := range resp.Errors {
		failed = append(failed, node)
	}
	slices.Sort(failed)
	r := &reporter{w: e.ErrOut}
	for _, node := range failed {
		r.report(fmt.Errorf("node %s: %s", node, resp.Errors[node]))
	}
	return r.result()
}
