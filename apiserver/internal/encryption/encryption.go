// Package encryption encrypts stored objects at rest, configured with
// upstream's EncryptionConfiguration file: per resource, an ordered list of
// providers (aesgcm, identity); the first writes, all can read, so keys
// rotate by putting a new key first, rewriting, then dropping the old one.
package encryption

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"

	"sigs.k8s.io/yaml"
)

// Config is upstream's EncryptionConfiguration (the fields we support).
type Config struct {
	APIVersion string           `json:"apiVersion"`
	Kind       string           `json:"kind"`
	Resources  []ResourceConfig `json:"resources"`
}

// ResourceConfig lists the providers for some resources.
type ResourceConfig struct {
	Resources []string         `json:"resources"`
	Providers []ProviderConfig `json:"providers"`
}

// ProviderConfig is one provider; exactly one field is set.
type ProviderConfig struct {
	AESGCM   *KeysConfig `json:"aesgcm,omitempty"`
	Identity *struct{}   `json:"identity,omitempty"`
}

// KeysConfig lists keys, the first used for writing.
type KeysConfig struct {
	Keys []Key `json:"keys"`
}

// Key is a named base64 AES key (16, 24 or 32 bytes).
type Key struct {
	Name   string `json:"name"`
	Secret string `json:"secret"`
}

// Transformer turns stored bytes into plaintext and back for one resource.
type Transformer interface {
	// FromStorage decrypts; stale says the value was not written with the
	// current write provider and should be rewritten.
	FromStorage(data []byte) (plain []byte, stale bool, err error)
	ToStorage(plain []byte) ([]byte, error)
}

// Identity stores plaintext.
type Identity struct{}

// FromStorage returns data as it is.
func (Identity) FromStorage(data []byte) ([]byte, bool, error) { return data, false, nil }

// ToStorage returns plain as it is.
func (Identity) ToStorage(plain []byte) ([]byte, error) { return plain, nil }

const gcmPrefix = "k8s:enc:aesgcm:v1:"

type gcmKey struct {
	name   string
	prefix []byte
	aead   cipher.AEAD
}

// chain is an ordered provider list: write with the first, read with
// whichever matches the value's prefix.
type chain struct {
	keys     []gcmKey // every aesgcm key, in order
	identity bool     // identity is among the providers
	writeKey *gcmKey  // nil: the first provider is identity
}

// Load reads a configuration file and returns a transformer per resource
// ("secrets", "configmaps" or "*.apps"-style group wildcards are not
// supported; list resources by plural name).
func Load(path string) (map[string]Transformer, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("encryption config: %w", err)
	}
	var cfg Config
	if err := yaml.UnmarshalStrict(raw, &cfg); err != nil {
		return nil, fmt.Errorf("encryption config %s: %w", path, err)
	}
	return Build(cfg)
}

// Build validates a configuration and makes its transformers.
func Build(cfg Config) (map[string]Transformer, error) {
	if cfg.Kind != "EncryptionConfiguration" {
		return nil, fmt.Errorf("encryption config: kind is %q, want EncryptionConfiguration", cfg.Kind)
	}
	out := map[string]Transformer{}
	for n, rc := range cfg.Resources {
		if len(rc.Providers) == 0 {
			return nil, fmt.Errorf("encryption config: resources[%d].providers: Required value", n)
		}
		ch := &chain{}
		for p, pc := range rc.Providers {
			switch {
			case pc.AESGCM != nil && pc.Identity == nil:
				if len(pc.AESGCM.Keys) == 0 {
					return nil, fmt.Errorf("encryption config: resources[%d].providers[%d].aesgcm.keys: Required value", n, p)
				}
				for k, key := range pc.AESGCM.Keys {
					gk, err := newGCMKey(key)
					if err != nil {
						return nil, fmt.Errorf("encryption config: resources[%d].providers[%d].aesgcm.keys[%d]: %w", n, p, k, err)
					}
					ch.keys = append(ch.keys, gk)
					if p == 0 && k == 0 {
						ch.writeKey = &ch.keys[len(ch.keys)-1]
					}
				}
			case pc.Identity != nil && pc.AESGCM == nil:
				ch.identity = true
			default:
				return nil, fmt.Errorf("encryption config: resources[%d].providers[%d]: exactly one of aesgcm or identity", n, p)
			}
		}
		for _, r := range rc.Resources {
			if _, dup := out[r]; dup {
				return nil, fmt.Errorf("encryption config: resource %q listed twice", r)
			}
			out[r] = ch
		}
	}
	return out, nil
}

func newGCMKey(k Key) (gcmKey, error) {
	if k.Name == "" {
		return gcmKey{}, errors.New("name: Required value")
	}
	secret, err := base64.StdEncoding.DecodeString(k.Secret)
	if err != nil {
		return gcmKey{}, fmt.Errorf("secret: not base64: %w", err)
	}
	block, err := aes.NewCipher(secret)
	if err != nil {
		return gcmKey{}, fmt.Errorf("secret: %w (want 16, 24 or 32 bytes)", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return gcmKey{}, err
	}
	return gcmKey{name: k.Name, prefix: []byte(gcmPrefix + k.Name + ":"), aead: aead}, nil
}

func (c *chain) ToStorage(plain []byte) ([]byte, error) {
	if c.writeKey == nil {
		return plain, nil
	}
	k := c.writeKey
	nonce := make([]byte, k.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	out := append([]byte(nil), k.prefix...)
	out = append(out, nonce...)
	// The prefix is authenticated too, so a value cannot move between keys.
	return k.aead.Seal(out, nonce, plain, k.prefix), nil
}

func (c *chain) FromStorage(data []byte) ([]byte, bool, error) {
	for n := range c.keys {
		k := &c.keys[n]
		if !bytes.HasPrefix(data, k.prefix) {
			continue
		}
		rest := data[len(k.prefix):]
		ns := k.aead.NonceSize()
		if len(rest) < ns {
			return nil, false, errors.New("encrypted value too short")
		}
		plain, err := k.aead.Open(nil, rest[:ns], rest[ns:], k.prefix)
		if err != nil {
			return nil, false, fmt.Errorf("decrypt with key %q: %w", k.name, err)
		}
		return plain, k != c.writeKey, nil
	}
	if bytes.HasPrefix(data, []byte("k8s:enc:")) {
		return nil, false, errors.New("value is encrypted with a key that is not configured")
	}
	if !c.identity {
		return nil, false, errors.New("value is not encrypted and identity is not a configured provider")
	}
	return data, c.writeKey != nil, nil
}
