package collector

import (
	"context"
	"net/netip"
	"strings"
	"syscall"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/seed-5ff58b3a/synack_exporter/prober"
)

// checkerFunc is a Checker made of a function: tests use it to hold a
// probe in flight or to return results a loopback target cannot give.
// A nil checkerFunc fails the test if it is called.
type checkerFunc func(ctx context.Context, target string) prober.Result

func (f checkerFunc) Check(ctx context.Context, target string, _ prober.Options) prober.Result {
	if f == nil {
		panic("unexpected check of " + target)
	}
	return f(ctx, target)
}

// CheckMany makes the plan's checks one after another through f, each
// round once (addresses: all is up to f's results), and sums them up.
func (f checkerFunc) CheckMany(ctx context.Context, target string, opts prober.Options, plan prober.Plan) prober.Summary {
	s := prober.Summary{Plan: plan}
	for range max(plan.SYNCount, 1) {
		s.Results = append(s.Results, f.Check(ctx, target, opts))
	}
	s.Summarize()
	return s
}

var openResult = prober.Result{
	Class: prober.ClassOpen, Mode: prober.ModeHalfOpen,
	Addr: netip.MustParseAddrPort("127.0.0.1:22"),
}

func TestMaxConcurrency(t *testing.T) {
	// entered has room for the probes after the first: once release is
	// closed they pass straight through.
	entered, release := make(chan struct{}, 2), make(chan struct{})
	s := newTestServer(t, Options{MaxConcurrency: 1, Checker: checkerFunc(func(context.Context, string) prober.Result {
		entered <- struct{}{}
		<-release
		return openResult
	})})

	first := make(chan string)
	go func() {
		_, _, body := s.get(t, "/probe?target=127.0.0.1:22")
		first <- body
	}()
	<-entered // the first probe holds the only slot

	if err := testutil.ScrapeAndCompare(s.URL+"/metrics", strings.NewReader(`
# HELP synack_exporter_probes_in_flight Probes running right now.
# TYPE synack_exporter_probes_in_flight gauge
synack_exporter_probes_in_flight 1
`), "synack_exporter_probes_in_flight"); err != nil {
		t.Error(err)
	}

	status, _, body := s.get(t, "/probe?target=127.0.0.1:22")
	if status != 200 {
		t.Fatalf("rejected probe: status %d, want 200", status)
	}
	mfs := parseMetrics(t, body)
	if err := compareMetrics(mfs, expectedProbe(0, 5, 0, "", syscall.EAGAIN, "local"), stableProbeMetrics...); err != nil {
		t.Error(err)
	}

	close(release)
	if mfs := parseMetrics(t, <-first); gaugeValue(t, mfs, "probe_success") != 1 {
		t.Error("the probe holding the slot did not succeed")
	}
	if err := testutil.ScrapeAndCompare(s.URL+"/metrics", strings.NewReader(`
# HELP synack_exporter_probes_rejected_total Probes refused or cut short by a limit, by reason (concurrency: the probe's checks would exceed --probe.max-concurrency checks in flight, no packet sent; target_denied: the module's allowed_targets or denied_targets refused the target, no packet sent; local: this host could not make some of the probe's checks, out of file descriptors, buffers or ports).
# TYPE synack_exporter_probes_rejected_total counter
synack_exporter_probes_rejected_total{reason="concurrency"} 1
synack_exporter_probes_rejected_total{reason="local"} 0
synack_exporter_probes_rejected_total{reason="target_denied"} 0
# HELP synack_exporter_probes_in_flight Probes running right now.
# TYPE synack_exporter_probes_in_flight gauge
synack_exporter_probes_in_flight 0
`), "synack_exporter_probes_rejected_total", "synack_exporter_probes_in_flight"); err != nil {
		t.Error(err)
	}
	// The slot is free again.
	if _, _, body := s.get(t, "/probe?target=127.0.0.1:22"); gaugeValue(t, parseMetrics(t, body), "probe_success") != 1 {
		t.Errorf("probe after the slot was released:\n%s", body)
	}
}

