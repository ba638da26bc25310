#!/usr/bin/env python3
"""Helpers for example/e2e.sh: loopback listeners, a webhook receiver,
configuration rewriting and checks against the Prometheus HTTP API.

Everything here talks to loopback addresses only. Every wait is bounded;
a check that fails prints why on stderr and exits 1.
"""

import argparse
import copy
import hashlib
import json
import re
import select
import socket
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, HTTPServer

import yaml

LOOPBACK = "127.0.0.1"


def die(msg):
    print(msg, file=sys.stderr)
    sys.exit(1)


# --- processes the script runs in the background -----------------------------

def cmd_free_ports(args):
    """Print N distinct free loopback ports (all bound at once, then freed)."""
    socks = []
    for _ in range(args.n):
        s = socket.socket()
        s.bind((LOOPBACK, 0))
        socks.append(s)
    print(" ".join(str(s.getsockname()[1]) for s in socks))
    for s in socks:
        s.close()


def cmd_listen(args):
    """Listen on loopback ports and count accept()ed connections.

    A half-open probe must never complete a handshake, so the count written
    to --accepted-file should stay 0.
    """
    socks = []
    for port in args.ports:
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((LOOPBACK, port))
        s.listen(128)
        s.setblocking(False)
        socks.append(s)
    accepted = 0
    with open(args.accepted_file, "w") as f:
        f.write("0\n")
    deadline = time.monotonic() + args.lifetime
    while time.monotonic() < deadline:
        ready, _, _ = select.select(socks, [], [], 1.0)
        for s in ready:
            try:
                conn, peer = s.accept()
            except (BlockingIOError, ConnectionError):
                continue
            accepted += 1
            conn.close()
            with open(args.accepted_file, "w") as f:
                f.write(f"{accepted}\n")
            stamp = time.strftime("%H:%M:%S", time.gmtime()) + f".{int(time.time() * 1000) % 1000:03d}Z"
            print(f"{stamp} listener: accepted a connection from {peer} on {s.getsockname()}",
                  file=sys.stderr, flush=True)


def cmd_silent(args):
    """Hold a loopback port whose SYNs the kernel drops, so probes of it time out.

    A listener with a backlog of 0 whose accept queue already holds one
    connection (never accepted): Linux drops further SYNs to it.
    """
    s = socket.socket()
    s.bind((LOOPBACK, args.port))
    s.listen(0)
    filler = socket.create_connection((LOOPBACK, args.port))
    with open(args.ready_file, "w") as f:
        f.write("ready\n")
    time.sleep(args.lifetime)
    filler.close()
    s.close()


def cmd_flaky(args):
    """Hold a loopback port that answers SYNs for --period seconds, then
    drops them for as long, and so on: a lossy target for continuous mode.

    The trick of cmd_silent, switched on and off: a listener with a
    backlog of 0 drops SYNs while one connection (its own, never a
    probe's) waits in its accept queue, and answers them while the queue
    is empty. A half-open check never reaches the queue.
    """
    s = socket.socket()
    s.bind((LOOPBACK, args.port))
    s.listen(0)
    with open(args.ready_file, "w") as f:
        f.write("ready\n")
    deadline = time.monotonic() + args.lifetime
    while time.monotonic() < deadline:
        filler = socket.create_connection((LOOPBACK, args.port))
        time.sleep(args.period)  # queue full: SYNs dropped
        conn, _ = s.accept()
        conn.close()
        filler.close()
        time.sleep(args.period)  # queue empty: SYNs answered
    s.close()


def cmd_webhook(args):
    """Alertmanager webhook receiver: appends each POSTed body as a line."""
    out = args.out

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            with open(out, "ab") as f:
                f.write(body.replace(b"\n", b" ") + b"\n")
            self.send_response(200)
            self.end_headers()

        def log_message(self, fmt, *a):
            pass

    server = HTTPServer((LOOPBACK, args.port), Handler)
    server.timeout = 1.0
    deadline = time.monotonic() + args.lifetime
    while time.monotonic() < deadline:
        server.handle_request()


# --- configuration --------------------------------------------------------------

