// Package loops imports every control loop so each registers itself. Add one
// import line per loop package.
package loops

import (
	_ "flotilla.io/controller-manager/internal/controller" // the registry itself
	_ "flotilla.io/controller-manager/internal/cronjob"
	_ "flotilla.io/controller-manager/internal/daemonset"
	_ "flotilla.io/controller-manager/internal/deployment"
	_ "flotilla.io/controller-manager/internal/endpoint"
	_ "flotilla.io/controller-manager/internal/endpointslice"
	_ "flotilla.io/controller-manager/internal/garbagecollector"
	_ "flotilla.io/controller-manager/internal/job"
	_ "flotilla.io/controller-manager/internal/namespace"
	_ "flotilla.io/controller-manager/internal/nodelifecycle"
	_ "flotilla.io/controller-manager/internal/replicaset"
	_ "flotilla.io/controller-manager/internal/replicationcontroller"
	_ "flotilla.io/controller-manager/internal/serviceaccount"
	_ "flotilla.io/controller-manager/internal/statefulset"
	_ "flotilla.io/controller-manager/internal/volume"
)