func TestSelfMetrics(t *testing.T) {
	results := map[string]prober.Result{
		"open.test:22":    openResult,
		"leak.test:22":    {Class: prober.ClassOpen, Mode: prober.ModeHalfOpen, ACKs: 1},
		"connect.test:22": {Class: prober.ClassOpen, Mode: prober.ModeConnect, ACKs: 1},
		"closed.test:22":  {Class: prober.ClassRefused, Errno: syscall.ECONNREFUSED, Mode: prober.ModeHalfOpen},
	}
	s := newTestServer(t, Options{Checker: checkerFunc(func(_ context.Context, target string) prober.Result {
		return results[target]
	})})
	for _, q := range []string{
		"target=open.test:22", "target=leak.test:22", "target=connect.test:22",
		"target=closed.test:22&module=tcp_short", "target=open.test:22&module=nope",
	} {
		s.get(t, "/probe?"+q)
	}
	if err := testutil.ScrapeAndCompare(s.URL+"/metrics", strings.NewReader(`
# HELP synack_exporter_ack_leaks_total ACKs the kernel sent before the RST of a half-open check, so that the target saw a completed connection; exact when the exporter has CAP_NET_ADMIN, else the delayed ACK is estimated from the time. Should stay 0.
# TYPE synack_exporter_ack_leaks_total counter
synack_exporter_ack_leaks_total 1
# HELP synack_exporter_config_last_reload_successful 1 if the last configuration load succeeded, 0 if it failed (the previous configuration stays in use).
# TYPE synack_exporter_config_last_reload_successful gauge
synack_exporter_config_last_reload_successful 1
# HELP synack_exporter_module_unknown_total Probe requests rejected because they named a module the configuration does not have.
# TYPE synack_exporter_module_unknown_total counter
synack_exporter_module_unknown_total 1
# HELP synack_exporter_probe_failures_total Probes that answered probe_success 0, by module and the class of the check that failed them (the first that did not end as the module expects; open for a port that answered but must not).
# TYPE synack_exporter_probe_failures_total counter
synack_exporter_probe_failures_total{class="local",module="tcp_short"} 0
synack_exporter_probe_failures_total{class="local",module="tcp_synack"} 0
synack_exporter_probe_failures_total{class="open",module="tcp_short"} 0
synack_exporter_probe_failures_total{class="open",module="tcp_synack"} 0
synack_exporter_probe_failures_total{class="other",module="tcp_short"} 0
synack_exporter_probe_failures_total{class="other",module="tcp_synack"} 0
synack_exporter_probe_failures_total{class="prohibited",module="tcp_short"} 0
synack_exporter_probe_failures_total{class="prohibited",module="tcp_synack"} 0
synack_exporter_probe_failures_total{class="refused",module="tcp_short"} 1
synack_exporter_probe_failures_total{class="refused",module="tcp_synack"} 0
synack_exporter_probe_failures_total{class="resolve",module="tcp_short"} 0
synack_exporter_probe_failures_total{class="resolve",module="tcp_synack"} 0
synack_exporter_probe_failures_total{class="timeout",module="tcp_short"} 0
synack_exporter_probe_failures_total{class="timeout",module="tcp_synack"} 0
synack_exporter_probe_failures_total{class="unreachable",module="tcp_short"} 0
synack_exporter_probe_failures_total{class="unreachable",module="tcp_synack"} 0
# HELP synack_exporter_probes_in_flight Probes running right now.
# TYPE synack_exporter_probes_in_flight gauge
synack_exporter_probes_in_flight 0
# HELP synack_exporter_probes_rejected_total Probes refused or cut short by a limit, by reason (concurrency: the probe's checks would exceed --probe.max-concurrency checks in flight, no packet sent; target_denied: the module's allowed_targets or denied_targets refused the target, no packet sent; local: this host could not make some of the probe's checks, out of file descriptors, buffers or ports).
# TYPE synack_exporter_probes_rejected_total counter
synack_exporter_probes_rejected_total{reason="concurrency"} 0
synack_exporter_probes_rejected_total{reason="local"} 0
synack_exporter_probes_rejected_total{reason="target_denied"} 0
# HELP synack_exporter_probes_total Probes answered with metrics, by module, whatever their outcome.
# TYPE synack_exporter_probes_total counter
synack_exporter_probes_total{module="tcp_short"} 1
synack_exporter_probes_total{module="tcp_synack"} 3
`),
		"synack_exporter_ack_leaks_total", "synack_exporter_config_last_reload_successful",
		"synack_exporter_module_unknown_total", "synack_exporter_probe_failures_total",
		"synack_exporter_probes_in_flight", "synack_exporter_probes_rejected_total",
		"synack_exporter_probes_total"); err != nil {
		t.Error(err)
	}
	_, _, body := s.get(t, "/metrics")
	mfs := parseMetrics(t, body)
	for _, name := range []string{"synack_exporter_build_info", "go_goroutines", "process_start_time_seconds", "synack_exporter_config_last_reload_success_timestamp_seconds"} {
		if _, ok := mfs[name]; !ok {
			t.Errorf("/metrics lacks %s", name)
		}
	}
}

