// Package collector turns the prober's results into Prometheus metrics and
// serves synack_exporter's HTTP surface as one http.Handler:
//
//   - /probe runs one probe per request (one check, or several summed up
//     with syn_count or addresses: all) and answers with its gauges,
//     written directly in the text exposition format (probe_metrics.go):
//     no registry per request, which cost more CPU than the check itself.
//     Golden files in testdata/ and promtool guard the text.
//   - /metrics serves the exporter's own counters from one registry through
//     promhttp, which negotiates the text format, protobuf and OpenMetrics.
//   - /config, /-/healthy, /-/reload (POST), the landing page (where each
//     target stands, target_state.go, and the recent probes), and /logs,
//     the stored debug output of a probe in that history.
//   - UnderPrefix serves all of it under --web.route-prefix (prefix.go).
//
// The handler holds no connections of its own: main.go serves it with a
// stock net/http server through exporter-toolkit.
//
// The per-probe metric names are a contract with dashboards and alerts;
// they are all declared in probe_metrics.go, and those of several checks
// in probe_metrics_multi.go.
package collector