def cmd_prom_config(args):
    """Rewrite a Prometheus configuration from example/ for the test.

    --map OLD=NEW swaps an address wherever it is a target, an Alertmanager
    or a relabelling replacement; --targets JOB=A,B replaces a probe job's
    target list (probe jobs not named are left out); --extra adds a target
    with its own module label. Every interval is shortened and the rule
    files become --rules.
    """
    with open(args.src) as f:
        cfg = yaml.safe_load(f)
    addr_map = dict(kv.split("=", 1) for kv in args.map)
    targets = {}
    for kv in args.targets:
        job, addrs = kv.split("=", 1)
        targets[job] = [a for a in addrs.split(",") if a]

    def swap(addr):
        if addr not in addr_map:
            die(f"prom-config: {addr} in {args.src} has no --map entry")
        return addr_map[addr]

    interval = args.interval
    g = cfg.setdefault("global", {})
    g["scrape_interval"] = interval
    g["evaluation_interval"] = interval
    g.pop("external_labels", None)
    cfg["rule_files"] = args.rules
    for am in cfg.get("alerting", {}).get("alertmanagers", []):
        for sc in am.get("static_configs", []):
            sc["targets"] = [swap(t) for t in sc["targets"]]
    cfg.pop("remote_write", None)

    jobs = []
    for job in cfg["scrape_configs"]:
        # YAML anchors share one object between jobs: edit a copy.
        job = copy.deepcopy(job)
        name = job["job_name"]
        job["scrape_interval"] = interval
        if "scrape_timeout" in job:
            # A scrape timeout may not exceed the interval.
            job["scrape_timeout"] = interval
        if job.get("metrics_path") == "/probe":
            if name not in targets:
                continue
            for sc in job["static_configs"]:
                sc["targets"] = []
            job["static_configs"][0]["targets"] = targets[name]
            for extra_job, module, addr in args.extra:
                if extra_job == name:
                    job["static_configs"].append({"targets": [addr], "labels": {"module": module}})
            for rc in job.get("relabel_configs", []):
                if rc.get("target_label") == "__address__":
                    rc["replacement"] = swap(rc["replacement"])
        else:
            for sc in job["static_configs"]:
                sc["targets"] = [swap(t) for t in sc["targets"]]
        jobs.append(job)
    cfg["scrape_configs"] = jobs
    # Written as JSON, which is YAML too: no anchors, nothing ambiguous.
    with open(args.out, "w") as f:
        json.dump(cfg, f, indent=2)


def cmd_rules(args):
    """Copy a rules file with every alert's `for` shortened and every group
    evaluated at the global interval, so alerts fire within seconds."""
    with open(args.src) as f:
        doc = yaml.safe_load(f)
    for group in doc["groups"]:
        group.pop("interval", None)
        for rule in group["rules"]:
            if "alert" in rule and "for" in rule:
                rule["for"] = args.for_
    with open(args.out, "w") as f:
        json.dump(doc, f, indent=2)


# --- Prometheus HTTP API -------------------------------------------------------

def api(prom, path, params=None):
    url = f"http://{prom}{path}"
    if params:
        url += "?" + urllib.parse.urlencode(params)
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            body = json.load(r)
    except urllib.error.HTTPError as e:
        body = json.loads(e.read() or b"{}")
        raise RuntimeError(f"{path}: HTTP {e.code}: {body.get('error', body)}") from None
    if body.get("status") != "success":
        raise RuntimeError(f"{path}: {body.get('error', body)}")
    return body["data"]


def instant(prom, expr, at=None):
    params = {"query": expr}
    if at is not None:
        params["time"] = at
    return api(prom, "/api/v1/query", params)


def show(result):
    if not isinstance(result, list):
        return json.dumps(result)
    return "; ".join(f"{r['metric']} = {r['value'][1]}" for r in result) or "no series"


def cmd_wait(args):
    """Wait until EXPR returns COUNT series (if given), each of value VALUE
    (if given), or fail with the last answer after TIMEOUT seconds."""
    deadline = time.monotonic() + args.timeout
    last = "no answer yet"
    while True:
        try:
            data = instant(args.prom, args.expr)
            res = data["result"]
            ok = len(res) > 0 if args.count is None else len(res) == args.count
            if args.value is not None:
                ok = ok and all(float(r["value"][1]) == args.value for r in res)
            last = show(res)
            if ok:
                print(last)
                return
        except (OSError, RuntimeError) as e:
            last = str(e)
        if time.monotonic() >= deadline:
            want = f"{'some' if args.count is None else args.count} series"
            if args.value is not None:
                want += f" of value {args.value:g}"
            die(f"after {args.timeout:g}s, {args.expr} gave: {last} (wanted {want})")
        time.sleep(0.5)


