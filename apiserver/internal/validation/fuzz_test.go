package validation_test

import (
	"testing"

	"flotilla.io/proto/codec"

	"flotilla.io/apiserver/internal/defaults"
	"flotilla.io/apiserver/internal/validation"
)

// FuzzDecodeDefaultValidate drives the apiserver's input path for any
// manifest: decode, default, validate. None of it may panic.
func FuzzDecodeDefaultValidate(f *testing.F) {
	for _, seed := range []string{
		`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","namespace":"d"},"spec":{"containers":[{"name":"c","image":"i","ports":[{"containerPort":80,"name":"http"}],"readinessProbe":{"httpGet":{"port":"http"}},"resources":{"limits":{"cpu":"1","memory":"1Gi"}}}],"volumes":[{"name":"v","emptyDir":{}}]}}`,
		`{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"d","namespace":"d"},"spec":{"selector":{"matchLabels":{"a":"b"}},"template":{"metadata":{"labels":{"a":"b"}},"spec":{"containers":[{"name":"c","image":"i"}]}},"strategy":{"rollingUpdate":{"maxSurge":"150%","maxUnavailable":-1}}}}`,
		`{"apiVersion":"v1","kind":"Service","metadata":{"name":"s","namespace":"d"},"spec":{"type":"NodePort","ports":[{"port":80,"targetPort":"x","nodePort":99999}]}}`,
		`{"apiVersion":"batch/v1","kind":"CronJob","metadata":{"name":"c","namespace":"d"},"spec":{"schedule":"*/5 * * * *","timeZone":"Mars/Base","jobTemplate":{"spec":{"template":{"spec":{"containers":[{"name":"c","image":"i"}]}}}}}}`,
		`{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRoleBinding","metadata":{"name":"x"},"roleRef":{"kind":"Role","name":"r"},"subjects":[{"kind":"ServiceAccount","name":"s"}]}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		obj, err := codec.Unmarshal(data)
		if err != nil {
			return
		}
		defaults.Apply(obj)
		_ = validation.Validate(obj, nil)
		_ = validation.Validate(obj, obj)
		_ = validation.ValidateStatus(obj, obj)
	})
}
