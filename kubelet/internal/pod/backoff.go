package pod

import "time"

// Backoff is upstream's crash-loop backoff: the first restart is at once,
// then 10s doubling up to 5 minutes; a container that ran for 10 minutes
// resets it.
type Backoff struct {
	Initial, Max, ResetAfter time.Duration
}

// DefaultBackoff is upstream's.
var DefaultBackoff = Backoff{Initial: 10 * time.Second, Max: 5 * time.Minute, ResetAfter: 10 * time.Minute}

// backoffState is one container's current delay.
type backoffState struct {
	delay time.Duration
}

// Wait says how long from now the container that finished at finished
// after running for ran must still wait before restarting (<= 0: now).
func (b Backoff) Wait(s *backoffState, finished time.Time, ran time.Duration, now time.Time) time.Duration {
	if ran >= b.ResetAfter {
		s.delay = 0
	}
	return finished.Add(s.delay).Sub(now)
}

// Restarted records a restart: the next one waits longer.
func (b Backoff) Restarted(s *backoffState) {
	if s.delay == 0 {
		s.delay = b.Initial
		return
	}
	s.delay = min(2*s.delay, b.Max)
}

// ShouldRestart is the restart policy's answer for an exited container.
func ShouldRestart(policy string, exitCode int) bool {
	switch policy {
	case "Never":
		return false
	case "OnFailure":
		return exitCode != 0
	default: // Always
		return true
	}
}