def cmd_webhook_wait(args):
    """Wait until the webhook got a notification with a firing alert whose
    labels include every --label."""
    want = dict(kv.split("=", 1) for kv in args.label)
    deadline = time.monotonic() + args.timeout
    seen = []
    while True:
        try:
            with open(args.file) as f:
                lines = f.read().splitlines()
        except FileNotFoundError:
            lines = []
        for line in lines:
            msg = json.loads(line)
            for alert in msg.get("alerts", []):
                labels = alert.get("labels", {})
                summary = alert.get("annotations", {}).get("summary", "")
                if (alert.get("status") == args.status and args.summary_contains in summary
                        and all(labels.get(k) == v for k, v in want.items())):
                    print(f"{alert['status']}: {labels}; {alert.get('annotations', {}).get('summary', '')}")
                    return
        seen = [a.get("labels", {}).get("alertname") for line in lines for a in json.loads(line).get("alerts", [])]
        if time.monotonic() >= deadline:
            die(f"after {args.timeout:g}s the webhook had no {args.status} alert with {want} "
                f"and {args.summary_contains!r} in its summary; "
                f"it got {len(lines)} notifications, alerts {seen}")
        time.sleep(0.5)


# --- the Grafana dashboard ---------------------------------------------------------

def dashboard_exprs(dash):
    """Yield (where, expr) for every query in the dashboard: panel targets
    (in rows too) and template variables (label_values(sel, label) becomes
    `group by (label) (sel)`, the PromQL that Grafana runs for it)."""
    def panels(ps):
        for p in ps:
            yield p
            yield from panels(p.get("panels", []))
    for p in panels(dash.get("panels", [])):
        for t in p.get("targets", []):
            if t.get("expr"):
                yield f"panel {p['title']!r} {t.get('refId', '')}", t["expr"], t.get("instant", False)
    for v in dash.get("templating", {}).get("list", []):
        if v.get("type") != "query":
            continue
        q = v["query"]["query"] if isinstance(v["query"], dict) else v["query"]
        m = re.fullmatch(r"label_values\((.*),\s*(\w+)\)", q.strip())
        if not m:
            die(f"variable {v['name']}: cannot read query {q!r}")
        yield f"variable ${v['name']}", f"group by ({m.group(2)}) ({m.group(1)})", True


def cmd_dashboard_lint(args):
    """Static checks Grafana would otherwise only show on import: unique
    panel ids, panels inside the 24-column grid and not overlapping, every
    query on the dashboard's data source variable with a unique refId, and
    no variable used that the dashboard does not define."""
    with open(args.dashboard) as f:
        dash = json.load(f)
    errors = []
    names = {v["name"] for v in dash.get("templating", {}).get("list", [])}
    for want in ("datasource", "job", "module", "target"):
        if want not in names:
            errors.append(f"no template variable {want}")
    builtin = {"__rate_interval", "__interval", "__range"}
    ids = set()
    cells = {}
    for p in dash["panels"]:
        where = f"panel {p.get('id')} {p.get('title')!r}"
        if p.get("id") in ids:
            errors.append(f"{where}: duplicate id")
        ids.add(p.get("id"))
        g = p.get("gridPos", {})
        if not all(k in g for k in ("x", "y", "w", "h")) or g["x"] + g["w"] > 24:
            errors.append(f"{where}: gridPos {g} is not inside the 24-column grid")
            continue
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                if (x, y) in cells:
                    errors.append(f"{where}: overlaps {cells[(x, y)]}")
                    break
                cells[(x, y)] = where
            else:
                continue
            break
        if p["type"] == "row":
            continue
        refs = [t.get("refId") for t in p.get("targets", [])]
        if not refs or len(set(refs)) != len(refs):
            errors.append(f"{where}: queries need unique refIds, got {refs}")
        for t in [p] + p.get("targets", []):
            if t.get("datasource", {}).get("uid") != "${datasource}":
                errors.append(f"{where}: data source is not ${{datasource}}")
        for t in p.get("targets", []):
            for var in re.findall(r"\$\{?(\w+)", t.get("expr", "")):
                if var not in names and var not in builtin:
                    errors.append(f"{where}: unknown variable ${var}")
    if errors:
        die("; ".join(errors))
    print(f"{len(dash['panels'])} panels, {len(names)} variables")


def grafana_regex_escape(value):
    """Grafana's escaping of one value of a multi-value variable for the
    Prometheus data source: regex metacharacters get a backslash, written
    doubled inside the PromQL string."""
    return re.sub(r"([\\^$*+?.()|{}\[\]])", r"\\\\\1", value)


