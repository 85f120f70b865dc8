package volume

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	apiv1 "flotilla.io/proto/flotilla/api/v1"
	corev1 "flotilla.io/proto/flotilla/core/v1"
)

// Projected service account tokens are asked of the apiserver
// (serviceaccounts/token), bound to the pod, and renewed once 80% of their
// life has passed or after a day, as upstream's kubelet token manager does.
const (
	defaultTokenSeconds = 3600
	minTokenSeconds     = 600
	maxTokenAge         = 24 * time.Hour
)

type tokenEntry struct {
	token           string
	issued, renewAt time.Time
	expires         time.Time
	audience        string
}

// tokens caches the tokens of the pods' projected volumes by
// "<pod uid>/<volume>/<path>".
type tokens struct {
	mu sync.Mutex
	m  map[string]tokenEntry
}

func tokenKey(uid, volume, path string) string { return uid + "/" + volume + "/" + path }

// errNoTokenRequest says the apiserver issues no tokens (no signing key):
// the legacy token Secret stands in.
var errNoTokenRequest = fmt.Errorf("the apiserver issues no service account tokens")

// serviceAccountToken returns the token for one projection, from the cache
// while it is fresh, else newly requested.
func (m *Manager) serviceAccountToken(ctx context.Context, pod *corev1.Pod, volume string, p *corev1.ServiceAccountTokenProjection) (string, error) {
	key := tokenKey(pod.GetMetadata().GetUid(), volume, p.GetPath())
	now := m.now()
	m.tokens.mu.Lock()
	e, ok := m.tokens.m[key]
	m.tokens.mu.Unlock()
	if ok && now.Before(e.renewAt) && e.audience == p.GetAudience() {
		return e.token, nil
	}
	if m.cfg.Client == nil {
		return "", fmt.Errorf("no API client")
	}
	secs := int64(defaultTokenSeconds)
	if p.ExpirationSeconds != nil {
		secs = max(p.GetExpirationSeconds(), minTokenSeconds)
	}
	var aud []string
	if p.GetAudience() != "" {
		aud = []string{p.GetAudience()}
	}
	resp, err := apiv1.NewAuthServiceClient(m.cfg.Client.Conn()).CreateToken(ctx, &apiv1.CreateTokenRequest{
		Namespace: pod.GetMetadata().GetNamespace(), ServiceAccount: serviceAccountName(pod),
		Audiences: aud, ExpirationSeconds: secs, BoundPodName: pod.GetMetadata().GetName(),
	})
	if status.Code(err) == codes.FailedPrecondition || status.Code(err) == codes.Unimplemented {
		return "", errNoTokenRequest
	}
	if err != nil {
		if ok && now.Before(e.expires) {
			// Keep serving the still valid token; renewal is retried on the
			// next sync.
			m.log.Warn("renew service account token", zap.String("pod", pod.GetMetadata().GetNamespace()+"/"+pod.GetMetadata().GetName()), zap.Error(err))
			return e.token, nil
		}
		return "", fmt.Errorf("request service account token for %q: %w", serviceAccountName(pod), err)
	}
	exp := resp.GetExpirationTimestamp().AsTime()
	life := exp.Sub(now)
	e = tokenEntry{token: resp.GetToken(), issued: now, expires: exp, audience: p.GetAudience(),
		renewAt: now.Add(min(life*8/10, maxTokenAge))}
	m.tokens.mu.Lock()
	if m.tokens.m == nil {
		m.tokens.m = map[string]tokenEntry{}
	}
	m.tokens.m[key] = e
	m.tokens.mu.Unlock()
	return e.token, nil
}

// forgetTokens drops a pod's cached tokens.
func (m *Manager) forgetTokens(uid string) {
	m.tokens.mu.Lock()
	defer m.tokens.mu.Unlock()
	for k := range m.tokens.m {
		if strings.HasPrefix(k, uid+"/") {
			delete(m.tokens.m, k)
		}
	}
}

// Refresh rewrites the projected volumes whose service account token is
// due for renewal; the pod workers call it on every sync of a running pod.
func (m *Manager) Refresh(ctx context.Context, pod *corev1.Pod) error {
	uid := pod.GetMetadata().GetUid()
	now := m.now()
	for _, v := range pod.GetSpec().GetVolumes() {
		src := v.GetProjected()
		if src == nil {
			continue
		}
		due := false
		for _, s := range src.GetSources() {
			t := s.GetServiceAccountToken()
			if t == nil {
				continue
			}
			m.tokens.mu.Lock()
			e, ok := m.tokens.m[tokenKey(uid, v.GetName(), t.GetPath())]
			m.tokens.mu.Unlock()
			if ok && !now.Before(e.renewAt) {
				due = true
			}
		}
		if !due {
			continue
		}
		if _, err := m.setupOne(ctx, pod, v); err != nil {
			return fmt.Errorf("volume %q: refresh token: %w", v.GetName(), err)
		}
	}
	return nil
}
