package serviceaccount

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/golang-jwt/jwt/v5"
	"google.golang.org/protobuf/proto"

	corev1 "flotilla.io/proto/flotilla/core/v1"
	metav1 "flotilla.io/proto/flotilla/meta/v1"
	"flotilla.io/sdk/client"
	"flotilla.io/sdk/informer"
	"flotilla.io/sdk/workqueue"

	"flotilla.io/controller-manager/internal/controller"
)

// The token Secret, as upstream's legacy service account token.
const (
	SecretType     = "kubernetes.io/service-account-token"
	NameAnnotation = "kubernetes.io/service-account.name"
	UIDAnnotation  = "kubernetes.io/service-account.uid"
	// Issuer is the iss claim of signed tokens.
	Issuer = "kubernetes/serviceaccount"
)

// Options tune the token controller.
type Options struct {
	// PrivateKeyFile, when set, holds a PEM ECDSA or RSA key: tokens are
	// then JWTs signed with it (ES256 or RS256) that the apiserver can
	// verify with the public key. Without it tokens are 256 random bits.
	PrivateKeyFile string
	// RootCAFile, when set, is copied into each Secret as ca.crt.
	RootCAFile string
}

// Flags holds the values the process's flags set (see AddFlags).
var Flags Options

// AddFlags binds o to command-line flags (upstream's names).
func (o *Options) AddFlags(fs *flag.FlagSet) {
	fs.StringVar(&o.PrivateKeyFile, "service-account-private-key-file", o.PrivateKeyFile, "PEM ECDSA or RSA private key signing service account tokens (JWTs); unset: random tokens")
	fs.StringVar(&o.RootCAFile, "root-ca-file", o.RootCAFile, "CA bundle put into service account token Secrets as ca.crt")
}

func init() {
	controller.Register("serviceaccount-token", func(c *controller.Context) (controller.Loop, error) { return NewTokens(c, Flags) })
}

// Tokens is the loop giving every ServiceAccount a token Secret.
type Tokens struct {
	c        *controller.Context
	accounts *informer.Informer[*corev1.ServiceAccount]
	secrets  *informer.Informer[*corev1.Secret]
	saAPI    *client.Resource[*corev1.ServiceAccount]
	api      *client.Resource[*corev1.Secret]
	queue    workqueue.Queue[string]
	signer   *signer
	caCert   []byte
}

const bySA = "serviceaccount.token"

// NewTokens builds the loop.
func NewTokens(c *controller.Context, o Options) (*Tokens, error) {
	t := &Tokens{
		c:        c,
		accounts: informer.For[*corev1.ServiceAccount](c.Informers),
		secrets:  informer.For[*corev1.Secret](c.Informers),
		saAPI:    client.For[*corev1.ServiceAccount](c.Client),
		api:      client.For[*corev1.Secret](c.Client),
		queue:    workqueue.New("serviceaccount-token", workqueue.Options[string]{Metrics: workqueue.NewMetrics(c.Registry)}),
	}
	var err error
	if o.PrivateKeyFile != "" {
		if t.signer, err = loadSigner(o.PrivateKeyFile); err != nil {
			return nil, err
		}
	}
	if o.RootCAFile != "" {
		if t.caCert, err = os.ReadFile(o.RootCAFile); err != nil {
			return nil, fmt.Errorf("--root-ca-file: %w", err)
		}
	}
	if err := t.secrets.AddIndex(bySA, func(s *corev1.Secret) []string {
		if s.GetType() != SecretType || s.GetMetadata().GetAnnotations()[NameAnnotation] == "" {
			return nil
		}
		return []string{informer.Key(s.GetMetadata().GetNamespace(), s.GetMetadata().GetAnnotations()[NameAnnotation])}
	}); err != nil {
		return nil, err
	}
	addSA := func(sa *corev1.ServiceAccount) { t.queue.Add(informer.KeyOf(sa)) }
	t.accounts.AddHandler(informer.Handler[*corev1.ServiceAccount]{OnAdd: addSA, OnUpdate: func(_, sa *corev1.ServiceAccount) { addSA(sa) }, OnDelete: addSA})
	addSecret := func(s *corev1.Secret) {
		if s.GetType() == SecretType {
			t.queue.Add(informer.Key(s.GetMetadata().GetNamespace(), s.GetMetadata().GetAnnotations()[NameAnnotation]))
		}
	}
	t.secrets.AddHandler(informer.Handler[*corev1.Secret]{OnAdd: addSecret, OnUpdate: func(_, s *corev1.Secret) { addSecret(s) }, OnDelete: addSecret})
	return t, nil
}

