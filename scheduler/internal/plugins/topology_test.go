package plugins

import (
	"testing"

	k8slabels "k8s.io/apimachinery/pkg/labels"

	corev1 "flotilla.io/proto/flotilla/core/v1"
	metav1 "flotilla.io/proto/flotilla/meta/v1"
	"google.golang.org/protobuf/proto"

	"flotilla.io/scheduler/internal/framework"
)

func term(key string, sel map[string]string) *corev1.PodAffinityTerm {
	return &corev1.PodAffinityTerm{TopologyKey: key, LabelSelector: &metav1.LabelSelector{MatchLabels: sel}}
}

func antiAffinity(t *corev1.PodAffinityTerm) podOpt {
	return func(p *corev1.Pod) {
		p.Spec.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []*corev1.PodAffinityTerm{t}}}
	}
}

func affinity(t *corev1.PodAffinityTerm) podOpt {
	return func(p *corev1.Pod) {
		p.Spec.Affinity = &corev1.Affinity{PodAffinity: &corev1.PodAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []*corev1.PodAffinityTerm{t}}}
	}
}

// filterAll runs PreFilter then Filter on every node: node name -> status.
func filterAll(pl interface {
	framework.PreFilterPlugin
	framework.FilterPlugin
}, pod *framework.PodInfo, snap *framework.Snapshot) map[string]*framework.Status {
	state := framework.NewCycleState()
	out := map[string]*framework.Status{}
	if st := pl.PreFilter(state, pod, snap); st.Code() == framework.Skip {
		return out
	} else if !st.IsSuccess() {
		for _, n := range snap.Nodes {
			out[n.Name()] = st
		}
		return out
	}
	for _, n := range snap.Nodes {
		if st := pl.Filter(state, pod, n); st != nil {
			out[n.Name()] = st
		}
	}
	return out
}

func zones() (a1, a2, b1 *framework.NodeInfo) {
	return node("a1", map[string]string{"zone": "a"}, nil), node("a2", map[string]string{"zone": "a"}, nil), node("b1", map[string]string{"zone": "b"}, nil)
}

func TestInterPodAffinity(t *testing.T) {
	a1, a2, b1 := zones()
	a1.AddPod(mkPod("web-0", withLabels("app", "web")))
	snap := framework.NewSnapshot([]*framework.NodeInfo{a1, a2, b1})
	pl := InterPodAffinity{}

	got := filterAll(pl, mkPod("p", withLabels("app", "web"), antiAffinity(term("zone", map[string]string{"app": "web"}))), snap)
	if len(got) != 2 || got["b1"] != nil || got["a2"].Message() != ReasonAntiAffinity {
		t.Errorf("anti-affinity by zone: %v", got)
	}
	got = filterAll(pl, mkPod("p", affinity(term("zone", map[string]string{"app": "web"}))), snap)
	if len(got) != 1 || got["b1"].Message() != ReasonAffinity {
		t.Errorf("affinity by zone: %v", got)
	}
	got = filterAll(pl, mkPod("p", affinity(term("zone", map[string]string{"app": "db"}))), snap)
	if len(got) != 3 {
		t.Errorf("affinity to nothing must fail everywhere: %v", got)
	}
	got = filterAll(pl, mkPod("first", withLabels("app", "db"), affinity(term("zone", map[string]string{"app": "db"}))), snap)
	if len(got) != 0 {
		t.Errorf("first pod of a self-affine group must fit: %v", got)
	}
	otherNS := term("zone", map[string]string{"app": "web"})
	otherNS.Namespaces = []string{"other"}
	got = filterAll(pl, mkPod("p", antiAffinity(otherNS)), snap)
	if len(got) != 0 {
		t.Errorf("anti-affinity in another namespace: %v", got)
	}
	allNS := term("zone", map[string]string{"app": "web"})
	allNS.Namespaces = []string{"other"}
	allNS.NamespaceSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"team": "x"}}
	snap.NamespaceLabels = func(ns string) k8slabels.Set {
		if ns == "default" {
			return k8slabels.Set{"team": "x"}
		}
		return nil
	}
	got = filterAll(pl, mkPod("p", antiAffinity(allNS)), snap)
	if len(got) != 2 {
		t.Errorf("namespaceSelector: %v", got)
	}

	// Symmetry: an existing pod's anti-affinity keeps matching pods away.
	a1, a2, b1 = zones()
	a1.AddPod(mkPod("loner", antiAffinity(term("zone", map[string]string{"app": "web"}))))
	snap = framework.NewSnapshot([]*framework.NodeInfo{a1, a2, b1})
	got = filterAll(pl, mkPod("p", withLabels("app", "web")), snap)
	if len(got) != 2 || got["a2"].Message() != ReasonExistingAnti {
		t.Errorf("existing anti-affinity: %v", got)
	}

	// Preferred: score the zone holding web pods higher.
	a1, a2, b1 = zones()
	a1.AddPod(mkPod("web-0", withLabels("app", "web")))
	snap = framework.NewSnapshot([]*framework.NodeInfo{a1, a2, b1})
	pref := mkPod("p", func(p *corev1.Pod) {
		p.Spec.Affinity = &corev1.Affinity{PodAffinity: &corev1.PodAffinity{PreferredDuringSchedulingIgnoredDuringExecution: []*corev1.WeightedPodAffinityTerm{
			{Weight: 50, PodAffinityTerm: term("zone", map[string]string{"app": "web"})},
		}}}
	})
	state := framework.NewCycleState()
	if st := pl.PreScore(state, pref, snap, snap.Nodes); !st.IsSuccess() {
		t.Fatal(st)
	}
	scores := make([]framework.NodeScore, 3)
	for i, n := range snap.Nodes {
		scores[i].Name = n.Name()
		scores[i].Score, _ = pl.Score(state, pref, n)
	}
	pl.NormalizeScore(state, pref, scores)
	if scores[0].Score != 100 || scores[1].Score != 100 || scores[2].Score != 0 {
		t.Errorf("preferred affinity scores %v", scores)
	}
}