def substitute(expr, values, rng):
    for name, val in values.items():
        expr = expr.replace(f"${{{name}}}", val).replace(f"${name}", val)
    return (expr.replace("$__rate_interval", "30s").replace("$__interval", "5s")
                .replace("$__range", rng))


def cmd_dashboard(args):
    """Run every dashboard query twice, with the variables set to All and
    with the given targets selected (Grafana's multi-value regex); each run
    must parse and return data."""
    with open(args.dashboard) as f:
        dash = json.load(f)
    vars_all = {"job": "synack_.+", "module": ".*", "target": ".+"}
    for v in dash["templating"]["list"]:
        if v.get("type") == "query" and v["name"] in vars_all:
            vars_all[v["name"]] = v.get("allValue") or vars_all[v["name"]]
    picked = "(" + "|".join(grafana_regex_escape(t) for t in args.target) + ")"
    some = dict(vars_all, target=picked)
    failures = 0
    checked = 0
    now = time.time()
    for where, expr, is_instant in dashboard_exprs(dash):
        leftover = None
        for label, values in (("All", vars_all), (picked, some)):
            q = substitute(expr, values, args.range)
            if "$" in q:
                leftover = q
                break
            try:
                if is_instant:
                    res = instant(args.prom, q)["result"]
                else:
                    res = api(args.prom, "/api/v1/query_range", {
                        "query": q, "start": now - 60, "end": now, "step": 5})["result"]
            except (OSError, RuntimeError) as e:
                print(f"  {where} [{label}]: {q}: {e}", file=sys.stderr)
                failures += 1
                continue
            checked += 1
            if not res:
                print(f"  {where} [{label}]: {q}: no data", file=sys.stderr)
                failures += 1
        if leftover:
            print(f"  {where}: unknown variable left in {leftover}", file=sys.stderr)
            failures += 1
    if failures:
        die(f"{failures} dashboard queries failed ({checked} ran)")
    print(f"{checked} dashboard queries returned data")


def cmd_dashboard_panel(args):
    """Run one panel's first query as an instant query, with the variables
    set to All, and check which series it lists: each --present
    job=...,instance=... must be there, each --absent must not."""
    with open(args.dashboard) as f:
        dash = json.load(f)
    exprs = [expr for where, expr, _ in dashboard_exprs(dash)
             if where.startswith(f"panel {args.panel!r} ")]
    if not exprs:
        die(f"no panel {args.panel!r} with a query")
    vars_all = {"job": "synack_.+", "module": ".*", "target": ".+"}
    q = substitute(exprs[0], vars_all, args.range)
    got = [s["metric"] for s in instant(args.prom, q)["result"]]

    def listed(want):
        labels = dict(kv.split("=", 1) for kv in want.split(","))
        return any(all(m.get(k) == v for k, v in labels.items()) for m in got)
    wrong = [f"{w} missing" for w in args.present if not listed(w)]
    wrong += [f"{w} listed" for w in args.absent if listed(w)]
    if wrong:
        die(f"panel {args.panel!r}: {'; '.join(wrong)}; it lists {got}")
    print(f"panel {args.panel!r} lists {len(got)} series as expected")


# --- sharding ----------------------------------------------------------------------

def hashmod(value, modulus):
    """Prometheus' hashmod: the low 64 bits of the MD5, big-endian."""
    return int.from_bytes(hashlib.md5(value.encode()).digest()[8:], "big") % modulus


def cmd_pick_shard_targets(args):
    """From candidate ports, print loopback targets so that each of the
    shards gets at least --per-shard targets by Prometheus' hashmod."""
    picked = {k: [] for k in range(args.shards)}
    for port in args.ports:
        t = f"{LOOPBACK}:{port}"
        k = hashmod(t, args.shards)
        if len(picked[k]) < args.per_shard:
            picked[k].append(t)
    if any(len(v) < args.per_shard for v in picked.values()):
        die(f"not enough candidate ports to give every shard {args.per_shard}: {picked}")
    print(",".join(t for k in sorted(picked) for t in picked[k]))


def exporter_probes(exporter):
    """Sum of synack_exporter_probes_total read from an exporter's /metrics."""
    with urllib.request.urlopen(f"http://{exporter}/metrics", timeout=10) as r:
        text = r.read().decode()
    total = 0.0
    for line in text.splitlines():
        if line.startswith("synack_exporter_probes_total{"):
            total += float(line.rsplit(" ", 1)[1])
    return total


