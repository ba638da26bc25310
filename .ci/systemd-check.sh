#!/usr/bin/env bash
# Checks example/systemd/ without a running systemd:
#
#   bash .ci/systemd-check.sh
#
#   1. systemd-analyze verify accepts both units (with ExecStart pointed at
#      a binary built from this tree, the one path that must differ);
#   2. systemd-analyze security --offline rates the service's hardening
#      at or below 2.0 ("OK");
#   3. the exporter, started by systemd-socket-activate with the flags of
#      the unit's ExecStart on the socket unit's address (moved to a free
#      loopback port), answers a probe of that address with probe_success 1
#      and a closed loopback port with class "refused".
#
# Needs go, curl, systemd-analyze and systemd-socket-activate (Debian:
# systemd). Prints PASS/FAIL per check and "N passed, M failed".
set -uo pipefail
cd "$(dirname "$0")/.."

. .ci/lib.sh
find_python
need systemd-analyze systemd-socket-activate curl go

units=example/systemd
work=$(mktemp -d "${TMPDIR:-/tmp}/systemd-check.XXXXXX")
trap 'stop_pid_file "$work/activate.pid"; rm -rf "$work"' EXIT

# The units as shipped, but for the binary's path.
installed=/usr/local/bin/synack_exporter
prepare() {
	go build -o "$work/synack_exporter" . || return 1
	mkdir -p "$work/units"
	grep -q "^ExecStart=$installed " "$units/synack_exporter.service" || {
		echo "ExecStart does not start $installed"
		return 1
	}
	sed "s|$installed|$work/synack_exporter|" "$units/synack_exporter.service" >"$work/units/synack_exporter.service"
	cp "$units/synack_exporter.socket" "$work/units/"
}

verify() {
	local out
	out=$(systemd-analyze verify "$work/units/synack_exporter.socket" "$work/units/synack_exporter.service" 2>&1)
	# verify exits 0 on some warnings; any line it prints is a finding.
	[ -z "$out" ] || { echo "$out"; return 1; }
}

security() {
	systemd-analyze security --offline=true --threshold=20 "$work/units/synack_exporter.service" | tail -n 1
	[ "${PIPESTATUS[0]}" -eq 0 ]
}

# exec_args prints ExecStart's arguments after the binary, one a line.
exec_args() {
	sed -n '/^ExecStart=/,/[^\\]$/p' "$units/synack_exporter.service" |
		sed 's/^ExecStart=//; s/\\$//' | tr -s ' \t' '\n' | sed '/^$/d' | tail -n +2
}

serve() {
	local listen port args=() a out
	listen=$(sed -n 's/^ListenStream=//p' "$units/synack_exporter.socket")
	[ "$(wc -l <<<"$listen")" -eq 1 ] && [[ $listen == 127.0.0.1:* ]] || {
		echo "the socket unit should listen on 127.0.0.1 only, as shipped: got $listen"
		return 1
	}
	port=$(free_port)
	while read -r a; do
		case $a in
		--config.file=*) a=--config.file=config.yml ;; # the repository's, installed as /etc/... in the unit
		esac
		args+=("$a")
	done < <(exec_args)
	printf '%s\n' "${args[@]}" | grep -qx -- --web.systemd-socket || { echo "ExecStart lacks --web.systemd-socket"; return 1; }
	systemd-socket-activate -l "127.0.0.1:$port" "$work/synack_exporter" "${args[@]}" \
		>"$work/exporter.log" 2>&1 </dev/null &
	echo $! >"$work/activate.pid"
	# The first connection starts the exporter; give it time on a busy machine.
	out=$(curl -s --retry 20 --retry-connrefused --retry-delay 1 -m 30 \
		"http://127.0.0.1:$port/probe?target=127.0.0.1:$port") || { cat "$work/exporter.log"; return 1; }
	grep -qx 'probe_success 1' <<<"$out" || { echo "$out"; cat "$work/exporter.log"; return 1; }
	out=$(curl -s -m 30 "http://127.0.0.1:$port/probe?target=127.0.0.1:1&module=tcp_fast")
	grep -qx 'probe_tcp_error_class{class="refused"} 1' <<<"$out" || { echo "$out"; return 1; }
	grep -q 'systemd' "$work/exporter.log" || { echo "the log does not say it serves systemd's socket:"; cat "$work/exporter.log"; return 1; }
	echo "probed 127.0.0.1:$port through the socket-activated exporter"
}

check "build the exporter, copy the units" prepare
check "systemd-analyze verify" verify
check "systemd-analyze security: exposure <= 2.0" security
check "served through systemd-socket-activate, probes answered" serve

summary systemd-check
