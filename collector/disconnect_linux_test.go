package collector

import (
	"context"
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/seed-5ff58b3a/synack_exporter/internal/leakcheck"
	"github.com/seed-5ff58b3a/synack_exporter/prober"
)

// waitFor polls cond every millisecond until it holds or d passes.
func waitFor(d time.Duration, cond func() bool) bool {
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(time.Millisecond) {
		if cond() {
			return true
		}
	}
	return cond()
}

// TestClientDisconnectCancelsCheck: a scraper that gives up mid-probe
// cancels the check at once, not at the end of its budget, and the
// check's socket is closed.
func TestClientDisconnectCancelsCheck(t *testing.T) {
	s := newTestServer(t, Options{})
	silent := silentTarget(t).String()
	s.get(t, "/probe?target="+closedPort(t)) // whatever opens lazily, opens now
	transport := &http.Transport{}
	client := &http.Client{Transport: transport}
	baseline := leakcheck.OpenFDs(t)

	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/probe?target="+silent, nil)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := client.Do(req)
		done <- err
	}()
	if !waitFor(2*time.Second, func() bool { return s.inFlight.Load() == 1 }) {
		t.Fatal("the probe did not start")
	}
	// The client's and the server's ends of the connection, and the
	// check's socket.
	if during := leakcheck.OpenFDs(t); during < baseline+3 {
		t.Errorf("%d fds open during the probe, %d before: the check holds no socket?", during, baseline)
	}
	cancel()
	<-done
	cancelled := time.Now()
	if !waitFor(time.Second, func() bool { return s.inFlight.Load() == 0 }) {
		t.Fatal("the check went on after the client left")
	}
	// The module's budget is 5s: ending well within a second means the
	// disconnect, not the deadline, ended it.
	if took := time.Since(cancelled); took > 500*time.Millisecond {
		t.Errorf("the check ended %v after the client left", took)
	}
	if recent := s.history.recent(); len(recent) == 0 {
		t.Error("the cancelled probe is not in the history")
	} else if r := recent[0].Result; r.Class != prober.ClassOther || r.Errno != syscall.ECANCELED {
		t.Errorf("the cancelled probe is recorded as %v/%d, want other/ECANCELED", r.Class, r.Errno)
	}
	transport.CloseIdleConnections()
	if !waitFor(2*time.Second, func() bool { return leakcheck.OpenFDs(t) <= baseline }) {
		t.Errorf("%d fds open after the probe was cancelled, %d before", leakcheck.OpenFDs(t), baseline)
	}
}
