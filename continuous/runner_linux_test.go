package continuous

import (
	"testing"
	"time"
)

func TestOpenAndRefused(t *testing.T) {
	requireLinux(t)
	l, open := listen(t, "tcp4", "127.0.0.1:0")
	closed := closedPort(t)
	r, reg := newRunner(t, Options{})
	if err := r.Apply(load(t, groupDoc("    timeout: 1s", "10ms", open, closed))); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "300 open checks", func() bool { return checks(t, reg, open, "open") >= 300 })
	waitFor(t, 10*time.Second, "50 refused checks", func() bool { return checks(t, reg, closed, "refused") >= 50 })
	mfs := gather(t, reg)
	if got := value(mfs, durationName, map[string]string{"target": open, "address": "127.0.0.1"}); got < 50 {
		t.Errorf("histogram count %g, want at least 50", got)
	}
	if got := value(mfs, checksName, map[string]string{"target": open, "class": "timeout"}); got != 0 {
		t.Errorf("timeouts %g, want 0 (the series exists from the start)", got)
	}
	if got := value(mfs, "synack_exporter_continuous_targets", nil); got != 2 {
		t.Errorf("targets gauge %g, want 2", got)
	}
	requireNoAccept(t, l)
}
