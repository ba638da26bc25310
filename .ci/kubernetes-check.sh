#!/usr/bin/env bash
# Checks example/kubernetes/ without a cluster:
#
#   bash .ci/kubernetes-check.sh
#
#   1. the nested Go module's tests: every manifest decodes strictly into
#      k8s.io/api and prometheus-operator types, the manifests agree with
#      each other, operator-generated/prometheus.yml is what the operator
#      makes of probes.yaml, and example/grafana-dashboard.json decodes
#      strictly into the Grafana Foundation SDK's types (go vet too);
#   2. the ConfigMap's config.yml passes the exporter's --config.check;
#   3. operator-generated/prometheus.yml passes promtool check config
#      (example/e2e.sh then runs a Prometheus on it).
#
# Needs go, promtool (Debian: prometheus) and python3 with PyYAML; the
# first run downloads about 24 MB of Go modules. Prints PASS/FAIL per
# check and "N passed, M failed".
set -uo pipefail
cd "$(dirname "$0")/.."

. .ci/lib.sh
find_python
need go promtool

dir=example/kubernetes
work=$(mktemp -d "${TMPDIR:-/tmp}/kubernetes-check.XXXXXX")
trap 'rm -rf "$work"' EXIT

# config_check [FILE]: FILE's ConfigMap (default configmap.yaml; the
# first document holding one) has a config.yml that --config.check takes.
config_check() {
	[ -x "$work/synack_exporter" ] || go build -o "$work/synack_exporter" . || return 1
	"$PYTHON" - "${1:-$dir/configmap.yaml}" "$work/config.yml" <<'PY' || return 1
import sys, yaml
cm = next(d for d in yaml.safe_load_all(open(sys.argv[1])) if d and d.get("kind") == "ConfigMap")
open(sys.argv[2], "w").write(cm["data"]["config.yml"])
PY
	"$work/synack_exporter" --config.check --config.file="$work/config.yml"
}

check "example/kubernetes: go vet" go -C "$dir" vet ./...
check "example/kubernetes: go test (manifests, operator config, dashboard)" go -C "$dir" test -count=1 ./...
check "example/kubernetes/configmap.yaml: config.yml passes --config.check" config_check
check "example/kubernetes/continuous/statefulset.yaml: config.yml passes --config.check" \
	config_check "$dir/continuous/statefulset.yaml"
check "example/kubernetes/operator-generated/prometheus.yml: promtool check config" \
	promtool check config "$dir/operator-generated/prometheus.yml"

summary kubernetes-check