def cmd_shards(args):
    """Check that every target of JOB is probed by exactly one exporter:
    Prometheus sends each target's scrapes to one exporter, the one its
    hashmod names, and each exporter's probes_total grows by the scrapes
    of its own targets only."""
    targets = args.targets.split(",")
    exporters = args.exporters.split(",")
    active = api(args.prom, "/api/v1/targets", {"state": "active"})["activeTargets"]
    where = {}
    for t in active:
        if t["labels"].get("job") != args.job:
            continue
        url = urllib.parse.urlparse(t["scrapeUrl"])
        target = urllib.parse.parse_qs(url.query).get("target", [""])[0]
        where.setdefault(target, []).append(url.netloc)
    errors = []
    for t in targets:
        got = where.get(t, [])
        if len(got) != 1:
            errors.append(f"{t} is scraped through {len(got)} exporters: {got}")
        elif got[0] != exporters[hashmod(t, len(exporters))]:
            errors.append(f"{t} goes to {got[0]}, hashmod says {exporters[hashmod(t, len(exporters))]}")
    for t in where:
        if t not in targets:
            errors.append(f"unexpected target {t} in job {args.job}")
    if errors:
        die("; ".join(errors))
    assigned = {e: [t for t in targets if where[t][0] == e] for e in exporters}
    if any(not ts for ts in assigned.values()):
        die(f"an exporter has no targets: {assigned}")

    # Counters: read each exporter, wait, read again; compare the growth
    # with the number of scrapes Prometheus made of that exporter's targets.
    before = {e: exporter_probes(e) for e in exporters}
    t0 = time.time()
    time.sleep(args.window)
    after = {e: exporter_probes(e) for e in exporters}
    t1 = time.time()
    window = f"{round(t1 - t0)}s"
    scrapes = {}
    for r in instant(args.prom, f'count_over_time(up{{job="{args.job}"}}[{window}])', at=t1)["result"]:
        scrapes[r["metric"]["instance"]] = float(r["value"][1])
    report = []
    for e in exporters:
        grew = after[e] - before[e]
        expect = sum(scrapes.get(t, 0) for t in assigned[e])
        report.append(f"{e}: {len(assigned[e])} targets, probes_total +{grew:g}, "
                      f"Prometheus scraped its targets {expect:g} times")
        # One scrape per target may fall on either side of a counter read.
        if abs(grew - expect) > len(assigned[e]) + 1 or grew == 0:
            errors.append(f"{e}: probes_total grew by {grew:g}, expected {expect:g} "
                          f"(+-{len(assigned[e]) + 1}) from its {len(assigned[e])} targets")
    if errors:
        die("; ".join(errors + report))
    print("; ".join(report))


