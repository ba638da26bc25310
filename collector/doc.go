// Package collector turns the prober's results into Prometheus metrics and
// serves synack_exporter's HTTP surface: /probe (one check per request, its
// gauges in a registry of its own), /metrics (the exporter's own counters),
// /config, /-/healthy, /-/reload, the landing page with recent probes, and
// /logs, the stored debug output of a probe in that history.
//
// The per-probe metric names are a contract with dashboards and alerts;
// they are all declared in probe_metrics.go.
package collector
