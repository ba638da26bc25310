#!/usr/bin/env bash
# Checks the snippets of README.md and docs/*.md, so what a reader copies
# works as written:
#
#   bash .ci/readme-check.sh
#
# A fenced block is checked when a comment `<!-- check: KIND -->` stands on
# the line before it. In README.md every yaml, promql, console and sh block
# must have one, so no untested snippet slips in. KIND is:
#
#   module      a synack_exporter config: `--config.check` must accept it
#   blackbox    a blackbox_exporter module config: `--config.check` must
#               refuse it with the hint for blackbox-style fields
#   prometheus  `promtool check config`; probe jobs must be named
#               synack_<module>, give every target a `module` label and
#               relabel it to __param_module (example/alerts.yml and the
#               dashboard key on both)
#   promql      each expression, one per line, through `promtool check rules`
#   sh          `bash -n`
#   console     each `$ curl ...` line runs against the exporter (built from
#               this tree, on the embedded config, on a free loopback port);
#               every line shown must be in the answer, exactly when its
#               value is an integer, by metric and labels otherwise
#
# It also checks that relative links and #anchors resolve, and that
# README.md stays within 15,000 bytes.
# Needs go, promtool (Debian: prometheus), curl, python3 with PyYAML.
# Prints PASS/FAIL per check and "N passed, M failed"; exits 1 on failure.
set -uo pipefail
cd "$(dirname "$0")/.."

. .ci/lib.sh
find_python
need promtool curl go

work=$(mktemp -d "${TMPDIR:-/tmp}/readme-check.XXXXXX")
trap 'stop_pid_file "$work/exporter.pid"; rm -rf "$work"' EXIT

# --- extraction ----------------------------------------------------------

