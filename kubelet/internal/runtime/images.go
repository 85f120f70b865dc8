package runtime

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/errdefs"
	"github.com/distribution/reference"
	"go.uber.org/zap"
)

// Image pull policies (upstream's values).
const (
	PullAlways       = "Always"
	PullIfNotPresent = "IfNotPresent"
	PullNever        = "Never"
)

// PullTimeout bounds one pull: an unreachable registry must become a clear
// ImagePullBackOff, not a pod pending forever.
const PullTimeout = 2 * time.Minute

// ErrImageNeverPull: the image is missing and the policy forbids pulling.
var ErrImageNeverPull = errors.New("image is not present and the pull policy is Never")

// Normalize turns "busybox:1.35" into "docker.io/library/busybox:1.35" (and
// adds ":latest" to an untagged name), the names containerd stores.
func Normalize(ref string) (string, error) {
	n, err := reference.ParseDockerRef(ref)
	if err != nil {
		return "", fmt.Errorf("invalid image reference %q: %w", ref, err)
	}
	return n.String(), nil
}

// DefaultPullPolicy is upstream's: Always for :latest or untagged images,
// IfNotPresent otherwise.
func DefaultPullPolicy(ref string) string {
	n, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return PullIfNotPresent
	}
	if _, ok := n.(reference.Digested); ok {
		return PullIfNotPresent
	}
	if t, ok := n.(reference.Tagged); !ok || t.Tag() == "latest" {
		return PullAlways
	}
	return PullIfNotPresent
}

// image finds a local image by its pod-spec reference.
func (r *Runtime) image(ctx context.Context, ref string) (containerd.Image, error) {
	name, err := Normalize(ref)
	if err != nil {
		return nil, err
	}
	img, err := r.client.GetImage(ctx, name)
	if errdefs.IsNotFound(err) && name != ref {
		img, err = r.client.GetImage(ctx, ref)
	}
	return img, err
}

func imageIDOf(img containerd.Image) string {
	name := img.Name()
	if n, err := reference.ParseNormalizedNamed(name); err == nil {
		name = n.Name()
	}
	return name + "@" + img.Target().Digest.String()
}

// EnsureImage makes the image present and unpacked according to the pull
// policy (empty: DefaultPullPolicy) and returns its image ID.
func (r *Runtime) EnsureImage(ctx context.Context, ref, policy string) (string, error) {
	ctx = r.ctx(ctx)
	if policy == "" {
		policy = DefaultPullPolicy(ref)
	}
	img, err := r.image(ctx, ref)
	switch {
	case err == nil && policy != PullAlways:
	case err != nil && !errdefs.IsNotFound(err):
		return "", err
	case policy == PullNever:
		return "", ErrImageNeverPull
	default:
		pulled, perr := r.pull(ctx, ref)
		if perr != nil {
			if err == nil && policy == PullAlways {
				// Upstream fails the pull; but a local copy of the very
				// reference asked for is what the user meant when no
				// registry answers, so keep running it.
				r.log.Info("pull failed, using the local image", zap.String("image", ref), zap.Error(perr))
				break
			}
			return "", perr
		}
		img = pulled
	}
	ok, err := img.IsUnpacked(ctx, Snapshotter)
	if err != nil {
		return "", err
	}
	if !ok {
		if err := img.Unpack(ctx, Snapshotter); err != nil {
			return "", fmt.Errorf("unpack %s: %w", ref, err)
		}
	}
	return imageIDOf(img), nil
}

func (r *Runtime) pull(ctx context.Context, ref string) (containerd.Image, error) {
	name, err := Normalize(ref)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, PullTimeout)
	defer cancel()
	img, err := r.client.Pull(ctx, name, containerd.WithPullUnpack, containerd.WithPullSnapshotter(Snapshotter))
	if err != nil {
		return nil, fmt.Errorf("pull %s: %w", name, err)
	}
	return img, nil
}

// LoadImage imports an OCI or docker-archive tar, unpacks every image in it
// and returns their names. A name that is not in containerd's normal form
// ("busybox:1.35") is stored under the normal one too.
func (r *Runtime) LoadImage(ctx context.Context, archive io.Reader) ([]string, error) {
	ctx = r.ctx(ctx)
	imgs, err := r.client.Import(ctx, archive)
	if err != nil {
		return nil, fmt.Errorf("import images: %w", err)
	}
	var names []string
	for _, im := range imgs {
		name := im.Name
		if n, err := Normalize(name); err == nil && n != name {
			alias := im
			alias.Name = n
			if _, err := r.client.ImageService().Create(ctx, alias); errdefs.IsAlreadyExists(err) {
				_, err = r.client.ImageService().Update(ctx, alias)
				if err != nil {
					return nil, fmt.Errorf("name image %s: %w", n, err)
				}
			} else if err != nil {
				return nil, fmt.Errorf("name image %s: %w", n, err)
			}
			name = n
		}
		img := containerd.NewImage(r.client, images.Image{Name: name, Target: im.Target})
		if err := img.Unpack(ctx, Snapshotter); err != nil {
			return nil, fmt.Errorf("unpack %s: %w", name, err)
		}
		names = append(names, name)
	}
	sort.Strings(names)
	return names, nil
}

// ImageInfo is one image for the Node status.
type ImageInfo struct {
	Names []string
	Size  int64
}

// Images lists the node's images, names grouped by content.
func (r *Runtime) Images(ctx context.Context) ([]ImageInfo, error) {
	ctx = r.ctx(ctx)
	imgs, err := r.client.ListImages(ctx)
	if err != nil {
		return nil, err
	}
	byDigest := map[string]*ImageInfo{}
	var order []string
	for _, img := range imgs {
		d := img.Target().Digest.String()
		info, ok := byDigest[d]
		if !ok {
			size, _ := img.Size(ctx)
			info = &ImageInfo{Size: size}
			byDigest[d] = info
			order = append(order, d)
			if id := imageIDOf(img); !strings.HasPrefix(img.Name(), "sha256:") {
				info.Names = append(info.Names, id)
			}
		}
		info.Names = append(info.Names, img.Name())
	}
	out := make([]ImageInfo, 0, len(order))
	for _, d := range order {
		info := byDigest[d]
		sort.Strings(info.Names)
		out = append(out, *info)
	}
	return out, nil
}
