package collector

import (
	"context"
	"fmt"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-kit/log"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/seed-5ff58b3a/synack_exporter/config"
	"github.com/seed-5ff58b3a/synack_exporter/prober"
)

// scriptChecker answers every probe with the same results: its first for
// a probe of one check, all of them for a probe of several (one per
// check, whatever the plan; Resolved counts their addresses).
type scriptChecker []prober.Result

func (c scriptChecker) Check(context.Context, string, prober.Options) prober.Result { return c[0] }

func (c scriptChecker) CheckMany(_ context.Context, _ string, _ prober.Options, plan prober.Plan) prober.Summary {
	s := prober.Summary{Plan: plan, Results: c}
	seen := map[netip.AddrPort]bool{}
	for _, r := range c {
		seen[r.Addr] = true
	}
	s.Resolved = len(seen)
	s.Summarize()
	return s
}

// outcomeCase is one kind of probe, what the self-metrics count for it
// and what its landing-page row says.
type outcomeCase struct {
	name     string
	module   string // the module's YAML
	results  scriptChecker
	failures map[string]int // synack_exporter_probe_failures_total by class
	checks   map[string]int // synack_exporter_checks_total by class
	outcome  string         // the row's Result column
}

func outcomeCases() []outcomeCase {
	ms := time.Millisecond
	a4 := netip.MustParseAddrPort("127.0.0.1:22")
	a6 := netip.MustParseAddrPort("[::1]:22")
	open := func(addr netip.AddrPort, synack time.Duration, retrans uint32) prober.Result {
		return prober.Result{Class: prober.ClassOpen, Mode: prober.ModeHalfOpen, Addr: addr, SYNACK: synack, RTT: synack / 2, SYNRetransmits: retrans}
	}
	timeout := prober.Result{Class: prober.ClassTimeout, Errno: syscall.ETIMEDOUT, Mode: prober.ModeHalfOpen, Addr: a4,
		Err: fmt.Errorf("no answer: %w", syscall.ETIMEDOUT), SYNRetransmits: 2}
	refused := prober.Result{Class: prober.ClassRefused, Errno: syscall.ECONNREFUSED, Mode: prober.ModeHalfOpen, Addr: a6,
		Err: fmt.Errorf("connect: %w", syscall.ECONNREFUSED)}
	// tcp_loss-like: ten checks, the first answered only after a
	// retransmission (1.003s), so it is not the median.
	lossy := func(timeouts int) scriptChecker {
		rs := scriptChecker{open(a4, 1003*ms, 1)}
		for i := range 9 - timeouts {
			rs = append(rs, open(a4, time.Duration(i+1)*ms, 0))
		}
		for range timeouts {
			rs = append(rs, timeout)
		}
		return rs
	}
	return []outcomeCase{
		{
			name: "one check, open", module: "{}", results: scriptChecker{open(a4, 2*ms, 0)},
			checks: map[string]int{"open": 1}, outcome: "open",
		},
		{
			name: "one check, refused", module: "{}", results: scriptChecker{refused},
			failures: map[string]int{"refused": 1}, checks: map[string]int{"refused": 1},
			outcome: "refused: connect: connection refused",
		},
		{
			name: "expect timeout, dropped as expected", module: "{expect: timeout}", results: scriptChecker{timeout},
			checks: map[string]int{"timeout": 1}, outcome: "timeout (expected timeout)",
		},
		{
			name: "expect timeout, port answered", module: "{expect: timeout}", results: scriptChecker{open(a4, ms, 0)},
			failures: map[string]int{"open": 1}, checks: map[string]int{"open": 1}, outcome: "open (expected timeout)",
		},
		{
			name: "several SYNs, loss within min_open_ratio", module: "{syn_count: 10, min_open_ratio: 0.7}", results: lossy(3),
			checks:  map[string]int{"open": 7, "timeout": 3},
			outcome: "10 checks: 7 open, 3 timeout; loss 40%",
		},
		{
			name: "several SYNs, too much loss", module: "{syn_count: 10, min_open_ratio: 0.7}", results: lossy(4),
			failures: map[string]int{"timeout": 1}, checks: map[string]int{"open": 6, "timeout": 4},
			outcome: "10 checks: 6 open, 4 timeout; loss 50%; failed: timeout: no answer: connection timed out",
		},
		{
			name: "all addresses, one dead", module: "{addresses: all, min_open_ratio: 1}",
			results:  scriptChecker{open(a4, 3*ms, 0), refused},
			failures: map[string]int{"refused": 1}, checks: map[string]int{"open": 1, "refused": 1},
			outcome: "2 checks: 1 open, 1 refused; 1/2 addresses open; failed: refused: connect: connection refused",
		},
		{
			name: "several SYNs, expect timeout, all dropped", module: "{syn_count: 3, expect: timeout}",
			results: scriptChecker{timeout, timeout, timeout},
			checks:  map[string]int{"timeout": 3}, outcome: "3 checks: 3 timeout; loss 100% (expected timeout)",
		},
	}
}