def cmd_continuous_shards(args):
    """Check that exporters in continuous mode with --continuous.shard=I/N
    over one target list check every target exactly once: each target
    label appears under one exporter only, every target of the list is
    there and no other, each exporter has some, and each exporter's
    synack_exporter_continuous_targets is the count of its own."""
    targets = set(args.targets.split(","))
    exporters = args.exporters.split(",")
    deadline = time.monotonic() + args.timeout
    while True:
        errors, report = [], []
        try:
            seen = {}
            for r in instant(args.prom, f'group by (target, instance) (synack_checks_total{{job="{args.job}"}})')["result"]:
                seen.setdefault(r["metric"]["target"], []).append(r["metric"]["instance"])
            counts = {r["metric"]["instance"]: float(r["value"][1]) for r in
                      instant(args.prom, f'synack_exporter_continuous_targets{{job="{args.job}"}}')["result"]}
        except (OSError, RuntimeError) as e:
            errors.append(str(e))
            seen, counts = {}, {}
        for t in sorted(targets):
            if len(seen.get(t, [])) != 1:
                errors.append(f"{t} is checked by {len(seen.get(t, []))} exporters: {seen.get(t, [])}")
        for t in sorted(set(seen) - targets):
            errors.append(f"unexpected target {t}, checked by {seen[t]}")
        for e in exporters:
            own = [t for t, where in seen.items() if where == [e]]
            report.append(f"{e}: {len(own)} targets, synack_exporter_continuous_targets {counts.get(e, 'missing')}")
            if not own:
                errors.append(f"{e} checks no target")
            if counts.get(e) != len(own):
                errors.append(f"{e}: synack_exporter_continuous_targets is {counts.get(e)}, it checks {len(own)}")
        if sum(counts.values()) != len(targets):
            errors.append(f"synack_exporter_continuous_targets sums to {sum(counts.values()):g}, want {len(targets)}")
        if not errors:
            print("; ".join(report))
            return
        if time.monotonic() >= deadline:
            die("; ".join(errors + report))
        time.sleep(0.5)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)

    p = sub.add_parser("free-ports")
    p.add_argument("n", type=int)
    p.set_defaults(func=cmd_free_ports)

    p = sub.add_parser("listen")
    p.add_argument("--accepted-file", required=True)
    p.add_argument("--lifetime", type=float, default=900)
    p.add_argument("ports", type=int, nargs="+")
    p.set_defaults(func=cmd_listen)

    p = sub.add_parser("silent")
    p.add_argument("--ready-file", required=True)
    p.add_argument("--lifetime", type=float, default=900)
    p.add_argument("port", type=int)
    p.set_defaults(func=cmd_silent)

    p = sub.add_parser("flaky")
    p.add_argument("--ready-file", required=True)
    p.add_argument("--period", type=float, default=1.0)
    p.add_argument("--lifetime", type=float, default=900)
    p.add_argument("port", type=int)
    p.set_defaults(func=cmd_flaky)

    p = sub.add_parser("webhook")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--lifetime", type=float, default=900)
    p.set_defaults(func=cmd_webhook)

    p = sub.add_parser("prom-config")
    p.add_argument("--src", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--rules", action="append", default=[])
    p.add_argument("--interval", default="1s")
    p.add_argument("--map", action="append", default=[])
    p.add_argument("--targets", action="append", default=[])
    p.add_argument("--extra", nargs=3, action="append", default=[],
                   metavar=("JOB", "MODULE", "TARGET"),
                   help="add TARGET to JOB with this module label")
    p.set_defaults(func=cmd_prom_config)

    p = sub.add_parser("rules")
    p.add_argument("--src", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--for", dest="for_", default="2s")
    p.set_defaults(func=cmd_rules)

    p = sub.add_parser("wait")
    p.add_argument("--prom", required=True)
    p.add_argument("--expr", required=True)
    p.add_argument("--count", type=int)
    p.add_argument("--value", type=float)
    p.add_argument("--timeout", type=float, default=30)
    p.set_defaults(func=cmd_wait)

    p = sub.add_parser("webhook-wait")
    p.add_argument("--file", required=True)
    p.add_argument("--label", action="append", default=[])
    p.add_argument("--status", default="firing")
    p.add_argument("--summary-contains", default="")
    p.add_argument("--timeout", type=float, default=30)
    p.set_defaults(func=cmd_webhook_wait)

    p = sub.add_parser("dashboard")
    p.add_argument("--prom", required=True)
    p.add_argument("--dashboard", required=True)
    p.add_argument("--target", action="append", required=True)
    p.add_argument("--range", default="5m")
    p.set_defaults(func=cmd_dashboard)

    p = sub.add_parser("dashboard-panel")
    p.add_argument("--prom", required=True)
    p.add_argument("--dashboard", required=True)
    p.add_argument("--panel", required=True)
    p.add_argument("--present", action="append", default=[])
    p.add_argument("--absent", action="append", default=[])
    p.add_argument("--range", default="5m")
    p.set_defaults(func=cmd_dashboard_panel)

    p = sub.add_parser("dashboard-lint")
    p.add_argument("dashboard")
    p.set_defaults(func=cmd_dashboard_lint)

    p = sub.add_parser("pick-shard-targets")
    p.add_argument("--shards", type=int, required=True)
    p.add_argument("--per-shard", type=int, required=True)
    p.add_argument("ports", type=int, nargs="+")
    p.set_defaults(func=cmd_pick_shard_targets)

    p = sub.add_parser("shards")
    p.add_argument("--prom", required=True)
    p.add_argument("--job", required=True)
    p.add_argument("--targets", required=True)
    p.add_argument("--exporters", required=True)
    p.add_argument("--window", type=float, default=10)
    p.set_defaults(func=cmd_shards)

    p = sub.add_parser("continuous-shards")
    p.add_argument("--prom", required=True)
    p.add_argument("--job", default="synack_exporter")
    p.add_argument("--targets", required=True)
    p.add_argument("--exporters", required=True)
    p.add_argument("--timeout", type=float, default=30)
    p.set_defaults(func=cmd_continuous_shards)

    args = ap.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