// TestMaxConcurrencyCountsChecks: --probe.max-concurrency counts check
// slots, not probes: a module of ten checks does not fit a limit of five
// even with nothing in flight, and a probe whose checks this host could
// not all make fails and is counted as cut short.
func TestMaxConcurrencyCountsChecks(t *testing.T) {
	results := map[string]prober.Result{
		"open.test:22":   openResult,
		"emfile.test:22": {Class: prober.ClassLocal, Errno: syscall.EMFILE, Mode: prober.ModeHalfOpen},
	}
	s := newTestServer(t, Options{MaxConcurrency: 5, Checker: checkerFunc(func(_ context.Context, target string) prober.Result {
		return results[target]
	})})
	writeFile(t, s.ConfigPath, testConfig+"  tcp_ten:\n    syn_count: 10\n  tcp_two:\n    syn_count: 2\n")
	if err := s.Reload(); err != nil {
		t.Fatal(err)
	}
	_, _, body := s.get(t, "/probe?module=tcp_ten&target=open.test:22")
	mfs := parseMetrics(t, body)
	if gaugeValue(t, mfs, "probe_success") != 0 || gaugeValue(t, mfs, "probe_tcp_errno") != float64(syscall.EAGAIN) {
		t.Errorf("ten checks under a limit of five:\n%s", body)
	}
	_, _, body = s.get(t, "/probe?module=tcp_two&target=open.test:22")
	if gaugeValue(t, parseMetrics(t, body), "probe_success") != 1 {
		t.Errorf("two checks under a limit of five:\n%s", body)
	}
	_, _, body = s.get(t, "/probe?module=tcp_two&target=emfile.test:22")
	mfs = parseMetrics(t, body)
	if gaugeValue(t, mfs, "probe_success") != 0 || gaugeValue(t, mfs, "probe_tcp_errno") != float64(syscall.EMFILE) {
		t.Errorf("checks that could not be made:\n%s", body)
	}
	if err := testutil.ScrapeAndCompare(s.URL+"/metrics", strings.NewReader(`
# HELP synack_exporter_probes_rejected_total Probes refused or cut short by a limit, by reason (concurrency: the probe's checks would exceed --probe.max-concurrency checks in flight, no packet sent; target_denied: the module's allowed_targets or denied_targets refused the target, no packet sent; local: this host could not make some of the probe's checks, out of file descriptors, buffers or ports).
# TYPE synack_exporter_probes_rejected_total counter
synack_exporter_probes_rejected_total{reason="concurrency"} 1
synack_exporter_probes_rejected_total{reason="local"} 1
synack_exporter_probes_rejected_total{reason="target_denied"} 0
# HELP synack_exporter_checks_in_flight Check slots the probes running right now hold: the checks (sockets) their modules can make, which --probe.max-concurrency bounds.
# TYPE synack_exporter_checks_in_flight gauge
synack_exporter_checks_in_flight 0
`), "synack_exporter_probes_rejected_total", "synack_exporter_checks_in_flight"); err != nil {
		t.Error(err)
	}
}
