package client

import "google.golang.org/protobuf/proto"

// ListOptions narrows and pages a list. An empty Namespace lists all
// namespaces; selectors use upstream syntax ("app=web,tier in (a,b)",
// "spec.nodeName=n1").
type ListOptions struct {
	Namespace     string
	LabelSelector string
	FieldSelector string
	// PageSize limits one page; 0 asks for everything at once.
	PageSize  int32
	PageToken string
}

// List is one page of objects.
type List[T proto.Message] struct {
	Items []T
	// ResourceVersion is the revision the list is consistent at: watch from it.
	ResourceVersion string
	// NextPageToken continues the list; empty on the last page.
	NextPageToken string
	// RemainingItemCount estimates the items after this page.
	RemainingItemCount int64
}

// WatchOptions selects the changes a watch delivers.
type WatchOptions struct {
	Namespace     string
	LabelSelector string
	FieldSelector string
	// ResourceVersion starts after this revision; "" or "0" first delivers an
	// ADDED event for every current object.
	ResourceVersion string
	// AllowBookmarks asks for BOOKMARK events that only advance the revision.
	AllowBookmarks bool
}

// PropagationPolicy says what happens to dependents of a deleted object.
type PropagationPolicy string

const (
	Orphan     PropagationPolicy = "Orphan"
	Background PropagationPolicy = "Background"
	Foreground PropagationPolicy = "Foreground"
)

// Preconditions make a delete fail (FailedPrecondition) unless the object
// still has this UID and/or resourceVersion.
type Preconditions struct {
	UID             string
	ResourceVersion string
}

// DeleteOptions tune a delete. The zero value uses the object's own grace
// period and the server's default propagation.
type DeleteOptions struct {
	// GracePeriodSeconds overrides the pod's grace period; 0 deletes at once.
	GracePeriodSeconds *int64
	Preconditions      *Preconditions
	PropagationPolicy  PropagationPolicy
	DryRun             bool
}

// WriteOption tunes Create, Update and UpdateStatus.
type WriteOption func(*writeOptions)

type writeOptions struct{ dryRun bool }

// DryRun validates and defaults without persisting.
func DryRun() WriteOption { return func(o *writeOptions) { o.dryRun = true } }

func applyWrite(opts []WriteOption) writeOptions {
	var w writeOptions
	for _, o := range opts {
		o(&w)
	}
	return w
}
