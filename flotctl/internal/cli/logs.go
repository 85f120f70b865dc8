package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/types/known/timestamppb"

	apiv1 "flotilla.io/proto/flotilla/api/v1"
	corev1 "flotilla.io/proto/flotilla/core/v1"
	kubeletv1 "flotilla.io/proto/flotilla/kubelet/v1"
)

// nodeProxy is the apiserver's NodeProxyService on the client's connection.
func (e *env) nodeProxy(ctx context.Context) (apiv1.NodeProxyServiceClient, error) {
	if _, err := e.api(ctx); err != nil {
		return nil, err
	}
	return apiv1.NewNodeProxyServiceClient(e.client.Conn()), nil
}

// podName accepts NAME or pod/NAME (pods/NAME, po/NAME).
func podName(arg string) (string, error) {
	kind, name, ok := strings.Cut(arg, "/")
	if !ok {
		return arg, nil
	}
	switch strings.ToLower(kind) {
	case "pod", "pods", "po":
		return name, nil
	}
	return "", fmt.Errorf("%s: only pods are supported here (pod/NAME or NAME)", arg)
}

// defaultContainer is -c, else the pod's kubectl.kubernetes.io/default-container
// annotation, else its only container; several containers without a choice
// is kubectl's error.
func (e *env) defaultContainer(ctx context.Context, ns, pod, container string) (string, error) {
	if container != "" {
		return container, nil
	}
	api, err := e.api(ctx)
	if err != nil {
		return "", err
	}
	obj, err := api.Get(ctx, "Pod", ns, pod)
	if err != nil {
		return "", err
	}
	p, ok := obj.(*corev1.Pod)
	if !ok {
		return "", fmt.Errorf("pod %s: unexpected %T", pod, obj)
	}
	if c := p.GetMetadata().GetAnnotations()["kubectl.kubernetes.io/default-container"]; c != "" {
		return c, nil
	}
	cs := p.GetSpec().GetContainers()
	switch len(cs) {
	case 0:
		return "", fmt.Errorf("pod %s has no containers", pod)
	case 1:
		return cs[0].Name, nil
	}
	names := make([]string, len(cs))
	for i, c := range cs {
		names[i] = c.Name
	}
	return "", fmt.Errorf("a container name must be specified for pod %s, choose one of: [%s]", pod, strings.Join(names, " "))
}

type logsOptions struct {
	container  string
	follow     bool
	previous   bool
	tail       int64
	since      time.Duration
	sinceTime  string
	timestamps bool
	limitBytes int64
}

func newLogs(e *env) *cobra.Command {
	o := &logsOptions{}
	cmd := &cobra.Command{
		Use:   "logs POD [-c CONTAINER]",
		Short: "Print the logs for a container in a pod",
		Example: "  flotctl logs web\n  flotctl logs web -c sidecar --tail 20\n  flotctl logs -f web --since 10m\n" +
			"  flotctl logs web --previous",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return e.runLogs(cmd.Context(), o, args[0])
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.container, "container", "c", "", "print the logs of this container")
	f.BoolVarP(&o.follow, "follow", "f", false, "specify if the logs should be streamed")
	f.BoolVarP(&o.previous, "previous", "p", false, "print the logs for the previous instance of the container if it exists")
	f.Int64Var(&o.tail, "tail", -1, "lines of recent log file to display; -1 shows all")
	f.DurationVar(&o.since, "since", 0, "only return logs newer than a relative duration like 5s, 2m, or 3h")
	f.StringVar(&o.sinceTime, "since-time", "", "only return logs after a specific date (RFC3339)")
	f.BoolVar(&o.timestamps, "timestamps", false, "include timestamps on each line in the log output")
	f.Int64Var(&o.limitBytes, "limit-bytes", 0, "maximum bytes of logs to return; 0 means no limit")
	return cmd
}

func (e *env) runLogs(ctx context.Context, o *logsOptions, arg string) error {
	pod, err := podName(arg)
	if err != nil {
		return err
	}
	if o.since != 0 && o.sinceTime != "" {
		return errors.New("at most one of --since or --since-time may be used")
	}
	ns := e.defaultNamespace()
	container, err := e.defaultContainer(ctx, ns, pod, o.container)
	if err != nil {
		return err
	}
	req := &kubeletv1.ContainerLogsRequest{
		Namespace: ns, Pod: pod, Container: container,
		Follow: o.follow, Previous: o.previous, Timestamps: o.timestamps,
	}
	if o.tail >= 0 {
		req.TailLines = &o.tail
	}
	if o.since > 0 {
		s := max(int64(o.since.Round(time.Second)/time.Second), 1)
		req.SinceSeconds = &s
	}
	if o.sinceTime != "" {
		t, err := time.Parse(time.RFC3339, o.sinceTime)
		if err != nil {
			return fmt.Errorf("--since-time: %w", err)
		}
		req.SinceTime = timestamppb.New(t)
	}
	if o.limitBytes > 0 {
		req.LimitBytes = &o.limitBytes
	}
	np, err := e.nodeProxy(ctx)
	if err != nil {
		return err
	}
	stream, err := np.PodLogs(ctx, req)
	if err != nil {
		return err
	}
	for {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			if o.follow && ctx.Err() != nil {
				return nil // interrupted by the user
			}
			return err
		}
		if _, err := e.Out.Write(msg.Data); err != nil {
			return err
		}
	}
}
