// Package framework holds the scheduler's data model and extension points:
// the precomputed view of pods and nodes (PodInfo, NodeInfo, Snapshot), the
// per-cycle state, and one small interface per extension point, after
// upstream's scheduling framework. Nothing here does I/O.
package framework

import "strings"

// Code is the outcome of a plugin call.
type Code int

const (
	// Success: the pod may go on (a nil *Status also means Success).
	Success Code = iota
	// Unschedulable: the node does not fit now, but evicting pods may help.
	Unschedulable
	// UnschedulableAndUnresolvable: the node does not fit and preemption
	// cannot change that.
	UnschedulableAndUnresolvable
	// Error: the plugin failed; the pod is retried with backoff.
	Error
	// Skip: a PreScore/PreFilter plugin has nothing to do for this pod.
	Skip
)

// Status is what a plugin answers. nil means Success.
type Status struct {
	code    Code
	reasons []string
	plugin  string
	err     error
}

// NewStatus makes a status with reasons (the strings counted in the
// "0/N nodes are available" message).
func NewStatus(code Code, reasons ...string) *Status {
	return &Status{code: code, reasons: reasons}
}

// AsStatus wraps an error.
func AsStatus(err error) *Status {
	if err == nil {
		return nil
	}
	return &Status{code: Error, reasons: []string{err.Error()}, err: err}
}

// Code is the status code; Success for nil.
func (s *Status) Code() Code {
	if s == nil {
		return Success
	}
	return s.code
}

// IsSuccess reports whether the status is nil or Success.
func (s *Status) IsSuccess() bool { return s.Code() == Success }

// IsRejected reports Unschedulable or UnschedulableAndUnresolvable.
func (s *Status) IsRejected() bool {
	c := s.Code()
	return c == Unschedulable || c == UnschedulableAndUnresolvable
}

// Reasons lists the reasons.
func (s *Status) Reasons() []string {
	if s == nil {
		return nil
	}
	return s.reasons
}

// Message joins the reasons.
func (s *Status) Message() string {
	if s == nil {
		return ""
	}
	return strings.Join(s.reasons, ", ")
}

// Plugin names the plugin that answered.
func (s *Status) Plugin() string {
	if s == nil {
		return ""
	}
	return s.plugin
}

// WithPlugin records which plugin answered.
func (s *Status) WithPlugin(name string) *Status {
	if s != nil {
		s.plugin = name
	}
	return s
}

// AsError is the error of an Error status.
func (s *Status) AsError() error {
	if s.Code() != Error {
		return nil
	}
	if s.err != nil {
		return s.err
	}
	return errString(s.Message())
}

type errString string

func (e errString) Error() string { return string(e) }
