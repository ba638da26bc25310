// Command bench measures synack_exporter beside a floor (the cheapest
// /probe stock net/http allows: floor_linux.go) and blackbox_exporter's
// tcp prober on one machine, in one run, and prints the results as
// Markdown tables. bench/run.sh builds and runs it; docs/benchmarks.md
// explains the scenarios and records a run.
//
// Everything happens inside network namespaces the program creates: the
// servers, the target listener and the load generator talk over the
// namespace's loopback, and the silent and slow targets live at
// 198.18.0.0/15 addresses that exist only there. It needs root (for the
// namespaces, nftables and TUN) and Linux.
//
// -scenarios picks what runs. The default list is the /probe scenarios
// (throughput, paced, paced-peer, inflight, accuracy); two more run only
// when named, for they need other programs and minutes each:
// "continuous" (continuous mode beside smokeping_prober and a floor
// loop, continuous_linux.go) and "continuous-accuracy" (the quantiles a
// real Prometheus computes from synack_response_duration_seconds, native
// and classic, against the fake peers' own log and the kernel's time
// stamps on their devices, continuous_accuracy_linux.go; about 1.5
// minutes).
package main
