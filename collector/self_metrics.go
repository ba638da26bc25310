package collector

import (
	"errors"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	versioncollector "github.com/prometheus/client_golang/prometheus/collectors/version"

	"github.com/seed-5ff58b3a/synack_exporter/prober"
)

const namespace = "synack_exporter"

// Reasons for probes_rejected_total: a probe refused before it starts
// (concurrency, target_denied), or one whose checks this host could not
// all make (local).
const (
	reasonConcurrency = "concurrency"
	reasonLocal       = "local"
)

// selfMetrics are the exporter's own metrics, served on /metrics.
type selfMetrics struct {
	probes        *prometheus.CounterVec
	failures      *prometheus.CounterVec
	checks        *prometheus.CounterVec
	rejected      *prometheus.CounterVec
	ackLeaks      prometheus.Counter
	moduleUnknown prometheus.Counter
	reloadOK      prometheus.Gauge
	reloadTime    prometheus.Gauge
}

// newSelfMetrics registers the exporter's metrics, the Go and process
// collectors and build_info in reg. inFlight is read at scrape time.
func newSelfMetrics(reg prometheus.Registerer, inFlight, checksInFlight *atomic.Int64) *selfMetrics {
	m := &selfMetrics{
		probes: counterVec("probes_total",
			"Probes answered with metrics, by module, whatever their outcome.",
			"module"),
		failures: counterVec("probe_failures_total",
			"Probes that answered probe_success 0, by module and the class of the check that failed them (the first that did not end as the module expects; open for a port that answered but must not).",
			"module", "class"),
		checks: counterVec("checks_total",
			"Checks made by probes, by module and the class each ended in, whether the module expected it or not (a probe that could make none counts the class that says why).",
			"module", "class"),
		rejected: counterVec("probes_rejected_total",
			"Probes refused or cut short by a limit, by reason (concurrency: the probe's checks would exceed --probe.max-concurrency checks in flight, no packet sent; target_denied: the module's allowed_targets or denied_targets refused the target, no packet sent; local: this host could not make some of the probe's checks, out of file descriptors, buffers or ports).",
			"reason"),
		ackLeaks: counter("ack_leaks_total",
			"ACKs the kernel sent before the RST of a half-open check, so that the target saw a completed connection; exact when the exporter has CAP_NET_ADMIN, else the delayed ACK is estimated from the time. Should stay 0."),
		moduleUnknown: counter("module_unknown_total",
			"Probe requests rejected because they named a module the configuration does not have."),
		reloadOK: gauge("config_last_reload_successful",
			"1 if the last configuration load succeeded, 0 if it failed (the previous configuration stays in use)."),
		reloadTime: gauge("config_last_reload_success_timestamp_seconds",
			"Unix time of the last successful configuration load."),
	}
	inFlightGauge := gaugeFunc("probes_in_flight",
		"Probes running right now.",
		func() float64 { return float64(inFlight.Load()) })
	checksGauge := gaugeFunc("checks_in_flight",
		"Check slots the probes running right now hold: the checks (sockets) their modules can make, which --probe.max-concurrency bounds.",
		func() float64 { return float64(checksInFlight.Load()) })
	m.rejected.WithLabelValues(reasonConcurrency)
	m.rejected.WithLabelValues(reasonTargetDenied)
	m.rejected.WithLabelValues(reasonLocal)
	reg.MustRegister(
		m.probes, m.failures, m.checks, m.rejected, m.ackLeaks, m.moduleUnknown,
		m.reloadOK, m.reloadTime, inFlightGauge, checksGauge,
		versioncollector.NewCollector(namespace),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}

// allClasses are every class, open first: the label values of the
// counters by class and of probe_tcp_syn_results.
var allClasses = append([]prober.Class{prober.ClassOpen}, prober.FailureClasses...)

// initModule makes a module's counters exist at 0 before its first probe,
// so rate() and absent() work from the start.
func (m *selfMetrics) initModule(module string) {
	m.probes.WithLabelValues(module)
	for _, class := range allClasses {
		m.failures.WithLabelValues(module, class.String())
		m.checks.WithLabelValues(module, class.String())
	}
}

// observe counts one finished probe.
func (m *selfMetrics) observe(rec *probeRecord) {
	m.probes.WithLabelValues(rec.Module).Inc()
	if !rec.Succeeded() {
		m.failures.WithLabelValues(rec.Module, rec.failedCheck().Class.String()).Inc()
	}
	for class, n := range rec.classCounts() {
		if n > 0 {
			m.checks.WithLabelValues(rec.Module, prober.Class(class).String()).Add(float64(n))
		}
	}
	if n := ackLeaks(rec); n > 0 {
		m.ackLeaks.Add(float64(n))
	}
	if !errors.Is(rec.Result.Err, errConcurrency) && rec.classCounts()[prober.ClassLocal] > 0 {
		m.rejected.WithLabelValues(reasonLocal).Inc()
	}
}

// counterVec, counter, gauge and gaugeFunc make the exporter's own
// metrics, each named under the namespace.
func counterVec(name, help string, labels ...string) *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: name, Help: help}, labels)
}

func counter(name, help string) prometheus.Counter {
	return prometheus.NewCounter(prometheus.CounterOpts{Namespace: namespace, Name: name, Help: help})
}

func gauge(name, help string) prometheus.Gauge {
	return prometheus.NewGauge(prometheus.GaugeOpts{Namespace: namespace, Name: name, Help: help})
}

func gaugeFunc(name, help string, value func() float64) prometheus.GaugeFunc {
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: namespace, Name: name, Help: help}, value)
}