// outcomeServer is an Exporter whose only module is "m", logging at
// debug level into logs.
func outcomeServer(t *testing.T, module string, checker Checker) (*Exporter, *syncBuffer) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.yml")
	writeFile(t, path, "modules:\n  m: "+module+"\n")
	logs := &syncBuffer{}
	e := New(Options{Checker: checker, Config: config.NewStore(path, nil), HistoryLimit: 10,
		Logger: log.NewLogfmtLogger(logs), DebugLog: true})
	if err := e.Reload(); err != nil {
		t.Fatal(err)
	}
	return e, logs
}

// probeOnce probes localhost:22 with module m and returns the answer.
func probeOnce(t *testing.T, e *Exporter) string {
	t.Helper()
	w := httptest.NewRecorder()
	e.ServeHTTP(w, httptest.NewRequest("GET", "/probe?module=m&target=localhost:22", nil))
	if w.Code != 200 {
		t.Fatalf("/probe: %d %s", w.Code, w.Body)
	}
	return w.Body.String()
}

// byClass renders a counter by module and class, every class listed.
func byClass(name, help string, counts map[string]int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s counter\n", name, help, name)
	for _, c := range []string{"local", "open", "other", "prohibited", "refused", "resolve", "timeout", "unreachable"} {
		fmt.Fprintf(&b, "%s{class=%q,module=\"m\"} %d\n", name, c, counts[c])
	}
	return b.String()
}

const (
	failuresHelp = "Probes that answered probe_success 0, by module and the class of the check that failed them (the first that did not end as the module expects; open for a port that answered but must not)."
	checksHelp   = "Checks made by probes, by module and the class each ended in, whether the module expected it or not (a probe that could make none counts the class that says why)."
)

// TestFailuresCountProbes: probe_failures_total counts probes with
// probe_success 0, by the class of the check that failed them, whatever
// the classes of their other checks; checks_total counts every check.
func TestFailuresCountProbes(t *testing.T) {
	for _, tt := range outcomeCases() {
		t.Run(tt.name, func(t *testing.T) {
			e, _ := outcomeServer(t, tt.module, tt.results)
			probeOnce(t, e)
			want := byClass("synack_exporter_probe_failures_total", failuresHelp, tt.failures) +
				byClass("synack_exporter_checks_total", checksHelp, tt.checks)
			if err := testutil.GatherAndCompare(e.registry, strings.NewReader(want),
				"synack_exporter_probe_failures_total", "synack_exporter_checks_total"); err != nil {
				t.Error(err)
			}
		})
	}
}

// logField matches one key=value pair of a logfmt line.
var logField = regexp.MustCompile(`(\w+)=("(?:[^"\\]|\\.)*"|\S*)`)

// lastLogLine returns the fields of the last line of logs that has msg
// "Probe succeeded" or "Probe failed".
func lastLogLine(t *testing.T, logs string) map[string]string {
	t.Helper()
	var fields map[string]string
	for _, line := range strings.Split(logs, "\n") {
		if !strings.Contains(line, `msg="Probe `) {
			continue
		}
		fields = map[string]string{}
		for _, m := range logField.FindAllStringSubmatch(line, -1) {
			v := m[2]
			if u, err := strconv.Unquote(v); err == nil {
				v = u
			}
			fields[m[1]] = v
		}
	}
	if fields == nil {
		t.Fatalf("no probe result in the log:\n%s", logs)
	}
	return fields
}

