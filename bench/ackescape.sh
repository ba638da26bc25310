#!/usr/bin/env bash
# Starve synack_exporter on purpose and count the handshake ACKs that
# escape: at the target (a fake peer on a TUN device in a namespace,
# answering SYNs after 5 ms and resetting stray ACKs) against the
# exporter's own account (ack_leaks_total, probe_tcp_ack_sent 1, warn log
# lines), with busy loops competing at nice 0, then at nice -10. The
# counts must be equal in every row. Needs root; builds from this
# checkout; prints a Markdown table (docs/benchmarks.md, "When the delayed
# ACK escapes"):
#
#   sudo bench/ackescape.sh
#   sudo bench/ackescape.sh -duration 30s -clients 200 -hogs 4 -nice 0,-5,-10
#
# It loads every core for the whole run (2 x 15 s by default).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ]; then
	echo "bench/ackescape.sh: needs root (network namespaces, TUN, negative nice)" >&2
	exit 1
fi
build="$(mktemp -d)"
trap 'rm -rf "$build"' EXIT
export GOFLAGS="${GOFLAGS:--buildvcs=false}"
go build -o "$build/synack_exporter" .
go build -o "$build/ackescape" ./bench/ackescape
echo "bench/ackescape.sh: $(git rev-parse --short HEAD 2>/dev/null || echo unknown), $(nproc) CPUs, Linux $(uname -r)" >&2
"$build/ackescape" -exporter "$build/synack_exporter" "$@"
