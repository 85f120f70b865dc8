// Package controllerutil holds what several control loops share: owner
// references and adoption, expectations (so a burst of creates or deletes
// is not repeated before the informer has seen it), pod readiness and
// availability, the ranking of pods for deletion, slow-start batches, and
// building a pod from a template. Everything here is pure or in-memory; the
// loops do the I/O.
package controllerutil
