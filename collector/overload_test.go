package collector

import (
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/seed-5ff58b3a/synack_exporter/internal/loopback"
)

// silentTarget returns a loopback address that never answers.
func silentTarget(t *testing.T) netip.AddrPort {
	t.Helper()
	requireLinux(t)
	return loopback.Silent(t)
}

// TestOverload fills --probe.max-concurrency with real checks that hang
// until their deadline, then sends more: each extra probe fails at once as
// class local (EAGAIN) and is counted, and /metrics and /-/healthy answer
// promptly the whole time. "At once" is judged against the budget, which
// keeps the test meaningful on a busy machine under -race: every extra
// request has its answer while the slots are still held.
func TestOverload(t *testing.T) {
	const limit, extra = 8, 32
	const budget = 2 * time.Second
	s := newTestServer(t, Options{MaxConcurrency: limit})
	silent := silentTarget(t).String()
	open := openPort(t, "tcp4", "127.0.0.1:0")

	var hanging sync.WaitGroup
	for range limit {
		hanging.Go(func() {
			_, _, body := s.get(t, "/probe?target="+silent, scrapeTimeoutHeader, fmt.Sprint(budget.Seconds()))
			// The kernel re-sends the SYN after 1s of the 2s budget: the
			// retransmission count is the timing's, checked elsewhere.
			mfs := parseMetrics(t, body)
			if err := compareMetrics(mfs, expectedProbe(0, budget.Seconds(), 4, "127.0.0.1", syscall.ETIMEDOUT, "timeout"), stableButRetransmits...); err != nil {
				t.Errorf("probe holding a slot: %v", err)
			}
		})
	}
	deadline := time.Now().Add(budget / 2)
	for s.inFlight.Load() < limit {
		if time.Now().After(deadline) {
			t.Fatalf("only %d probes in flight", s.inFlight.Load())
		}
		time.Sleep(time.Millisecond)
	}

	saturated := time.Now()
	var rejected sync.WaitGroup
	for range extra {
		rejected.Go(func() {
			start := time.Now()
			status, _, body := s.get(t, "/probe?target="+open)
			if took := time.Since(start); took > budget/2 {
				t.Errorf("a probe beyond the limit took %v to fail", took)
			}
			if status != 200 {
				t.Errorf("probe beyond the limit: %d %q", status, body)
				return
			}
			if err := compareMetrics(parseMetrics(t, body), expectedProbe(0, 5, 0, "", syscall.EAGAIN, "local"), stableProbeMetrics...); err != nil {
				t.Errorf("probe beyond the limit: %v", err)
			}
		})
	}
	for range 5 {
		start := time.Now()
		status, _, body := s.get(t, "/metrics")
		if took := time.Since(start); status != 200 || took > budget/2 {
			t.Errorf("/metrics while saturated: %d after %v", status, took)
		}
		if !strings.Contains(body, "synack_exporter_probes_in_flight 8\n") {
			t.Errorf("/metrics while saturated does not show 8 probes in flight")
		}
		if status, _, _ := s.get(t, "/-/healthy"); status != 200 {
			t.Errorf("/-/healthy while saturated: %d", status)
		}
	}
	rejected.Wait()
	if n := s.inFlight.Load(); n != limit {
		t.Errorf("%d probes in flight after the extra ones were answered, %v after saturation; want all %d slots still held",
			n, time.Since(saturated), limit)
	}
	if got := testutil.ToFloat64(s.metrics.rejected.WithLabelValues(reasonConcurrency)); got != extra {
		t.Errorf("probes_rejected_total{reason=concurrency} = %g, want %d", got, extra)
	}
	if got := testutil.ToFloat64(s.metrics.failures.WithLabelValues("tcp_synack", "local")); got != extra {
		t.Errorf("probe_failures_total{class=local} = %g, want %d", got, extra)
	}

	hanging.Wait()
	if n := s.inFlight.Load(); n != 0 {
		t.Errorf("%d probes still in flight after the slow ones ended", n)
	}
	status, _, body := s.get(t, "/probe?target="+open)
	if status != 200 || gaugeValue(t, parseMetrics(t, body), "probe_success") != 1 {
		t.Errorf("probe after the overload: %d\n%s", status, body)
	}
}
