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
package main