# Writes each marked block to $work/snippets/NNN.KIND and a line
# "NNN KIND FILE:LINE" to $work/snippets/index; fails on an unmarked block
# in README.md.
extract() {
	mkdir -p "$work/snippets" && touch "$work/snippets/index"
	"$PYTHON" - "$work/snippets" README.md docs/*.md <<'EOF'
import re, sys
out, files = sys.argv[1], sys.argv[2:]
kinds = {"module", "blackbox", "prometheus", "promql", "sh", "console"}
must = {"yaml", "yml", "promql", "console", "sh", "bash"}
index, bad, n = [], [], 0
for f in files:
    lines = open(f).read().split("\n")
    i = 0
    while i < len(lines):
        m = re.match(r"^```(\S*)\s*$", lines[i])
        if not m:
            i += 1
            continue
        lang, start = m.group(1), i
        j = i + 1
        while j < len(lines) and not lines[j].startswith("```"):
            j += 1
        mark = re.match(r"^<!-- check: (\S+) -->$", lines[start - 1]) if start else None
        if mark:
            kind = mark.group(1)
            if kind not in kinds:
                bad.append(f"{f}:{start+1}: unknown check kind {kind!r}")
            else:
                n += 1
                name = f"{n:03d}.{kind}"
                open(f"{out}/{name}", "w").write("\n".join(lines[start + 1:j]) + "\n")
                index.append(f"{name} {kind} {f}:{start+1}")
        elif f == "README.md" and lang in must:
            bad.append(f"{f}:{start+1}: ```{lang} block without a <!-- check: KIND --> comment before it")
        i = j + 1
open(f"{out}/index", "w").write("\n".join(index) + "\n")
for b in bad:
    print(b)
sys.exit(1 if bad else 0)
EOF
}

# --- one function per kind -----------------------------------------------

check_module() {
	"$work/synack_exporter" --config.check --config.file="$1"
}

check_blackbox() {
	local out
	if out=$("$work/synack_exporter" --config.check --config.file="$1" 2>&1); then
		echo "--config.check accepted a blackbox_exporter config"
		return 1
	fi
	echo "$out"
	grep -q 'docs/blackbox-migration.md' <<<"$out" || { echo "no hint pointing at docs/blackbox-migration.md in the error"; return 1; }
}

check_prometheus() {
	promtool check config "$1" || return 1
	# README's jobs must also name modules of the default config.yml.
	local modules=""
	[[ $2 == README.md:* ]] && modules=config.yml
	"$PYTHON" - "$1" "$modules" <<'EOF'
import re, sys, yaml
cfg = yaml.safe_load(open(sys.argv[1]))
known = set(yaml.safe_load(open(sys.argv[2]))["modules"]) if sys.argv[2] else None
bad = []
for job in cfg.get("scrape_configs", []):
    name, relabel = job["job_name"], job.get("relabel_configs", [])
    to_exporter = any(r.get("target_label") == "__address__" and str(r.get("replacement", "")).endswith(":9847")
                      for r in relabel)
    if job.get("metrics_path") != "/probe" or not (name.startswith("synack_") or to_exporter):
        continue
    m = re.fullmatch(r"synack_(.+)", name)
    if not m:
        bad.append(f"job {name}: probe jobs are named synack_<module>")
    set_by_relabel = [r["replacement"] for r in relabel if r.get("target_label") == "module" and "replacement" in r]
    mods = set(set_by_relabel)
    if not set_by_relabel:
        if any(k.endswith("_sd_configs") for k in job):
            bad.append(f"job {name}: discovered targets get no module label")
        for sc in job.get("static_configs", []):
            mod = (sc.get("labels") or {}).get("module")
            if not mod:
                bad.append(f"job {name}: targets {sc.get('targets')} have no module label")
            mods.add(mod)
    for mod in mods - {None}:
        if m and mod != m.group(1):
            bad.append(f"job {name}: module label {mod!r} is not the job's module")
        if known is not None and mod not in known:
            bad.append(f"job {name}: module {mod!r} is not in config.yml")
    if not any(r.get("source_labels") == ["module"] and r.get("target_label") == "__param_module" for r in relabel):
        bad.append(f"job {name}: no relabelling of module to __param_module")
for b in bad:
    print(b)
sys.exit(1 if bad else 0)
EOF
}

check_promql() {
	"$PYTHON" - "$1" "$1.rules.yml" <<'EOF'
import sys, yaml
exprs = [l.strip() for l in open(sys.argv[1]) if l.strip() and not l.startswith("#")]
rules = [{"record": f"readme:expr_{i}", "expr": e} for i, e in enumerate(exprs)]
yaml.safe_dump({"groups": [{"name": "readme", "rules": rules}]}, open(sys.argv[2], "w"))
EOF
	promtool check rules "$1.rules.yml"
}

check_sh() {
	bash -n "$1"
}

start_exporter() {
	local port
	port=$(free_port)
	mkdir -p "$work/cwd"
	# From an empty directory: README's first probes use the embedded config.
	(cd "$work/cwd" && exec "$work/synack_exporter" --web.listen-address="127.0.0.1:$port") >"$work/exporter.log" 2>&1 </dev/null &
	echo $! >"$work/exporter.pid"
	for _ in $(seq 100); do
		curl -sf "http://127.0.0.1:$port/-/healthy" >/dev/null && { echo "$port" >"$work/port"; return 0; }
		sleep 0.1
	done
	cat "$work/exporter.log"
	return 1
}

# Runs each "$ cmd" of the block with localhost:9847 pointed at the test
# exporter, and compares the lines shown under it with the real output.
check_console() {
	local port
	port=$(cat "$work/port") || return 1
	"$PYTHON" - "$1" "$port" <<'EOF'
import re, subprocess, sys
port, bad = sys.argv[2], []
blocks, cur = [], None
for line in open(sys.argv[1]).read().splitlines():
    if line.startswith("$ "):
        cur = [line[2:], []]
        blocks.append(cur)
    elif cur is not None and line.strip() and line.strip() != "...":
        cur[1].append(line)
for cmd, shown in blocks:
    if not cmd.startswith("curl "):
        bad.append(f"{cmd}: only curl commands are run")
        continue
    run = cmd.replace("localhost:9847", f"127.0.0.1:{port}")
    got = subprocess.run(run, shell=True, capture_output=True, text=True, timeout=30).stdout.splitlines()
    series = {l.rsplit(" ", 1)[0]: l.rsplit(" ", 1)[1] for l in got if l and not l.startswith("#") and " " in l}
    for l in shown:
        key, val = l.rsplit(" ", 1)
        if key not in series:
            bad.append(f"{cmd}: no {key} in the answer")
        elif re.fullmatch(r"-?\d+", val) and series[key] != val:
            bad.append(f"{cmd}: {key} is {series[key]}, README shows {val}")
for b in bad:
    print(b)
sys.exit(1 if bad else 0)
EOF
}

check_links() {
	"$PYTHON" - README.md docs/*.md example/README.md example/*/README.md <<'EOF'
import os, re, sys
def anchors(path):
    out, fence = set(), False
    for line in open(path):
        if line.startswith("```"):
            fence = not fence
        m = None if fence else re.match(r"#+ (.*)", line)
        if m:
            t = re.sub(r"[^\w\- ]", "", m.group(1).strip().lower()).replace(" ", "-")
            out.add(t)
    return out
bad = []
for f in sys.argv[1:]:
    text = re.sub(r"```.*?```", "", open(f).read(), flags=re.S)
    for m in re.finditer(r"\]\(([^)\s]+)\)", text):
        link = m.group(1)
        if re.match(r"[a-z]+:", link):
            continue
        path, _, frag = link.partition("#")
        target = os.path.normpath(os.path.join(os.path.dirname(f), path)) if path else f
        if not os.path.exists(target):
            bad.append(f"{f}: {link}: {target} does not exist")
        elif frag and target.endswith(".md") and frag not in anchors(target):
            bad.append(f"{f}: {link}: no heading #{frag} in {target}")
for b in bad:
    print(b)
sys.exit(1 if bad else 0)
EOF
}

# Every flag of --help is in README's table and docs/configuration.md's.
check_flags() {
	local flags flag bad=0
	flags=$("$work/synack_exporter" --help 2>&1 | sed -nE 's/^ +--(\[no-\])?([a-z][a-z0-9.-]+).*/--\2/p' |
		grep -vx -e --help -e --help-long -e --help-man -e --version) || return 1
	[ -n "$flags" ] || { echo "no flags found in --help"; return 1; }
	for flag in $flags; do
		for doc in README.md docs/configuration.md; do
			grep -q -- "\`$flag\`" "$doc" || { echo "$doc does not document $flag"; bad=1; }
		done
	done
	return "$bad"
}

check_size() {
	local size
	size=$(wc -c <README.md)
	echo "README.md: $size bytes"
	[ "$size" -le 15000 ]
}

# --- run -------------------------------------------------------------------

check "README.md within 15,000 bytes" check_size
check "relative links and anchors resolve" check_links
check "every README code block is marked for checking" extract
check "build the exporter" go build -o "$work/synack_exporter" .
check "start the exporter on the embedded config" start_exporter
check "every flag of --help is documented" check_flags

while read -r name kind where; do
	[ -n "$name" ] || continue
	check "$where: $kind" "check_$kind" "$work/snippets/$name" "$where"
done <"$work/snippets/index"

summary readme-check