// Start runs the workers until ctx ends.
func (t *Tokens) Start(ctx context.Context) error {
	workqueue.Run(ctx, t.queue, t.c.Workers, t.c.Log.Named("serviceaccount-token"), t.sync)
	return nil
}

func (t *Tokens) sync(ctx context.Context, key string) (workqueue.Result, error) {
	ns, name := informer.SplitKey(key)
	secrets, _ := t.secrets.Lister().ByIndex(bySA, key)
	sa, err := t.accounts.Lister().Get(ns, name)
	if client.IsNotFound(err) {
		sa = nil
	}
	var valid []*corev1.Secret
	var errs []error
	for _, s := range secrets {
		if sa == nil || s.GetMetadata().GetAnnotations()[UIDAnnotation] != sa.GetMetadata().GetUid() {
			// The account is gone (or was re-created): its tokens must not work.
			err := t.api.Delete(ctx, ns, s.Metadata.Name, client.DeleteOptions{Preconditions: &client.Preconditions{UID: s.Metadata.Uid}})
			if err != nil && !client.IsNotFound(err) && !client.IsPreconditionFailed(err) {
				errs = append(errs, err)
			}
			continue
		}
		valid = append(valid, s)
	}
	if sa == nil || sa.GetMetadata().GetDeletionTimestamp() != nil {
		return workqueue.Result{}, errors.Join(errs...)
	}
	if len(valid) == 0 {
		// The cache may not show a Secret made a moment ago: ask the server.
		live, err := t.api.List(ctx, client.ListOptions{Namespace: ns, FieldSelector: "type=" + SecretType})
		if err != nil {
			return workqueue.Result{}, err
		}
		for _, s := range live.Items {
			if a := s.GetMetadata().GetAnnotations(); a[NameAnnotation] == name && a[UIDAnnotation] == sa.Metadata.Uid {
				valid = append(valid, s)
			}
		}
	}
	if len(valid) == 0 {
		s, err := t.create(ctx, sa)
		if err != nil {
			return workqueue.Result{}, errors.Join(append(errs, err)...)
		}
		valid = append(valid, s)
	}
	// Secrets of the type made by hand get their token filled in.
	for _, s := range valid {
		if len(s.GetData()["token"]) > 0 {
			continue
		}
		next := proto.Clone(s).(*corev1.Secret)
		if err := t.fill(sa, next); err != nil {
			return workqueue.Result{}, err
		}
		if _, err := t.api.Update(ctx, next); err != nil {
			errs = append(errs, err)
		}
	}
	errs = append(errs, t.reference(ctx, sa, valid[0].Metadata.Name))
	return workqueue.Result{}, errors.Join(errs...)
}

func (t *Tokens) create(ctx context.Context, sa *corev1.ServiceAccount) (*corev1.Secret, error) {
	s := &corev1.Secret{
		Metadata: &metav1.ObjectMeta{
			Namespace: sa.Metadata.Namespace, Name: sa.Metadata.Name + "-token-" + randomSuffix(),
			Annotations:     map[string]string{NameAnnotation: sa.Metadata.Name, UIDAnnotation: sa.Metadata.Uid},
			OwnerReferences: []*metav1.OwnerReference{{ApiVersion: "v1", Kind: "ServiceAccount", Name: sa.Metadata.Name, Uid: sa.Metadata.Uid}},
		},
		Type: SecretType,
	}
	if err := t.fill(sa, s); err != nil {
		return nil, err
	}
	out, err := t.api.Create(ctx, s)
	if err != nil {
		return nil, err
	}
	t.c.Recorder.Eventf(sa, "Normal", "TokenCreated", "Created token Secret %s", out.Metadata.Name)
	return out, nil
}

