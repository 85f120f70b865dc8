package volume

import (
	"context"
	"flag"
	"path/filepath"

	"google.golang.org/protobuf/proto"

	corev1 "flotilla.io/proto/flotilla/core/v1"
	metav1 "flotilla.io/proto/flotilla/meta/v1"
	"flotilla.io/sdk/client"
	"flotilla.io/sdk/informer"
	"flotilla.io/sdk/workqueue"

	"flotilla.io/controller-manager/internal/controller"
)

// The local-path provisioner's storage class and annotation.
const (
	LocalPathClass    = "local-path"
	ProvisionedBy     = "pv.kubernetes.io/provisioned-by"
	LocalPathName     = "flotilla.io/local-path"
	HostnameLabel     = "kubernetes.io/hostname"
	DefaultLocalPaths = "/var/lib/flotilla/local-path"
)

// Options tune the provisioner.
type Options struct {
	// BaseDir is the directory on each node under which volumes are made.
	BaseDir string
}

// Flags holds the values the process's flags set (see AddFlags).
var Flags = Options{BaseDir: DefaultLocalPaths}

// AddFlags binds o to command-line flags.
func (o *Options) AddFlags(fs *flag.FlagSet) {
	fs.StringVar(&o.BaseDir, "local-path-base-dir", o.BaseDir, "directory on each node holding local-path volumes")
}

func init() {
	controller.Register("local-path-provisioner", func(c *controller.Context) (controller.Loop, error) { return NewProvisioner(c, Flags) })
}

// Provisioner makes a hostPath volume for each "local-path" claim on the
// node where the first pod using it lands (WaitForFirstConsumer): the
// volume is pinned there by nodeAffinity and pre-bound to the claim, which
// the binder then binds. The directory is created by the kubelet when it
// mounts the volume (DirectoryOrCreate).
type Provisioner struct {
	c      *controller.Context
	opts   Options
	claims *informer.Informer[*corev1.PersistentVolumeClaim]
	pods   *informer.Informer[*corev1.Pod]
	api    *client.Resource[*corev1.PersistentVolume]
	queue  workqueue.Queue[string]
}

const byClaim = "volume.claim"

// NewProvisioner builds the loop.
func NewProvisioner(c *controller.Context, o Options) (*Provisioner, error) {
	p := &Provisioner{
		c: c, opts: o, claims: informer.For[*corev1.PersistentVolumeClaim](c.Informers), pods: informer.For[*corev1.Pod](c.Informers),
		api:   client.For[*corev1.PersistentVolume](c.Client),
		queue: workqueue.New("local-path-provisioner", workqueue.Options[string]{Metrics: workqueue.NewMetrics(c.Registry)}),
	}
	if err := p.pods.AddIndex(byClaim, func(pod *corev1.Pod) []string {
		var out []string
		for _, v := range pod.GetSpec().GetVolumes() {
			if c := v.GetPersistentVolumeClaim(); c != nil {
				out = append(out, informer.Key(pod.GetMetadata().GetNamespace(), c.GetClaimName()))
			}
		}
		return out
	}); err != nil {
		return nil, err
	}
	addClaim := func(pvc *corev1.PersistentVolumeClaim) { p.queue.Add(informer.KeyOf(pvc)) }
	p.claims.AddHandler(informer.Handler[*corev1.PersistentVolumeClaim]{OnAdd: addClaim, OnUpdate: func(_, pvc *corev1.PersistentVolumeClaim) { addClaim(pvc) }})
	addPod := func(pod *corev1.Pod) {
		if pod.GetSpec().GetNodeName() == "" {
			return
		}
		for _, v := range pod.GetSpec().GetVolumes() {
			if c := v.GetPersistentVolumeClaim(); c != nil {
				p.queue.Add(informer.Key(pod.GetMetadata().GetNamespace(), c.GetClaimName()))
			}
		}
	}
	p.pods.AddHandler(informer.Handler[*corev1.Pod]{OnAdd: addPod, OnUpdate: func(_, pod *corev1.Pod) { addPod(pod) }})
	return p, nil
}

// Start runs the workers until ctx ends.
func (p *Provisioner) Start(ctx context.Context) error {
	workqueue.Run(ctx, p.queue, p.c.Workers, p.c.Log.Named("local-path-provisioner"), p.sync)
	return nil
}

func (p *Provisioner) sync(ctx context.Context, key string) (workqueue.Result, error) {
	ns, name := informer.SplitKey(key)
	pvc, err := p.claims.Lister().Get(ns, name)
	if client.IsNotFound(err) || claimClass(pvc) != LocalPathClass || pvc.GetSpec().GetVolumeName() != "" || pvc.GetMetadata().GetDeletionTimestamp() != nil {
		return workqueue.Result{}, nil
	}
	node := ""
	pods, _ := p.pods.Lister().ByIndex(byClaim, key)
	for _, pod := range pods {
		if n := pod.GetSpec().GetNodeName(); n != "" && pod.GetMetadata().GetDeletionTimestamp() == nil {
			node = n
			break
		}
	}
	if node == "" {
		return workqueue.Result{}, nil // no consumer on a node yet
	}
	pv := LocalVolume(pvc, node, p.opts.BaseDir)
	if _, err := p.api.Create(ctx, pv); err != nil {
		if client.IsAlreadyExists(err) {
			return workqueue.Result{}, nil
		}
		return workqueue.Result{}, err
	}
	p.c.Recorder.Eventf(pvc, "Normal", "ProvisioningSucceeded", "Successfully provisioned volume %s on node %s", pv.Metadata.Name, node)
	return workqueue.Result{}, nil
}

// LocalVolume is the volume provisioned for a claim on a node: named after
// the claim's uid (so a retry cannot make two), a hostPath directory under
// base, pinned to the node, reclaimed (deleted) with the claim.
func LocalVolume(pvc *corev1.PersistentVolumeClaim, node, base string) *corev1.PersistentVolume {
	name := "pvc-" + pvc.Metadata.Uid
	modes := pvc.GetSpec().GetAccessModes()
	if len(modes) == 0 {
		modes = []string{"ReadWriteOnce"}
	}
	return &corev1.PersistentVolume{
		Metadata: &metav1.ObjectMeta{Name: name, Annotations: map[string]string{ProvisionedBy: LocalPathName}},
		Spec: &corev1.PersistentVolumeSpec{
			Capacity:                      pvc.GetSpec().GetResources().GetRequests(),
			AccessModes:                   modes,
			HostPath:                      &corev1.HostPathVolumeSource{Path: filepath.Join(base, name+"_"+pvc.Metadata.Namespace+"_"+pvc.Metadata.Name), Type: proto.String("DirectoryOrCreate")},
			PersistentVolumeReclaimPolicy: "Delete",
			StorageClassName:              LocalPathClass,
			VolumeMode:                    pvc.GetSpec().VolumeMode,
			ClaimRef: &corev1.ObjectReference{Kind: "PersistentVolumeClaim", ApiVersion: "v1",
				Namespace: pvc.Metadata.Namespace, Name: pvc.Metadata.Name, Uid: pvc.Metadata.Uid},
			NodeAffinity: &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{NodeSelectorTerms: []*corev1.NodeSelectorTerm{{
				MatchExpressions: []*corev1.NodeSelectorRequirement{{Key: HostnameLabel, Operator: "In", Values: []string{node}}},
			}}}},
		},
	}
}