func spreadOpt(maxSkew int32, key, when string, minDomains int32) podOpt {
	return func(p *corev1.Pod) {
		c := &corev1.TopologySpreadConstraint{MaxSkew: maxSkew, TopologyKey: key, WhenUnsatisfiable: when,
			LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}}
		if minDomains > 0 {
			c.MinDomains = &minDomains
		}
		p.Spec.TopologySpreadConstraints = append(p.Spec.TopologySpreadConstraints, c)
	}
}

func TestPodTopologySpread(t *testing.T) {
	a1, a2, b1 := zones()
	a1.AddPod(mkPod("web-0", withLabels("app", "web")))
	a2.AddPod(mkPod("web-1", withLabels("app", "web")))
	nolabel := node("x", nil, nil)
	delete(nolabel.Node.Metadata.Labels, LabelHostname)
	snap := framework.NewSnapshot([]*framework.NodeInfo{a1, a2, b1, nolabel})
	pl := PodTopologySpread{}

	got := filterAll(pl, mkPod("p", withLabels("app", "web"), spreadOpt(1, "zone", "DoNotSchedule", 0)), snap)
	if len(got) != 3 || got["b1"] != nil || got["a1"].Message() != ReasonSpread || got["x"].Message() != ReasonSpreadNoLabel {
		t.Errorf("maxSkew 1: %v", got)
	}
	got = filterAll(pl, mkPod("p", withLabels("app", "web"), spreadOpt(3, "zone", "DoNotSchedule", 0)), snap)
	if len(got) != 1 {
		t.Errorf("maxSkew 3: %v", got)
	}
	// minDomains 3 with 2 zones: the global minimum counts as 0.
	got = filterAll(pl, mkPod("p", withLabels("app", "web"), spreadOpt(2, "zone", "DoNotSchedule", 3)), snap)
	if len(got) != 3 || got["b1"] != nil {
		t.Errorf("minDomains: %v", got)
	}
	// nodeAffinityPolicy Honor (default): nodes the pod cannot use do not count.
	only := mkPod("p", withLabels("app", "web"), spreadOpt(1, "zone", "DoNotSchedule", 0), func(p *corev1.Pod) { p.Spec.NodeSelector = map[string]string{"zone": "a"} })
	got = filterAll(pl, only, snap)
	if got["a1"] != nil || got["a2"] != nil {
		t.Errorf("node affinity policy: %v", got)
	}
	// ScheduleAnyway only scores: the empty zone is best.
	soft := mkPod("p", withLabels("app", "web"), spreadOpt(1, "zone", "ScheduleAnyway", 0))
	if got := filterAll(pl, soft, snap); len(got) != 0 {
		t.Errorf("ScheduleAnyway filtered: %v", got)
	}
	feasible := []*framework.NodeInfo{a1, a2, b1}
	state := framework.NewCycleState()
	if st := pl.PreScore(state, soft, snap, feasible); !st.IsSuccess() {
		t.Fatal(st)
	}
	scores := make([]framework.NodeScore, 3)
	for i, n := range feasible {
		scores[i].Name = n.Name()
		scores[i].Score, _ = pl.Score(state, soft, n)
	}
	pl.NormalizeScore(state, soft, scores)
	if !(scores[2].Score > scores[0].Score && scores[0].Score == scores[1].Score) {
		t.Errorf("spread scores %v", scores)
	}
	// Default spreading for a ReplicaSet's pods: by hostname among siblings.
	owned := func(p *corev1.Pod) {
		p.Metadata.OwnerReferences = []*metav1.OwnerReference{{Kind: "ReplicaSet", Name: "rs", Uid: "rs-1", Controller: new(true)}}
	}
	h1, h2 := node("h1", nil, nil), node("h2", nil, nil)
	h1.AddPod(mkPod("s0", owned))
	snap = framework.NewSnapshot([]*framework.NodeInfo{h1, h2})
	p := mkPod("s1", owned)
	state = framework.NewCycleState()
	if st := pl.PreScore(state, p, snap, snap.Nodes); !st.IsSuccess() {
		t.Fatalf("default spreading skipped: %v", st)
	}
	scores = []framework.NodeScore{{Name: "h1"}, {Name: "h2"}}
	scores[0].Score, _ = pl.Score(state, p, h1)
	scores[1].Score, _ = pl.Score(state, p, h2)
	pl.NormalizeScore(state, p, scores)
	if scores[1].Score <= scores[0].Score {
		t.Errorf("default spreading scores %v", scores)
	}
	if st := pl.PreScore(framework.NewCycleState(), mkPod("lone"), snap, snap.Nodes); st.Code() != framework.Skip {
		t.Errorf("unowned pod without constraints should skip: %v", st)
	}
}

