#!/usr/bin/env bash
# End-to-end check of example/ against the real programs: promtool, a
# Prometheus, an Alertmanager and the exporter built from this repository.
#
#   bash example/e2e.sh
#
# Needs: go, prometheus, promtool, alertmanager (Debian:
# prometheus-alertmanager), python3 with PyYAML (python3-yaml).
# Everything listens on 127.0.0.1, on ports chosen free at run time; every
# process started here is stopped on exit. Prints PASS/FAIL lines and ends
# with "N passed, M failed"; exits 1 if anything failed.
# KEEP_WORKDIR=1 keeps the temporary directory (logs, configs, TSDB).

set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
WAIT=${E2E_WAIT:-60} # seconds any single wait may take

passed=0
failed=0
pass() { passed=$((passed + 1)); echo "PASS: $1"; }
fail() { failed=$((failed + 1)); echo "FAIL: $1"; }

summary() {
	echo "e2e: took ${SECONDS}s"
	echo "$passed passed, $failed failed"
}

# fatal stops the run: what follows depends on the step that failed.
fatal() {
	fail "$1"
	echo "e2e: stopping here; logs in $WORK" >&2
	KEEP_WORKDIR=1
	summary
	exit 1
}

# check NAME CMD...: runs CMD, PASS or FAIL with its output as the reason.
check() {
	local name=$1 out
	shift
	if out=$("$@" 2>&1); then
		out=$(tail -n 1 <<<"$out")
		((${#out} > 200)) && out="${out:0:200}..."
		pass "$name${out:+ ($out)}"
	else
		fail "$name: $(tr '\n' ' ' <<<"$out")"
	fi
}

# --- tools -------------------------------------------------------------------

PROMETHEUS=${PROMETHEUS:-$(command -v prometheus)}
PROMTOOL=${PROMTOOL:-$(command -v promtool)}
ALERTMANAGER=${ALERTMANAGER:-$(command -v alertmanager || command -v prometheus-alertmanager)}
GO=${GO:-$(command -v go || echo /usr/local/go/bin/go)}
PYTHON=
for py in python3 /usr/bin/python3; do
	if command -v "$py" >/dev/null && "$py" -c 'import yaml' 2>/dev/null; then
		PYTHON=$(command -v "$py")
		break
	fi
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/synack-e2e.XXXXXX")
KEEP_WORKDIR=${KEEP_WORKDIR:-}
PIDS=()

cleanup() {
	local pid
	for pid in "${PIDS[@]}"; do
		kill "$pid" 2>/dev/null
	done
	for pid in "${PIDS[@]}"; do
		# Bounded: SIGKILL whatever is still there after 5s.
		for _ in $(seq 50); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -9 "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
	if [[ -n $KEEP_WORKDIR ]]; then
		echo "e2e: work directory kept: $WORK" >&2
	else
		rm -rf "$WORK"
	fi
}
trap cleanup EXIT
trap 'echo "e2e: interrupted" >&2; exit 130' INT TERM

for tool in PROMETHEUS PROMTOOL ALERTMANAGER GO; do
	[[ -n ${!tool} && -x ${!tool} ]] || fatal "prerequisite: ${tool,,} not found (see the header of $0)"
done
[[ -n $PYTHON ]] || fatal "prerequisite: no python3 with the yaml module (Debian: python3-yaml)"

# An array rather than a function, so that `start` runs Python itself in
# the background (and its pid is Python's), not a subshell.
HELPER=("$PYTHON" "$HERE/e2e/helper.py")
helper() { "${HELPER[@]}" "$@"; }

# start NAME CMD...: runs CMD in the background, output to $WORK/NAME.log.
start() {
	local name=$1
	shift
	"$@" >"$WORK/$name.log" 2>&1 &
	PIDS+=($!)
	printf -v "PID_${name//-/_}" '%s' $!
}

# stop NAME: stops a process started with start, and waits for it.
stop() {
	local var="PID_${1//-/_}"
	kill "${!var}" 2>/dev/null
	wait "${!var}" 2>/dev/null
}

# wait_http NAME URL: waits until URL answers 200, or fails with the log.
wait_http() {
	local name=$1 url=$2 var="PID_${1//-/_}"
	for _ in $(seq $((WAIT * 5))); do
		if "$PYTHON" -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)' "$url" 2>/dev/null; then
			return 0
		fi
		if ! kill -0 "${!var}" 2>/dev/null; then
			fatal "$name exited before answering $url: $(tail -n 5 "$WORK/$name.log" | tr '\n' ' ')"
		fi
		sleep 0.2
	done
	fatal "$name did not answer $url within ${WAIT}s: $(tail -n 5 "$WORK/$name.log" | tr '\n' ' ')"
}

# wait_listening NAME FILE: a listener writes FILE once its ports are bound.
wait_listening() {
	local name=$1 file=$2 var="PID_${1//-/_}"
	for _ in $(seq $((WAIT * 5))); do
		[[ -s $file ]] && return 0
		if ! kill -0 "${!var}" 2>/dev/null; then
			fatal "$name exited before listening: $(tail -n 5 "$WORK/$name.log" | tr '\n' ' ')"
		fi
		sleep 0.2
	done
	fatal "$name did not listen within ${WAIT}s"
}

echo "e2e: $("$PROMETHEUS" --version 2>&1 | head -n 1)"
echo "e2e: alertmanager $("$ALERTMANAGER" --version 2>&1 | head -n 1 | sed 's/.*version //')"
echo "e2e: work directory $WORK"

# --- static checks -------------------------------------------------------------

check "promtool check config example/prometheus.yml" \
	"$PROMTOOL" check config "$HERE/prometheus.yml"
check "promtool check config example/sharding/prometheus.yml" \
	"$PROMTOOL" check config "$HERE/sharding/prometheus.yml"
check "promtool check config --agent example/sharding/prometheus-agent.yml" \
	"$PROMTOOL" check config --agent "$HERE/sharding/prometheus-agent.yml"
check "promtool check rules example/alerts.yml" \
	"$PROMTOOL" check rules "$HERE/alerts.yml"
check "promtool test rules example/alerts_test.yml" \
	bash -c 'cd "$1" && "$2" test rules alerts_test.yml' _ "$HERE" "$PROMTOOL"
check "promtool check config example/continuous/prometheus.yml" \
	"$PROMTOOL" check config "$HERE/continuous/prometheus.yml"
check "promtool test rules example/continuous/rules_test.yml" \
	bash -c 'cd "$1/continuous" && "$2" test rules rules_test.yml' _ "$HERE" "$PROMTOOL"
check "grafana-dashboard.json: ids, grid, data source and variables are consistent" \
	helper dashboard-lint "$HERE/grafana-dashboard.json"

# --- the exporter, two listeners, a webhook, Alertmanager, Prometheus -------------

echo "e2e: building the exporter"
"$GO" build -C "$ROOT" -o "$WORK/synack_exporter" . >"$WORK/build.log" 2>&1 ||
	fatal "go build of the exporter: $(tr '\n' ' ' <"$WORK/build.log")"
check "synack_exporter --config.check example/continuous/config.yml" \
	"$WORK/synack_exporter" --config.check --config.file="$HERE/continuous/config.yml"

read -r P_EXP P_EXP0 P_EXP1 P_PROM P_PROM2 P_AM P_HOOK P_A P_B P_C P_D P_E P_F P_G < <(helper free-ports 14) ||
	fatal "could not find free loopback ports"
LO=127.0.0.1
EXP=$LO:$P_EXP
PROM=$LO:$P_PROM
AM=$LO:$P_AM
TARGET_A=$LO:$P_A
TARGET_B=$LO:$P_B
# Never answers: its probes time out.
TARGET_C=$LO:$P_C
# Scraped with a module the exporter does not have: HTTP 400, no probe sent.
BAD_TARGET=$LO:9
# Several checks per scrape (tcp_loss, tcp_all_addresses,
# tcp_must_be_filtered): D answers, E never does. E is probed with every
# several-check module and D also with tcp_must_be_filtered, so that one
# module of each kind fails (see "one module of each kind" below).
TARGET_D=$LO:$P_D
TARGET_E=$LO:$P_E
# Continuous mode: F loses about half its SYNs (helper flaky), G is closed.
TARGET_F=$LO:$P_F
TARGET_G=$LO:$P_G

start listener-a "${HELPER[@]}" listen --accepted-file "$WORK/accepted-a" "$P_A"
start listener-b "${HELPER[@]}" listen --accepted-file "$WORK/accepted-b" "$P_B"
start silent-c "${HELPER[@]}" silent --ready-file "$WORK/ready-c" "$P_C"
start webhook "${HELPER[@]}" webhook --port "$P_HOOK" --out "$WORK/webhook.jsonl"
wait_listening listener-a "$WORK/accepted-a"
wait_listening listener-b "$WORK/accepted-b"
wait_listening silent-c "$WORK/ready-c"
start listener-d "${HELPER[@]}" listen --accepted-file "$WORK/accepted-d" "$P_D"
start silent-e "${HELPER[@]}" silent --ready-file "$WORK/ready-e" "$P_E"
wait_listening listener-d "$WORK/accepted-d"
wait_listening silent-e "$WORK/ready-e"
start flaky-f "${HELPER[@]}" flaky --ready-file "$WORK/ready-f" "$P_F"
wait_listening flaky-f "$WORK/ready-f"

cp "$ROOT/config.yml" "$WORK/config.yml"
# Continuous mode beside /probe, in the same exporter. A 500ms interval
# keeps each check's budget under the kernel's 1s SYN retransmission, so
# a dropped SYN is a timeout, a loss.
cat >>"$WORK/config.yml" <<EOF

continuous:
  - targets: ["$TARGET_A", "$TARGET_D", "$TARGET_F", "$TARGET_G"]
    module: tcp_fast
    interval: 500ms
    labels: {e2e: main}
EOF
start exporter "$WORK/synack_exporter" --web.listen-address="$EXP" \
	--config.file="$WORK/config.yml" --log.level=debug
wait_http exporter "http://$EXP/-/healthy"

cat >"$WORK/alertmanager.yml" <<EOF
route:
  receiver: webhook
  group_by: [alertname, instance]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: webhook
    webhook_configs:
      - url: http://$LO:$P_HOOK/
        send_resolved: true
EOF
# An empty cluster address turns off the gossip listener, which would
# otherwise bind 0.0.0.0:9094.
start alertmanager "$ALERTMANAGER" --config.file="$WORK/alertmanager.yml" \
	--storage.path="$WORK/alertmanager" --web.listen-address="$AM" \
	--cluster.listen-address=
wait_http alertmanager "http://$AM/-/ready"

# The shipped rules with every `for:` cut to 2s, and the shipped config with
# loopback targets and 1s intervals.
helper rules --src "$HERE/alerts.yml" --out "$WORK/alerts.yml" --for 2s ||
	fatal "could not derive the rules file"
helper rules --src "$HERE/continuous/rules.yml" --out "$WORK/continuous-rules.yml" --for 2s ||
	fatal "could not derive the continuous rules file"
helper prom-config --src "$HERE/prometheus.yml" --out "$WORK/prometheus.yml" \
	--rules "$WORK/alerts.yml" --rules "$WORK/continuous-rules.yml" --interval 1s \
	--map "localhost:9847=$EXP" --map "localhost:9093=$AM" \
	--targets "synack_tcp_synack=$TARGET_A,$TARGET_B" \
	--targets "synack_tcp_ip4=$TARGET_A" \
	--targets "synack_tcp_fast=$TARGET_B,$TARGET_C" \
	--targets "synack_tcp_loss=$TARGET_D,$TARGET_E" \
	--targets "synack_tcp_all_addresses=$TARGET_D,$TARGET_E" \
	--targets "synack_tcp_must_be_filtered=$TARGET_E,$TARGET_D" \
	--extra synack_tcp_synack no_such_module "$BAD_TARGET" ||
	fatal "could not derive the Prometheus configuration"
check "derived configuration passes promtool" "$PROMTOOL" check config "$WORK/prometheus.yml"

# Native histograms on (Prometheus 2.x needs the flag), as
# example/continuous/prometheus.yml says: this Prometheus stores
# synack_response_duration_seconds as a native histogram only.
start prometheus "$PROMETHEUS" --config.file="$WORK/prometheus.yml" \
	--storage.tsdb.path="$WORK/prometheus-data" --web.listen-address="$PROM" \
	--enable-feature=native-histograms
wait_http prometheus "http://$PROM/-/ready"

# --- both targets answer --------------------------------------------------------

check "probe_success is 1 for target A (jobs synack_tcp_synack, synack_tcp_ip4)" \
	helper wait --prom "$PROM" --timeout "$WAIT" --count 2 --value 1 \
	--expr "probe_success{instance=\"$TARGET_A\"}"
check "probe_success is 1 for target B (jobs synack_tcp_synack, synack_tcp_fast)" \
	helper wait --prom "$PROM" --timeout "$WAIT" --count 2 --value 1 \
	--expr "probe_success{instance=\"$TARGET_B\"}"
check "the silent target C times out" \
	helper wait --prom "$PROM" --timeout "$WAIT" --count 1 --value 1 \
	--expr "probe_tcp_error_class{instance=\"$TARGET_C\",class=\"timeout\"} and on() up{instance=\"$TARGET_C\"} == 1"
check "the exporter's own job is up" \
	helper wait --prom "$PROM" --timeout "$WAIT" --count 1 --value 1 \
	--expr 'up{job="synack_exporter"}'

# --- several checks per scrape: loss, every address, expect -------------------------

check "tcp_loss: 10 SYNs per scrape to D, none lost" \
	helper wait --prom "$PROM" --timeout "$WAIT" --count 1 --value 10 \
	--expr "probe_tcp_syns_sent{job=\"synack_tcp_loss\",instance=\"$TARGET_D\"} and on(job, instance) probe_tcp_loss_ratio == 0"
check "tcp_loss: every SYN to the silent E lost (loss ratio 1)" \
	helper wait --prom "$PROM" --timeout "$WAIT" --count 1 --value 1 \
	--expr "probe_tcp_loss_ratio{job=\"synack_tcp_loss\",instance=\"$TARGET_E\"}"
check "tcp_loss: D's SYN-ACK spread is ordered (min <= median <= max)" \
	helper wait --prom "$PROM" --timeout "$WAIT" --count 1 \
	--expr "probe_tcp_synack_min_seconds{job=\"synack_tcp_loss\",instance=\"$TARGET_D\"} <= on(job, instance) probe_tcp_synack_seconds <= on(job, instance) probe_tcp_synack_max_seconds"
check "tcp_all_addresses: D's one address is checked and answers" \
	helper wait --prom "$PROM" --timeout "$WAIT" --count 1 --value 1 \
	--expr "probe_tcp_address_success{instance=\"$TARGET_D\",address=\"127.0.0.1\"} and on(job, instance) probe_tcp_addresses_checked == 1"
check "tcp_must_be_filtered: the silent E times out, as expected (probe_success 1)" \
	helper wait --prom "$PROM" --timeout "$WAIT" --count 1 --value 1 \
	--expr "probe_success{job=\"synack_tcp_must_be_filtered\",instance=\"$TARGET_E\"}"

# --- one target stops ------------------------------------------------------------

echo "e2e: stopping the listener of target B"
stop listener-b

check "probe_success drops to 0 for target B" \
	helper wait --prom "$PROM" --timeout "$WAIT" --count 2 --value 0 \
	--expr "probe_success{instance=\"$TARGET_B\"}"
check "probe_tcp_error_class{class=\"refused\"} is 1 for target B" \
	helper wait --prom "$PROM" --timeout "$WAIT" --count 2 --value 1 \
	--expr "probe_tcp_error_class{instance=\"$TARGET_B\",class=\"refused\"}"
check "probe_success stays 1 for target A" \
	helper wait --prom "$PROM" --timeout "$WAIT" --count 2 --value 1 \
	--expr "probe_success{instance=\"$TARGET_A\"}"
check "SynackTargetDown fires for target B in both its jobs" \
	helper wait --prom "$PROM" --timeout "$WAIT" --count 2 --value 1 \
	--expr "ALERTS{alertname=\"SynackTargetDown\",alertstate=\"firing\",instance=\"$TARGET_B\"}"
check "the webhook receives SynackTargetDown for B, class refused in the summary" \
	helper webhook-wait --file "$WORK/webhook.jsonl" --timeout "$WAIT" \
	--label alertname=SynackTargetDown --label "instance=$TARGET_B" \
	--summary-contains "(refused)"
# --- one module of each kind: which alerts fire, and which do not -----------------
# One check: B (refused, above) and the silent C (tcp_fast). Several SYNs
# (tcp_loss) and every address (tcp_all_addresses): the silent E answers
# none, so SynackTargetDown, while D answers all. expect: timeout
# (tcp_must_be_filtered): E is dropped as expected, D answers.
check "one check (tcp_fast): SynackTargetDown fires for the silent C" \
	helper wait --prom "$PROM" --timeout "$WAIT" --count 1 --value 1 \
	--expr "ALERTS{alertname=\"SynackTargetDown\",alertstate=\"firing\",job=\"synack_tcp_fast\",instance=\"$TARGET_C\"}"
check "several SYNs and every address: SynackTargetDown fires for E in tcp_loss and tcp_all_addresses" \
	helper wait --prom "$PROM" --timeout "$WAIT" --count 2 --value 1 \
	--expr "ALERTS{alertname=\"SynackTargetDown\",alertstate=\"firing\",job=~\"synack_tcp_loss|synack_tcp_all_addresses\",instance=\"$TARGET_E\"}"
check "expect: timeout: SynackExpectationFailed fires for D, which answers" \
	helper wait --prom "$PROM" --timeout "$WAIT" --count 1 --value 1 \
	--expr "ALERTS{alertname=\"SynackExpectationFailed\",alertstate=\"firing\",instance=\"$TARGET_D\"}"
check "the webhook receives SynackExpectationFailed for D, saying it is open" \
	helper webhook-wait --file "$WORK/webhook.jsonl" --timeout "$WAIT" \
	--label alertname=SynackExpectationFailed --label "instance=$TARGET_D" \
	--summary-contains "should be timeout but is open"
check "no other alert of a several-check or expect module (pending or firing)" \
	helper wait --prom "$PROM" --timeout 1 --count 0 \
	--expr "ALERTS{alertname=~\"SynackTargetDegraded|SynackPacketLoss|SynackAddressDown\"} or ALERTS{job=\"synack_tcp_must_be_filtered\",instance=\"$TARGET_E\"} or ALERTS{job=~\"synack_tcp_loss|synack_tcp_all_addresses\",instance=\"$TARGET_D\"} or ALERTS{alertname=\"SynackTargetDown\",job=\"synack_tcp_must_be_filtered\"}"
check "probe_failures_total counts D's tcp_must_be_filtered probes (class open), not E's" \
	helper wait --prom "$PROM" --timeout "$WAIT" --count 1 \
	--expr "synack_exporter_probe_failures_total{module=\"tcp_must_be_filtered\",class=\"open\"} > 0 and on() synack_exporter_probe_failures_total{module=\"tcp_must_be_filtered\",class=\"timeout\"} == 0"
check "a scrape with an unknown module fails (HTTP 400, up 0) and is counted" \
	helper wait --prom "$PROM" --timeout "$WAIT" --count 1 --value 0 \
	--expr "up{instance=\"$BAD_TARGET\"} == 0 and on() synack_exporter_module_unknown_total > 0"
check "SynackProbeScrapeFailing fires for the unknown-module target" \
	helper wait --prom "$PROM" --timeout "$WAIT" --count 1 --value 1 \
	--expr "ALERTS{alertname=\"SynackProbeScrapeFailing\",alertstate=\"firing\",instance=\"$BAD_TARGET\"}"
check "no alert at all for target A" \
	helper wait --prom "$PROM" --timeout 1 --count 0 \
	--expr "ALERTS{instance=\"$TARGET_A\"}"

# --- recording rules, dashboard, the half-open promise ---------------------------

check "recorded success ratio is below 1 for B" \
	helper wait --prom "$PROM" --timeout "$WAIT" --count 2 \
	--expr "instance:probe_success:ratio_5m{instance=\"$TARGET_B\"} < 1"
check "recorded SYN-ACK quantiles and baseline exist for A" \
	helper wait --prom "$PROM" --timeout "$WAIT" --count 8 \
	--expr "instance:probe_tcp_synack_seconds:quantile_5m{instance=\"$TARGET_A\"} or instance:probe_tcp_synack_seconds:median_1d{instance=\"$TARGET_A\"}"
check "every Grafana dashboard query runs and returns data" \
	helper dashboard --prom "$PROM" --dashboard "$HERE/grafana-dashboard.json" \
	--target "$TARGET_A" --target "$TARGET_B" --target "$TARGET_D"
check "dashboard: \"Failing now\" lists E's tcp_loss failure, not E's expected timeout" \
	helper dashboard-panel --prom "$PROM" --dashboard "$HERE/grafana-dashboard.json" \
	--panel "Failing now" --present "job=synack_tcp_loss,instance=$TARGET_E" \
	--present "job=synack_tcp_must_be_filtered,instance=$TARGET_D,class=open" \
	--absent "job=synack_tcp_must_be_filtered,instance=$TARGET_E"

# --- continuous mode: native histogram, loss, a closed port ----------------------

check "continuous: native histogram_quantile(0.5, rate(synack_response_duration_seconds[1m])) for A and D" \
	helper wait --prom "$PROM" --timeout "$WAIT" --count 2 \
	--expr "histogram_quantile(0.5, rate(synack_response_duration_seconds{target=~\"$TARGET_A|$TARGET_D\"}[1m])) > 0 < 0.1"
check "continuous: the recorded p50 and p99 exist for A" \
	helper wait --prom "$PROM" --timeout "$WAIT" --count 2 \
	--expr "target:synack_response_duration_seconds:quantile_1m{target=\"$TARGET_A\"} > 0 < 0.1"
check "continuous: SynackContinuousLossHigh fires for the lossy F" \
	helper wait --prom "$PROM" --timeout "$WAIT" --count 1 --value 1 \
	--expr "ALERTS{alertname=\"SynackContinuousLossHigh\",alertstate=\"firing\",target=\"$TARGET_F\"}"
check "continuous: F's recorded loss ratio is between 10% and 90%" \
	helper wait --prom "$PROM" --timeout "$WAIT" --count 1 \
	--expr "target:synack_checks_lost:ratio_5m{target=\"$TARGET_F\"} > 0.1 < 0.9"
check "continuous: SynackContinuousTargetDown fires for the closed G (class refused)" \
	helper wait --prom "$PROM" --timeout "$WAIT" --count 1 --value 1 \
	--expr "ALERTS{alertname=\"SynackContinuousTargetDown\",alertstate=\"firing\",target=\"$TARGET_G\"} and on(target) synack_checks_total{class=\"refused\"} > 0"
check "continuous: no loss and no alert for the clean A and D" \
	helper wait --prom "$PROM" --timeout 5 --count 2 --value 0 \
	--expr "target:synack_checks_lost:ratio_5m{target=~\"$TARGET_A|$TARGET_D\"} unless on(target) ALERTS{target=~\"$TARGET_A|$TARGET_D\"}"

# A leaked ACK does not heal: no point waiting long for these two.
check "synack_exporter_ack_leaks_total is 0" \
	helper wait --prom "$PROM" --timeout 5 --count 1 --value 0 \
	--expr 'synack_exporter_ack_leaks_total'
check "no probe sent an ACK (probe_tcp_ack_sent always 0)" \
	helper wait --prom "$PROM" --timeout 5 --count 11 --value 0 \
	--expr 'max_over_time(probe_tcp_ack_sent[10m])'
accepted=$(cat "$WORK/accepted-a" 2>/dev/null)
if [[ $accepted == 0 ]]; then
	pass "listener A never accepted a connection"
else
	fail "listener A accepted ${accepted:-?} connections: a probe completed the handshake"
fi
accepted=$(cat "$WORK/accepted-d" 2>/dev/null)
if [[ $accepted == 0 ]]; then
	pass "listener D never accepted a connection (10 SYNs a scrape)"
else
	fail "listener D accepted ${accepted:-?} connections: a probe completed the handshake"
fi

# --- the exporter's own alerts -------------------------------------------------

echo "modules: {tcp_synack: {timeout: -1s}}" >"$WORK/config.yml"
check "POST /-/reload of a broken config is refused" \
	"$PYTHON" -c '
import sys, urllib.error, urllib.request
try:
    urllib.request.urlopen(urllib.request.Request(sys.argv[1], method="POST"), timeout=10)
except urllib.error.HTTPError as e:
    print(e.code, e.read().decode().strip())
    sys.exit(0)
sys.exit("the reload was accepted")' "http://$EXP/-/reload"
check "SynackExporterReloadFailed fires" \
	helper wait --prom "$PROM" --timeout "$WAIT" --count 1 --value 1 \
	--expr 'ALERTS{alertname="SynackExporterReloadFailed",alertstate="firing"}'
stop exporter
check "SynackExporterDown fires when the exporter stops" \
	helper wait --prom "$PROM" --timeout "$WAIT" --count 1 --value 1 \
	--expr 'ALERTS{alertname="SynackExporterDown",alertstate="firing"}'
check "the webhook receives SynackExporterDown" \
	helper webhook-wait --file "$WORK/webhook.jsonl" --timeout "$WAIT" \
	--label alertname=SynackExporterDown --label "instance=$EXP"

stop prometheus

# --- sharding: two exporters, targets split by hashmod of the target --------------

read -r -a candidates < <(helper free-ports 24) || fatal "could not find free loopback ports"
SHARD_TARGETS=$(helper pick-shard-targets --shards 2 --per-shard 3 "${candidates[@]}") ||
	fatal "could not pick targets for both shards"
IFS=, read -r -a shard_targets <<<"$SHARD_TARGETS"
start listener-shards "${HELPER[@]}" listen --accepted-file "$WORK/accepted-shards" "${shard_targets[@]##*:}"
wait_listening listener-shards "$WORK/accepted-shards"
EXP0=$LO:$P_EXP0
EXP1=$LO:$P_EXP1
# Continuous mode too, split by --continuous.shard over one target list:
# the shard targets and 12 closed ports, so that each shard surely gets
# some whatever the exporter's hash does with this run's ports.
read -r -a closed_ports < <(helper free-ports 12) || fatal "could not find free loopback ports"
CONT_TARGETS=$SHARD_TARGETS$(printf ",$LO:%s" "${closed_ports[@]}")
cp "$ROOT/config.yml" "$WORK/config-shards.yml"
cat >>"$WORK/config-shards.yml" <<EOF

continuous:
  - targets: [$(sed 's/[^,]*/"&"/g' <<<"$CONT_TARGETS")]
    module: tcp_fast
    interval: 500ms
EOF
start exporter-0 "$WORK/synack_exporter" --web.listen-address="$EXP0" --config.file="$WORK/config-shards.yml" \
	--continuous.shard=0/2
start exporter-1 "$WORK/synack_exporter" --web.listen-address="$EXP1" --config.file="$WORK/config-shards.yml" \
	--continuous.shard=1/2
wait_http exporter-0 "http://$EXP0/-/healthy"
wait_http exporter-1 "http://$EXP1/-/healthy"

helper prom-config --src "$HERE/sharding/prometheus.yml" --out "$WORK/prometheus-sharding.yml" \
	--rules "$WORK/alerts.yml" --interval 1s \
	--map "synack-exporter-0.example.net:9847=$EXP0" \
	--map "synack-exporter-1.example.net:9847=$EXP1" \
	--map "localhost:9093=$AM" \
	--targets "synack_tcp_synack=$SHARD_TARGETS" ||
	fatal "could not derive the sharding Prometheus configuration"
check "derived sharding configuration passes promtool" \
	"$PROMTOOL" check config "$WORK/prometheus-sharding.yml"

PROM2=$LO:$P_PROM2
start prometheus-sharding "$PROMETHEUS" --config.file="$WORK/prometheus-sharding.yml" \
	--storage.tsdb.path="$WORK/prometheus-sharding-data" --web.listen-address="$PROM2"
wait_http prometheus-sharding "http://$PROM2/-/ready"

check "sharding: all ${#shard_targets[@]} targets answer" \
	helper wait --prom "$PROM2" --timeout "$WAIT" --count "${#shard_targets[@]}" --value 1 \
	--expr 'probe_success{job="synack_tcp_synack"}'
check "sharding: both exporters are up" \
	helper wait --prom "$PROM2" --timeout "$WAIT" --count 2 --value 1 \
	--expr 'up{job="synack_exporter"}'
check "sharding: each target is probed by exactly one exporter, the one its hash names" \
	helper shards --prom "$PROM2" --job synack_tcp_synack --targets "$SHARD_TARGETS" \
	--exporters "$EXP0,$EXP1" --window 10
check "continuous sharding: --continuous.shard=0/2 and 1/2 check each of ${#shard_targets[@]}+${#closed_ports[@]} targets exactly once" \
	helper continuous-shards --prom "$PROM2" --timeout "$WAIT" --targets "$CONT_TARGETS" --exporters "$EXP0,$EXP1"
# This Prometheus runs without native histograms: it stores the classic
# buckets, and the _bucket form of the quantile reads them.
check "continuous: classic histogram_quantile(0.5, rate(synack_response_duration_seconds_bucket[1m])) for the listening targets" \
	helper wait --prom "$PROM2" --timeout "$WAIT" --count "${#shard_targets[@]}" \
	--expr 'histogram_quantile(0.5, rate(synack_response_duration_seconds_bucket{job="synack_exporter"}[1m])) > 0 < 0.1'
accepted=$(cat "$WORK/accepted-shards" 2>/dev/null)
if [[ $accepted == 0 ]]; then
	pass "sharding: no listener accepted a connection"
else
	fail "sharding: listeners accepted ${accepted:-?} connections"
fi

# --- prometheus-operator: the scrape configuration it generates for the Probes ----

# example/kubernetes/operator-generated/prometheus.yml, with the Service's
# address moved to exporter-0 and the targets to loopback: the shipped rules
# must see the Probes' jobs (jobName) and module labels unchanged.
read -r P_PROM3 P_CLOSED < <(helper free-ports 2) || fatal "could not find free loopback ports"
K8S_OPEN=${shard_targets[0]}
K8S_CLOSED=$LO:$P_CLOSED
helper prom-config --src "$HERE/kubernetes/operator-generated/prometheus.yml" \
	--out "$WORK/prometheus-operator.yml" --rules "$WORK/alerts.yml" --interval 1s \
	--map "synack-exporter.monitoring.svc:9847=$EXP0" \
	--targets "probe/monitoring/synack-tcp-synack=$K8S_OPEN,$K8S_CLOSED" \
	--targets "probe/monitoring/synack-tcp-fast=$K8S_OPEN" ||
	fatal "could not derive the operator-generated Prometheus configuration"
check "operator: derived configuration passes promtool" \
	"$PROMTOOL" check config "$WORK/prometheus-operator.yml"
PROM3=$LO:$P_PROM3
start prometheus-operator "$PROMETHEUS" --config.file="$WORK/prometheus-operator.yml" \
	--storage.tsdb.path="$WORK/prometheus-operator-data" --web.listen-address="$PROM3"
wait_http prometheus-operator "http://$PROM3/-/ready"
check "operator: probe_success 1 with job synack_<module>, the module and namespace labels" \
	helper wait --prom "$PROM3" --timeout "$WAIT" --count 2 --value 1 \
	--expr "probe_success{job=~\"synack_tcp_synack|synack_tcp_fast\",module=~\"tcp_synack|tcp_fast\",namespace=\"monitoring\",instance=\"$K8S_OPEN\"}"
check "operator: the recording rules see the Probes' jobs" \
	helper wait --prom "$PROM3" --timeout "$WAIT" --count 2 \
	--expr "instance:probe_success:ratio_5m{instance=\"$K8S_OPEN\"}"
check "operator: SynackTargetDown fires for a closed target" \
	helper wait --prom "$PROM3" --timeout "$WAIT" --count 1 --value 1 \
	--expr "ALERTS{alertname=\"SynackTargetDown\",alertstate=\"firing\",job=\"synack_tcp_synack\",instance=\"$K8S_CLOSED\"}"
stop prometheus-operator

summary
if ((failed > 0)); then
	KEEP_WORKDIR=1
	exit 1
fi
