package informer

import (
	"testing"

	"k8s.io/apimachinery/pkg/labels"

	metav1 "flotilla.io/proto/flotilla/meta/v1"
)

func TestSelector(t *testing.T) {
	web := labels.Set{"app": "web", "tier": "front"}
	db := labels.Set{"app": "db"}
	for _, tc := range []struct {
		name        string
		ls          *metav1.LabelSelector
		web, db, ok bool
	}{
		{"nil matches nothing", nil, false, false, true},
		{"empty matches all", &metav1.LabelSelector{}, true, true, true},
		{"matchLabels", &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}, true, false, true},
		{"In", &metav1.LabelSelector{MatchExpressions: []*metav1.LabelSelectorRequirement{{Key: "app", Operator: "In", Values: []string{"db", "x"}}}}, false, true, true},
		{"NotIn", &metav1.LabelSelector{MatchExpressions: []*metav1.LabelSelectorRequirement{{Key: "app", Operator: "NotIn", Values: []string{"db"}}}}, true, false, true},
		{"Exists", &metav1.LabelSelector{MatchExpressions: []*metav1.LabelSelectorRequirement{{Key: "tier", Operator: "Exists"}}}, true, false, true},
		{"DoesNotExist", &metav1.LabelSelector{MatchExpressions: []*metav1.LabelSelectorRequirement{{Key: "tier", Operator: "DoesNotExist"}}}, false, true, true},
		{"both ANDed", &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}, MatchExpressions: []*metav1.LabelSelectorRequirement{{Key: "tier", Operator: "In", Values: []string{"back"}}}}, false, false, true},
		{"bad operator", &metav1.LabelSelector{MatchExpressions: []*metav1.LabelSelectorRequirement{{Key: "a", Operator: "Gt"}}}, false, false, false},
		{"In without values", &metav1.LabelSelector{MatchExpressions: []*metav1.LabelSelectorRequirement{{Key: "a", Operator: "In"}}}, false, false, false},
		{"bad key", &metav1.LabelSelector{MatchLabels: map[string]string{"-bad-": "x"}}, false, false, false},
	} {
		sel, err := Selector(tc.ls)
		if (err == nil) != tc.ok {
			t.Errorf("%s: err = %v", tc.name, err)
			continue
		}
		if err == nil && (sel.Matches(web) != tc.web || sel.Matches(db) != tc.db) {
			t.Errorf("%s: %v matches web=%v db=%v", tc.name, sel, sel.Matches(web), sel.Matches(db))
		}
	}
}