// TestLogAndRowAgreeWithMetrics: the debug log line and the landing
// page's row of a probe say what its /probe metrics say.
func TestLogAndRowAgreeWithMetrics(t *testing.T) {
	for _, tt := range outcomeCases() {
		t.Run(tt.name, func(t *testing.T) {
			e, logs := outcomeServer(t, tt.module, tt.results)
			mfs := parseMetrics(t, probeOnce(t, e))
			fields := lastLogLine(t, logs.String())
			recs := e.history.recent()
			if len(recs) != 1 {
				t.Fatalf("history has %d probes, want 1", len(recs))
			}
			row := recs[0]

			success := gaugeValue(t, mfs, "probe_success") == 1
			wantMsg := map[bool]string{true: "Probe succeeded", false: "Probe failed"}[success]
			if fields["msg"] != wantMsg {
				t.Errorf("log msg %q with probe_success %v", fields["msg"], success)
			}
			if row.Succeeded() != success {
				t.Errorf("row succeeded %v with probe_success %v", row.Succeeded(), success)
			}
			if got := row.Outcome(); got != tt.outcome {
				t.Errorf("row result %q, want %q", got, tt.outcome)
			}
			if want := fmt.Sprint(gaugeValue(t, mfs, "probe_tcp_syn_retransmits")); fields["syn_retransmits"] != want {
				t.Errorf("log syn_retransmits=%s, metrics %s", fields["syn_retransmits"], want)
			}
			if mf, ok := mfs["probe_tcp_synack_seconds"]; ok {
				want := time.Duration(mf.GetMetric()[0].GetGauge().GetValue() * float64(time.Second))
				if fields["synack"] != want.String() {
					t.Errorf("log synack=%s, metrics %s", fields["synack"], want)
				}
				if row.SYNACK() != want {
					t.Errorf("row SYN-ACK %s, metrics %s", row.SYNACK(), want)
				}
			} else if _, ok := fields["synack"]; ok || row.SYNACK() != 0 {
				t.Errorf("log synack=%q, row %s, but no probe_tcp_synack_seconds", fields["synack"], row.SYNACK())
			}
			if mf, ok := mfs["probe_tcp_loss_ratio"]; ok {
				if want := fmt.Sprint(mf.GetMetric()[0].GetGauge().GetValue()); fields["loss_ratio"] != want {
					t.Errorf("log loss_ratio=%s, metrics %s", fields["loss_ratio"], want)
				}
			}
			// probe_tcp_errno is the first check that was not open; the log
			// names the check that failed the probe, the same one unless a
			// module expects no answer.
			if !success && row.expect() == prober.ExpectOpen {
				errno := fmt.Sprint(gaugeValue(t, mfs, "probe_tcp_errno"))
				if fields["errno"] != errno {
					t.Errorf("log errno=%s, metrics %s", fields["errno"], errno)
				}
			}

			// The page shows the row as the record gives it.
			w := httptest.NewRecorder()
			e.ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
			if page := w.Body.String(); !strings.Contains(page, htmlEscape(tt.outcome)) {
				t.Errorf("landing page lacks %q", tt.outcome)
			}
		})
	}
}

func htmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&#34;", "'", "&#39;").Replace(s)
}

// TestHistoryKeepsBoundedSummary: a probe of thousands of checks keeps
// counts in the history, not its results.
func TestHistoryKeepsBoundedSummary(t *testing.T) {
	results := make(scriptChecker, 7200)
	for i := range results {
		results[i] = prober.Result{Class: prober.ClassOpen, Addr: netip.MustParseAddrPort("127.0.0.1:22"), SYNACK: time.Millisecond}
	}
	// The checker answers with all of them, whatever syn_count says.
	e, _ := outcomeServer(t, "{syn_count: 100}", results)
	probeOnce(t, e)
	rec := e.history.recent()[0]
	if rec.Summary.Checks != 7200 || rec.Summary.Classes[prober.ClassOpen] != 7200 {
		t.Errorf("summary counts %d checks, %d open; want 7200", rec.Summary.Checks, rec.Summary.Classes[prober.ClassOpen])
	}
	if n := len(rec.Summary.Addresses); n != 1 {
		t.Errorf("summary keeps %d addresses, want 1", n)
	}
}
