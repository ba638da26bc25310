// Package collector turns the prober's results into Prometheus metrics and
// serves synack_exporter's HTTP surface as one http.Handler:
//
//   - /probe runs one probe per request (one check, or several summed up
//     with syn_count or addresses: all) and answers with its gauges,
//     written directly in the text exposition format (probe_families.go):
//     no registry per request, which cost more CPU than the check itself.
//     Golden files in testdata/ and promtool guard the text.
//   - /metrics serves the exporter's own counters from one registry through
//     promhttp, which negotiates the text format, protobuf and OpenMetrics.
//   - /config, /-/healthy, /-/reload (POST), the landing page (where each
//     target stands, target_state.go, and the recent probes), and /logs,
//     the stored debug output of a probe in that history.
//   - UnderPrefix serves all of it under --web.route-prefix (prefix.go).
//
// A finished probe is a probeRecord. Its /probe gauges, the exporter's
// counters, its debug log line and its landing-page row all read what it
// came to the same way (outcome.go); with several checks the record keeps
// the summary of its checks without their results
// (prober.Summary.WithoutResults), bounded in size however many there are.
//
// The handler holds no connections of its own: main.go serves it with a
// stock net/http server through exporter-toolkit.
//
// The per-probe metric names are a contract with dashboards and alerts;
// every family of the /probe answer (those of one check, of several
// checks, of addresses: all, and the fingerprint of what answered:
// probe_tcp_handshake_hash and probe_tcp_peer_*) is one entry of the
// table in probe_families.go, with its HELP and how its value is read
// from the probe (probe_view.go); probe_metrics.go writes them.
package collector
