//go:build tools

// Package tools pins the build tools Flotilla uses; they are built with
// `GOWORK=off go build` from this module so their versions are recorded here.
package tools
