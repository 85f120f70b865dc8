package server

import (
	"strconv"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	apiv1 "flotilla.io/proto/flotilla/api/v1"

	"flotilla.io/apiserver/internal/filter"
	"flotilla.io/apiserver/internal/watchcache"
)

// maxBatch bounds how many events one WatchResponse carries.
const maxBatch = 256

// Watch streams changes from the kind's watch cache. Events waiting in the
// watcher's buffer are sent together, so a burst costs few stream messages.
func (s *Server) Watch(req *apiv1.WatchRequest, stream apiv1.ResourceService_WatchServer) (err error) {
	info, err := lookupKind(req.Kind)
	if err != nil {
		return err
	}
	ctx := stream.Context()
	start := time.Now()
	if err := s.authorize(ctx, info, "watch", "", req.Namespace, ""); err != nil {
		s.observe(info.Kind, "watch", start, &err)
		return err
	}
	f, err := filter.New(info, req.Namespace, req.LabelSelector, req.FieldSelector)
	if err != nil {
		return badRequest("%v", err)
	}
	var from int64
	if req.ResourceVersion != "" {
		if from, err = strconv.ParseInt(req.ResourceVersion, 10, 64); err != nil || from < 0 {
			return badRequest("resourceVersion: Invalid value: %q: must be a revision number", req.ResourceVersion)
		}
	}
	var minRV int64
	if from == 0 { // start from a consistent "now", like a quorum list
		if minRV, err = s.store.Revision(ctx); err != nil {
			return storeError(info, "", err)
		}
	}
	w, err := s.caches.For(info.Kind).Watch(ctx, f, from, minRV)
	err = storeError(info, "", err)
	s.observe(info.Kind, "watch", start, &err)
	if err != nil {
		return err
	}
	defer w.Stop()

	batch := make([]*apiv1.WatchEvent, 0, maxBatch)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		err := stream.Send(&apiv1.WatchResponse{Events: batch})
		batch = batch[:0]
		return err
	}
	add := func(ev watchcache.Event) error {
		a, err := ev.Any()
		if err != nil {
			return status.Errorf(codes.Internal, "encode event: %v", err)
		}
		batch = append(batch, &apiv1.WatchEvent{Type: ev.Type, Object: a, ResourceVersion: strconv.FormatInt(ev.RV(), 10)})
		if len(batch) == maxBatch {
			return flush()
		}
		return nil
	}
	for _, ev := range w.Initial() {
		if err := add(ev); err != nil {
			return err
		}
	}
	if err := flush(); err != nil {
		return err
	}
	// A watch that starts from "now" is told at once where "now" is.
	if req.AllowBookmarks && len(w.Initial()) == 0 {
		if err := s.sendBookmark(stream, w); err != nil {
			return err
		}
	}
	bookmarks := time.NewTicker(s.bookmark)
	defer bookmarks.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-w.Done():
			if w.Err() != nil {
				return storeError(info, "", w.Err())
			}
			return nil
		case ev := <-w.Events():
			if err := add(ev); err != nil {
				return err
			}
		drain:
			for len(batch) < maxBatch {
				select {
				case ev := <-w.Events():
					if err := add(ev); err != nil {
						return err
					}
				default:
					break drain
				}
			}
			if err := flush(); err != nil {
				return err
			}
		case <-bookmarks.C:
			if req.AllowBookmarks && len(w.Events()) == 0 {
				if err := s.sendBookmark(stream, w); err != nil {
					return err
				}
			}
		}
	}
}

// sendBookmark sends the revision everything before which the watcher has
// already been sent; events queued meanwhile are sent first.
func (s *Server) sendBookmark(stream apiv1.ResourceService_WatchServer, w *watchcache.Watcher) error {
	rv := w.Bookmark()
	batch := make([]*apiv1.WatchEvent, 0, 1)
	for len(w.Events()) > 0 {
		ev := <-w.Events()
		a, err := ev.Any()
		if err != nil {
			return status.Errorf(codes.Internal, "encode event: %v", err)
		}
		batch = append(batch, &apiv1.WatchEvent{Type: ev.Type, Object: a, ResourceVersion: strconv.FormatInt(ev.RV(), 10)})
	}
	batch = append(batch, &apiv1.WatchEvent{Type: apiv1.EventType_EVENT_TYPE_BOOKMARK, ResourceVersion: strconv.FormatInt(rv, 10)})
	return stream.Send(&apiv1.WatchResponse{Events: batch})
}
