package continuous

import (
	"runtime"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/seed-5ff58b3a/synack_exporter/internal/leakcheck"
	"github.com/seed-5ff58b3a/synack_exporter/internal/loopback"
)

// TestCloseGivesBack: Close ends the scheduler, the starters, the
// resolvers, the file poll and every check in flight; the process is
// left with the file descriptors and goroutines it had.
func TestCloseGivesBack(t *testing.T) {
	requireLinux(t)
	_, open := listen(t, "tcp4", "127.0.0.1:0")
	silent := loopback.Silent(t).String() // checks in flight at Close
	checker := newChecker(t, nil)
	fds, goroutines := leakcheck.OpenFDs(t), runtime.NumGoroutine()
	reg := prometheus.NewRegistry()
	r := New(Options{Checker: checker, Registerer: reg, Histogram: HistogramOptions{Buckets: DefaultBuckets}})
	if err := r.Apply(load(t, groupDoc("    timeout: 5s", "200ms", open, silent, closedPort(t)))); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "checks of each", func() bool {
		return checks(t, reg, open, "open") >= 3 && checks(t, reg, silent, "timeout") >= 1
	})
	r.Close()
	leakcheck.WaitBaseline(t, fds, goroutines, 10*time.Second)
	before := checks(t, reg, open, "open")
	time.Sleep(300 * time.Millisecond) // longer than an interval: nothing may count
	if after := checks(t, reg, open, "open"); after != before {
		t.Errorf("%g checks after Close, %g at Close", after, before)
	}
}