func TestImageLocality(t *testing.T) {
	with := node("with", nil, nil)
	with.Node.Status.Images = []*corev1.ContainerImage{{Names: []string{"docker.io/library/nginx:1.25"}, SizeBytes: 500 * mb}}
	with.SetNode(with.Node)
	without := node("without", nil, nil)
	snap := framework.NewSnapshot([]*framework.NodeInfo{with, without})
	p := mkPod("p", func(p *corev1.Pod) { p.Spec.Containers = []*corev1.Container{{Name: "c", Image: "nginx:1.25"}} })
	state := framework.NewCycleState()
	if st := (ImageLocality{}).PreScore(state, p, snap, snap.Nodes); !st.IsSuccess() {
		t.Fatal(st)
	}
	sw, _ := ImageLocality{}.Score(state, p, with)
	so, _ := ImageLocality{}.Score(state, p, without)
	// 500MB on half the nodes: 250MB scaled between 23MB and 1000MB.
	if so != 0 || sw != 100*(250-23)/(1000-23) {
		t.Errorf("image scores %d %d", sw, so)
	}
}

type fakeVolumes struct {
	claims map[string]*corev1.PersistentVolumeClaim
	pvs    map[string]*corev1.PersistentVolume
}

func (f fakeVolumes) Claim(ns, name string) (*corev1.PersistentVolumeClaim, bool) {
	c, ok := f.claims[ns+"/"+name]
	return c, ok
}

func (f fakeVolumes) Volume(name string) (*corev1.PersistentVolume, bool) {
	pv, ok := f.pvs[name]
	return pv, ok
}

func TestVolumeBinding(t *testing.T) {
	a1, _, b1 := zones()
	snap := framework.NewSnapshot([]*framework.NodeInfo{a1, b1})
	snap.Volumes = fakeVolumes{
		claims: map[string]*corev1.PersistentVolumeClaim{
			"default/data":    {Metadata: &metav1.ObjectMeta{Name: "data"}, Spec: &corev1.PersistentVolumeClaimSpec{VolumeName: "pv-a"}},
			"default/pending": {Metadata: &metav1.ObjectMeta{Name: "pending"}, Spec: &corev1.PersistentVolumeClaimSpec{}},
			"default/local":   {Metadata: &metav1.ObjectMeta{Name: "local"}, Spec: &corev1.PersistentVolumeClaimSpec{StorageClassName: proto.String("local-path")}},
		},
		pvs: map[string]*corev1.PersistentVolume{"pv-a": {Metadata: &metav1.ObjectMeta{Name: "pv-a"}, Spec: &corev1.PersistentVolumeSpec{NodeAffinity: &corev1.VolumeNodeAffinity{
			Required: &corev1.NodeSelector{NodeSelectorTerms: []*corev1.NodeSelectorTerm{{MatchExpressions: []*corev1.NodeSelectorRequirement{{Key: "zone", Operator: "In", Values: []string{"a"}}}}}},
		}}}},
	}
	claim := func(name string) podOpt {
		return func(p *corev1.Pod) {
			p.Spec.Volumes = []*corev1.Volume{{Name: "v", PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: name}}}
		}
	}
	got := filterAll(VolumeBinding{}, mkPod("p", claim("data")), snap)
	if len(got) != 1 || got["b1"].Message() != ReasonVolumeAffinity {
		t.Errorf("bound volume: %v", got)
	}
	got = filterAll(VolumeBinding{}, mkPod("p", claim("pending")), snap)
	if len(got) != 2 || got["a1"].Message() != ReasonUnboundClaims {
		t.Errorf("unbound claim: %v", got)
	}
	if got := filterAll(VolumeBinding{}, mkPod("p", claim("local")), snap); len(got) != 0 {
		t.Errorf("unbound wait-for-first-consumer claim: %v", got)
	}
	got = filterAll(VolumeBinding{}, mkPod("p", claim("missing")), snap)
	if len(got) != 2 || got["a1"].Message() != `persistentvolumeclaim "missing" not found` {
		t.Errorf("missing claim: %v", got)
	}
	if got := filterAll(VolumeBinding{}, mkPod("p"), snap); len(got) != 0 {
		t.Errorf("no claims: %v", got)
	}
}
