package prober

import (
	"testing"
	"time"
)

// deadlineSlack is how much later than a plain timer with the same
// deadline a check may end when the budget runs out: the epoll loop or
// sweeper notices the deadline, closes the socket and calls back, a few
// goroutine hand-offs more than the timer's one.
const deadlineSlack = 100 * time.Millisecond

// punctual judges how promptly something ends when a deadline passes
// against what the machine manages for a bare timer due at the same
// moment, so that a loaded machine's scheduling delay is not blamed on
// the prober while a prober that overshoots its deadline still fails.
type punctual struct {
	deadline time.Time
	fired    chan time.Time
}

// newPunctual starts the reference timer for deadline.
func newPunctual(t *testing.T, deadline time.Time) *punctual {
	p := &punctual{deadline: deadline, fired: make(chan time.Time, 1)}
	timer := time.AfterFunc(time.Until(deadline), func() { p.fired <- time.Now() })
	t.Cleanup(func() { timer.Stop() })
	return p
}

// check fails t when at, the moment what ended, is more than the slack
// after the reference timer fired: deadlineSlack plus twice as much as
// the timer itself was late, since the check's own hand-offs wait as
// long as the timer's did on a busy machine.
func (p *punctual) check(t *testing.T, what string, at time.Time) {
	t.Helper()
	var fired time.Time
	select {
	case fired = <-p.fired:
	case <-time.After(10 * time.Second):
		t.Fatalf("the reference timer for %s never fired", what)
	}
	timerLate := fired.Sub(p.deadline)
	if slack := deadlineSlack + 2*timerLate; at.Sub(fired) > slack {
		t.Errorf("%s %v after the deadline; a plain timer fired %v after it, and %v more is allowed",
			what, at.Sub(p.deadline), timerLate, slack)
	}
}