// fill writes token, namespace and ca.crt into s.
func (t *Tokens) fill(sa *corev1.ServiceAccount, s *corev1.Secret) error {
	tok, err := t.token(sa, s.Metadata.Name)
	if err != nil {
		return err
	}
	if s.Data == nil {
		s.Data = map[string][]byte{}
	}
	s.Data["token"], s.Data["namespace"] = []byte(tok), []byte(sa.Metadata.Namespace)
	if t.caCert != nil {
		s.Data["ca.crt"] = t.caCert
	}
	return nil
}

// reference lists the token in the ServiceAccount's secrets, as upstream's
// legacy token controller did.
func (t *Tokens) reference(ctx context.Context, sa *corev1.ServiceAccount, secret string) error {
	for _, r := range sa.GetSecrets() {
		if r.GetName() == secret {
			return nil
		}
	}
	next := proto.Clone(sa).(*corev1.ServiceAccount)
	next.Secrets = append(next.Secrets, &corev1.ObjectReference{Name: secret})
	_, err := t.saAPI.Update(ctx, next)
	return err
}

// token is a signed JWT when a key is configured, else random.
func (t *Tokens) token(sa *corev1.ServiceAccount, secret string) (string, error) {
	if t.signer == nil {
		b := make([]byte, 32)
		_, _ = rand.Read(b)
		return base64.RawURLEncoding.EncodeToString(b), nil
	}
	return t.signer.sign(Claims(sa, secret))
}

// Claims are upstream's legacy service account token claims; the apiserver
// maps a verified token to user "system:serviceaccount:<ns>:<name>" in
// groups system:serviceaccounts and system:serviceaccounts:<ns>.
func Claims(sa *corev1.ServiceAccount, secret string) jwt.MapClaims {
	ns, name := sa.Metadata.Namespace, sa.Metadata.Name
	return jwt.MapClaims{
		"iss":                                    Issuer,
		"sub":                                    "system:serviceaccount:" + ns + ":" + name,
		"kubernetes.io/serviceaccount/namespace": ns,
		"kubernetes.io/serviceaccount/secret.name":          secret,
		"kubernetes.io/serviceaccount/service-account.name": name,
		"kubernetes.io/serviceaccount/service-account.uid":  sa.Metadata.Uid,
	}
}

type signer struct {
	method jwt.SigningMethod
	key    crypto.Signer
	kid    string
}

// loadSigner reads a PEM private key (EC, RSA or PKCS#8).
func loadSigner(path string) (*signer, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--service-account-private-key-file: %w", err)
	}
	var key crypto.Signer
	if k, err := jwt.ParseECPrivateKeyFromPEM(b); err == nil {
		key = k
	} else if k, err := jwt.ParseRSAPrivateKeyFromPEM(b); err == nil {
		key = k
	} else {
		return nil, fmt.Errorf("--service-account-private-key-file %s: not a PEM ECDSA or RSA private key", path)
	}
	s := &signer{key: key}
	switch k := key.(type) {
	case *ecdsa.PrivateKey:
		if k.Curve.Params().BitSize != 256 {
			return nil, fmt.Errorf("--service-account-private-key-file: ECDSA keys must be P-256")
		}
		s.method = jwt.SigningMethodES256
	case *rsa.PrivateKey:
		s.method = jwt.SigningMethodRS256
	}
	der, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(der)
	s.kid = base64.RawURLEncoding.EncodeToString(sum[:]) // upstream's key id
	return s, nil
}

func (s *signer) sign(claims jwt.MapClaims) (string, error) {
	tok := jwt.NewWithClaims(s.method, claims)
	tok.Header["kid"] = s.kid
	return tok.SignedString(s.key)
}

// randomSuffix is five characters of upstream's generateName alphabet.
func randomSuffix() string {
	const alphabet = "bcdfghjklmnpqrstvwxz2456789"
	b := make([]byte, 5)
	_, _ = rand.Read(b)
	for n := range b {
		b[n] = alphabet[int(b[n])%len(alphabet)]
	}
	return string(b)
}
