package cli

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"k8s.io/apimachinery/pkg/api/resource"

	apiv1 "flotilla.io/proto/flotilla/api/v1"
	corev1 "flotilla.io/proto/flotilla/core/v1"
	kubeletv1 "flotilla.io/proto/flotilla/kubelet/v1"
	"flotilla.io/sdk/client"
)

func newTop(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "top (pods|nodes)",
		Short: "Display resource (CPU/memory) usage of pods or nodes, read from the kubelets' cgroups",
	}
	var allNamespaces, containers, noHeaders bool
	var selector, sortBy string
	pods := &cobra.Command{
		Use:     "pods [NAME]",
		Aliases: []string{"pod", "po"},
		Short:   "Display resource (CPU/memory) usage of pods",
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o := topPodsOptions{allNamespaces: allNamespaces, containers: containers, noHeaders: noHeaders, selector: selector, sortBy: sortBy}
			if len(args) == 1 {
				o.name = args[0]
			}
			return e.runTopPods(cmd.Context(), o)
		},
	}
	pf := pods.Flags()
	pf.BoolVarP(&allNamespaces, "all-namespaces", "A", false, "list the pods of every namespace")
	pf.BoolVar(&containers, "containers", false, "print the usage of each container")
	pf.BoolVar(&noHeaders, "no-headers", false, "print no header row")
	pf.StringVarP(&selector, "selector", "l", "", "only pods matching this label selector")
	pf.StringVar(&sortBy, "sort-by", "", `"cpu" or "memory": sort by that usage, highest first`)
	var nodeNoHeaders bool
	var nodeSelector, nodeSortBy string
	nodes := &cobra.Command{
		Use:     "nodes [NAME]",
		Aliases: []string{"node", "no"},
		Short:   "Display resource (CPU/memory) usage of nodes",
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := ""
			if len(args) == 1 {
				name = args[0]
			}
			return e.runTopNodes(cmd.Context(), name, nodeSelector, nodeSortBy, nodeNoHeaders)
		},
	}
	nf := nodes.Flags()
	nf.BoolVar(&nodeNoHeaders, "no-headers", false, "print no header row")
	nf.StringVarP(&nodeSelector, "selector", "l", "", "only nodes matching this label selector")
	nf.StringVar(&nodeSortBy, "sort-by", "", `"cpu" or "memory": sort by that usage, highest first`)
	cmd.AddCommand(pods, nodes)
	return cmd
}

type topPodsOptions struct {
	name                                 string
	allNamespaces, containers, noHeaders bool
	selector, sortBy                     string
}

// nodeStats asks the apiserver for the kubelets' stats.
func (e *env) nodeStats(ctx context.Context, req *apiv1.NodeStatsRequest) (*apiv1.NodeStatsResponse, error) {
	np, err := e.nodeProxy(ctx)
	if err != nil {
		return nil, err
	}
	resp, err := np.NodeStats(ctx, req)
	if status.Code(err) == codes.Unimplemented {
		return nil, fmt.Errorf("the apiserver does not serve node stats (NodeProxyService.NodeStats): %s", status.Convert(err).Message())
	}
	if err != nil {
		return nil, err
	}
	for node, msg := range resp.Errors {
		fmt.Fprintf(e.ErrOut, "warning: node %s: %s\n", node, msg)
	}
	return resp, nil
}

func (e *env) runTopPods(ctx context.Context, o topPodsOptions) error {
	if o.sortBy != "" && o.sortBy != "cpu" && o.sortBy != "memory" {
		return fmt.Errorf("--sort-by accepts only cpu or memory")
	}
	ns := e.defaultNamespace()
	if o.allNamespaces {
		ns = ""
	}
	var keep map[string]bool // namespace/name, from the label selector
	if o.selector != "" {
		api, err := e.api(ctx)
		if err != nil {
			return err
		}
		l, err := api.ListAll(ctx, "Pod", client.ListOptions{Namespace: ns, LabelSelector: o.selector})
		if err != nil {
			return err
		}
		keep = map[string]bool{}
		for _, obj := range l.Items {
			m := obj.(*corev1.Pod).GetMetadata()
			keep[m.GetNamespace()+"/"+m.GetName()] = true
		}
	}
	resp, err := e.nodeStats(ctx, &apiv1.NodeStatsRequest{Stats: &kubeletv1.StatsRequest{Namespace: ns, Pod: o.name}})
	if err != nil {
		return err
	}
	var pods []*kubeletv1.PodStats
	for _, n := range resp.Nodes {
		for _, p := range n.Pods {
			if keep != nil && !keep[p.Namespace+"/"+p.Name] {
				continue
			}
			pods = append(pods, p)
		}
	}
	if len(pods) == 0 {
		if o.name != "" {
			return fmt.Errorf("pods %q not found (or no metrics available yet)", o.name)
		}
		where := "in " + ns + " namespace"
		if ns == "" {
			where = "in any namespace"
		}
		fmt.Fprintf(e.ErrOut, "No resources found %s.\n", where)
		return nil
	}
	return printTopPods(e.Out, pods, o)
}

func podUsage(p *kubeletv1.PodStats) (nanoCores, workingSet uint64) {
	for _, c := range p.Containers {
		nanoCores += c.GetCpu().GetUsageNanoCores()
		workingSet += c.GetMemory().GetWorkingSetBytes()
	}
	return nanoCores, workingSet
}

