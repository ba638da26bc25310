#!/usr/bin/env bash
# Benchmark synack_exporter beside the floor server (bench/floor_linux.go)
# and blackbox_exporter on this machine, in one run (continuous mode:
# beside smokeping_prober and a floor loop). Needs root (network
# namespaces, nftables, TUN). Installs what it needs with apt-get when
# missing, builds synack_exporter and the bench from this checkout, and
# prints Markdown tables on stdout (progress on stderr):
#
#   sudo bench/run.sh | tee results.md
#   sudo bench/run.sh -scenarios throughput -rounds 5     # see -h for knobs
#   sudo bench/run.sh -scenarios continuous   # beside smokeping_prober
#
# docs/benchmarks.md describes the scenarios and records a run.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ]; then
	echo "bench/run.sh: needs root (network namespaces, nftables, TUN)" >&2
	exit 1
fi

need=()
command -v prometheus-blackbox-exporter >/dev/null || need+=(prometheus-blackbox-exporter)
command -v prometheus-smokeping-prober >/dev/null || need+=(prometheus-smokeping-prober)
command -v nft >/dev/null || need+=(nftables)
command -v ip >/dev/null || need+=(iproute2)
command -v sysctl >/dev/null || need+=(procps)
command -v go >/dev/null || need+=(golang-go)
if [ "${#need[@]}" -gt 0 ]; then
	echo "bench/run.sh: installing ${need[*]}" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
	# The Debian package starts its own daemon; the bench starts its own
	# copies inside a namespace and needs no other.
	systemctl stop prometheus-blackbox-exporter prometheus-smokeping-prober 2>/dev/null || true
fi

build="$(mktemp -d)"
trap 'rm -rf "$build"' EXIT
export GOFLAGS="${GOFLAGS:--buildvcs=false}"
# The version and commit go into the binary, so the report says what ran.
v=github.com/prometheus/common/version
rev="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
if [ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]; then
	rev="$rev-dirty"
fi
go build -ldflags "-X $v.Version=$(cat VERSION) -X $v.Revision=$rev -X $v.Branch=bench" \
	-o "$build/synack_exporter" .
go build -o "$build/bench" ./bench

"$build/bench" -command "bench/run.sh $*" -synack "$build/synack_exporter" \
	-blackbox "$(command -v prometheus-blackbox-exporter)" \
	-smokeping "$(command -v prometheus-smokeping-prober)" "$@"
