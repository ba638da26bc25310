package collector

import "github.com/prometheus/client_golang/prometheus"

// Registerer is where other parts of the exporter (continuous mode)
// register the metrics served on /metrics.
func (e *Exporter) Registerer() prometheus.Registerer { return e.registry }

// ACKLeaks is synack_exporter_ack_leaks_total, for checks made outside
// /probe.
func (e *Exporter) ACKLeaks() prometheus.Counter { return e.metrics.ackLeaks }

// ReportPartReload sets the reload gauges after a part of the
// configuration that lives in files of its own (continuous mode's
// target files) was read again: err nil means it was good. A good part
// does not make up for a configuration file that failed to load.
func (e *Exporter) ReportPartReload(err error) {
	e.reloadMu.Lock()
	defer e.reloadMu.Unlock()
	if err != nil {
		e.metrics.reloadOK.Set(0)
		return
	}
	if !e.configFailed && e.opts.Config.Current() != nil {
		e.metrics.reloadOK.Set(1)
		e.metrics.reloadTime.SetToCurrentTime()
	}
}