func printTopPods(w io.Writer, pods []*kubeletv1.PodStats, o topPodsOptions) error {
	slices.SortFunc(pods, func(a, b *kubeletv1.PodStats) int {
		if o.sortBy != "" {
			ac, am := podUsage(a)
			bc, bm := podUsage(b)
			x, y := ac, bc
			if o.sortBy == "memory" {
				x, y = am, bm
			}
			if x != y {
				if x > y {
					return -1
				}
				return 1
			}
		}
		return strings.Compare(a.Namespace+"/"+a.Name, b.Namespace+"/"+b.Name)
	})
	tw := tabwriter.NewWriter(w, 0, 8, 3, ' ', 0)
	var cols []string
	if o.allNamespaces {
		cols = append(cols, "NAMESPACE")
	}
	if o.containers {
		cols = append(cols, "POD", "NAME")
	} else {
		cols = append(cols, "NAME")
	}
	cols = append(cols, "CPU(cores)", "MEMORY(bytes)")
	if !o.noHeaders {
		fmt.Fprintln(tw, strings.Join(cols, "\t"))
	}
	for _, p := range pods {
		prefix := ""
		if o.allNamespaces {
			prefix = p.Namespace + "\t"
		}
		if o.containers {
			cs := slices.Clone(p.Containers)
			slices.SortFunc(cs, func(a, b *kubeletv1.ContainerStats) int { return strings.Compare(a.Name, b.Name) })
			for _, c := range cs {
				fmt.Fprintf(tw, "%s%s\t%s\t%s\t%s\n", prefix, p.Name, c.Name, cpuCell(c.GetCpu().GetUsageNanoCores()), memCell(c.GetMemory().GetWorkingSetBytes()))
			}
			continue
		}
		cpu, mem := podUsage(p)
		fmt.Fprintf(tw, "%s%s\t%s\t%s\n", prefix, p.Name, cpuCell(cpu), memCell(mem))
	}
	return tw.Flush()
}

// cpuCell and memCell format as kubectl top: millicores and mebibytes.
func cpuCell(nanoCores uint64) string { return fmt.Sprintf("%dm", nanoCores/1e6) }
func memCell(bytes uint64) string     { return fmt.Sprintf("%dMi", bytes/(1<<20)) }

func (e *env) runTopNodes(ctx context.Context, name, selector, sortBy string, noHeaders bool) error {
	if sortBy != "" && sortBy != "cpu" && sortBy != "memory" {
		return fmt.Errorf("--sort-by accepts only cpu or memory")
	}
	api, err := e.api(ctx)
	if err != nil {
		return err
	}
	var nodes []*corev1.Node
	if name != "" {
		obj, err := api.Get(ctx, "Node", "", name)
		if err != nil {
			return err
		}
		nodes = append(nodes, obj.(*corev1.Node))
	} else {
		l, err := api.ListAll(ctx, "Node", client.ListOptions{LabelSelector: selector})
		if err != nil {
			return err
		}
		for _, obj := range l.Items {
			nodes = append(nodes, obj.(*corev1.Node))
		}
	}
	if len(nodes) == 0 {
		fmt.Fprintln(e.ErrOut, "No resources found")
		return nil
	}
	req := &apiv1.NodeStatsRequest{Stats: &kubeletv1.StatsRequest{}}
	for _, n := range nodes {
		req.Nodes = append(req.Nodes, n.GetMetadata().GetName())
	}
	resp, err := e.nodeStats(ctx, req)
	if err != nil {
		return err
	}
	return printTopNodes(e.Out, nodes, resp.Nodes, sortBy, noHeaders)
}

func printTopNodes(w io.Writer, nodes []*corev1.Node, stats []*kubeletv1.StatsResponse, sortBy string, noHeaders bool) error {
	byName := map[string]*kubeletv1.NodeStats{}
	for _, s := range stats {
		byName[s.GetNode().GetNodeName()] = s.GetNode()
	}
	type row struct {
		name     string
		cpu, mem uint64
		node     *corev1.Node
	}
	var rows []row
	var missing []string
	for _, n := range nodes {
		s := byName[n.GetMetadata().GetName()]
		if s == nil {
			missing = append(missing, n.GetMetadata().GetName())
			continue
		}
		cpu, mem := s.GetCpu(), s.GetMemory()
		if cpu == nil {
			cpu, mem = s.GetPodsCpu(), s.GetPodsMemory()
		}
		rows = append(rows, row{name: n.GetMetadata().GetName(), cpu: cpu.GetUsageNanoCores(), mem: mem.GetWorkingSetBytes(), node: n})
	}
	slices.SortFunc(rows, func(a, b row) int {
		x, y := a.cpu, b.cpu
		if sortBy == "memory" {
			x, y = a.mem, b.mem
		}
		if sortBy != "" && x != y {
			if x > y {
				return -1
			}
			return 1
		}
		return strings.Compare(a.name, b.name)
	})
	tw := tabwriter.NewWriter(w, 0, 8, 3, ' ', 0)
	if !noHeaders {
		fmt.Fprintln(tw, "NAME\tCPU(cores)\tCPU(%)\tMEMORY(bytes)\tMEMORY(%)")
	}
	for _, r := range rows {
		alloc := r.node.GetStatus().GetAllocatable()
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.name, cpuCell(r.cpu), percent(float64(r.cpu)/1e9, alloc["cpu"].GetString_()),
			memCell(r.mem), percent(float64(r.mem), alloc["memory"].GetString_()))
	}
	for _, m := range missing {
		fmt.Fprintf(tw, "%s\t<unknown>\t<unknown>\t<unknown>\t<unknown>\n", m)
	}
	return tw.Flush()
}

// percent is used/allocatable as kubectl prints it; "<unknown>" without
// an allocatable amount.
func percent(used float64, allocatable string) string {
	q, err := resource.ParseQuantity(allocatable)
	if allocatable == "" || err != nil || q.AsApproximateFloat64() <= 0 {
		return "<unknown>"
	}
	return fmt.Sprintf("%d%%", int64(used/q.AsApproximateFloat64()*100))
}
