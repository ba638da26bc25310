package collector

import (
	"bytes"
	"maps"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/seed-5ff58b3a/synack_exporter/config"
	"github.com/seed-5ff58b3a/synack_exporter/prober"
)

// summaryRecords are probes of several checks with every value fixed,
// one per golden file.
func summaryRecords(t *testing.T) map[string]*probeRecord {
	ms := time.Millisecond
	a4 := netip.MustParseAddrPort("127.0.0.1:22")
	b4 := netip.MustParseAddrPort("127.0.0.2:22")
	a6 := netip.MustParseAddrPort("[::1]:22")
	open := func(addr netip.AddrPort, synack time.Duration, retrans uint32) prober.Result {
		return prober.Result{Class: prober.ClassOpen, Addr: addr, SYNACK: synack, RTT: synack - 100*time.Microsecond, SYNRetransmits: retrans}
	}
	withPeer := func(r prober.Result) prober.Result {
		r.Peer = prober.Peer{MSS: 1460, Window: 65160, HasWindow: true, WindowScale: 7,
			Options: prober.OptionTimestamps | prober.OptionSACK | prober.OptionWindowScale}
		return r
	}
	summary := func(s prober.Summary) *prober.Summary {
		s.Summarize()
		kept := s.WithoutResults()
		return &kept
	}
	module := func(yaml string) config.Module {
		c, err := config.Load([]byte("modules:\n  m: " + yaml + "\n"))
		if err != nil {
			t.Fatal(err)
		}
		m, _ := c.Module("m")
		return m
	}
	loss := module("{syn_count: 3, min_open_ratio: 0.6}")
	all := module("{addresses: all, address_limit: 3, syn_count: 2}")
	return map[string]*probeRecord{
		"syn-count-3.prom": {Config: loss, Timeout: 5 * time.Second, Duration: 1012 * ms, Summary: summary(prober.Summary{
			Plan: loss.Plan(), DNS: 0,
			Results: []prober.Result{
				withPeer(open(a4, 2*ms, 0)),
				{Class: prober.ClassTimeout, Errno: syscall.ETIMEDOUT, Addr: a4},
				open(a4, 1003*ms, 1),
			},
		})},
		"syn-count-3-refused.prom": {Config: loss, Timeout: 5 * time.Second, Duration: 3 * ms, Summary: summary(prober.Summary{
			Plan: loss.Plan(),
			Results: []prober.Result{
				{Class: prober.ClassRefused, Errno: syscall.ECONNREFUSED, Addr: a4},
				{Class: prober.ClassRefused, Errno: syscall.ECONNREFUSED, Addr: a4},
				{Class: prober.ClassRefused, Errno: syscall.ECONNREFUSED, Addr: a4},
			},
		})},
		"addresses-all.prom": {Config: all, Timeout: 5 * time.Second, Duration: 4 * ms, Summary: summary(prober.Summary{
			Plan: all.Plan(), DNS: 250 * time.Microsecond, Resolved: 5, Cut: 1,
			Denied: []netip.AddrPort{netip.MustParseAddrPort("198.18.0.1:22")},
			Results: []prober.Result{
				open(a4, ms, 0), open(b4, 2*ms, 0), {Class: prober.ClassRefused, Errno: syscall.ECONNREFUSED, Addr: a6},
				open(a4, 3*ms, 0), open(b4, 4*ms, 0), {Class: prober.ClassRefused, Errno: syscall.ECONNREFUSED, Addr: a6},
			},
		})},
		"addresses-all-resolve.prom": {Config: all, Timeout: 5 * time.Second, Duration: 4 * ms, Summary: summary(prober.Summary{
			Plan: all.Plan(), DNS: 4 * ms,
			Failure: prober.Result{Class: prober.ClassResolve, Errno: 0},
		})},
	}
}

// TestSummaryExposition compares the answers of probes of several checks
// byte for byte with the golden files under testdata/ (go test -update
// rewrites them), checks that they are in canonical form, and lints them
// with promtool.
func TestSummaryExposition(t *testing.T) {
	for name, rec := range summaryRecords(t) {
		t.Run(name, func(t *testing.T) {
			got := rec.appendMetrics(nil)
			compareGolden(t, filepath.Join("testdata", name), got)
			assertCanonical(t, got)
		})
	}
}

// assertCanonical checks that text is what client_golang's encoder writes
// for the same families, sorted by name as a registry sorts them.
func assertCanonical(t *testing.T, text []byte) {
	t.Helper()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := parser.TextToMetricFamilies(bytes.NewReader(text))
	if err != nil {
		t.Fatalf("parse: %v\n%s", err, text)
	}
	var want bytes.Buffer
	for _, name := range slices.Sorted(maps.Keys(mfs)) {
		if _, err := expfmt.MetricFamilyToText(&want, mfs[name]); err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(text, want.Bytes()) {
		t.Errorf("answer is not in canonical form:\n%s\nwant:\n%s", text, want.Bytes())
	}
}

// TestSummaryExpositionKeepsOlderNames: an answer of several checks has
// every family an answer of one check has, with the same types, so
// dashboards built for one work for several.
func TestSummaryExpositionKeepsOlderNames(t *testing.T) {
	single := (&probeRecord{Timeout: time.Second, Result: openResult}).appendMetrics(nil)
	several := summaryRecords(t)["syn-count-3.prom"].appendMetrics(nil)
	for _, line := range strings.Split(string(single), "\n") {
		if name, ok := strings.CutPrefix(line, "# TYPE "); ok && !strings.Contains(string(several), "# TYPE "+name+"\n") {
			t.Errorf("several checks lack %q", name)
		}
	}
}

// TestExpectOneCheck: with one check, expect changes probe_success, the
// history's side and the landing page's mark, and nothing else.
func TestExpectOneCheck(t *testing.T) {
	c, err := config.Load([]byte("modules:\n  refused: {expect: refused}\n  open: {}\n"))
	if err != nil {
		t.Fatal(err)
	}
	refused := prober.Result{Class: prober.ClassRefused, Errno: syscall.ECONNREFUSED, Addr: netip.MustParseAddrPort("127.0.0.1:9")}
	for _, tc := range []struct {
		module  string
		success bool
	}{{"refused", true}, {"open", false}} {
		m, _ := c.Module(tc.module)
		rec := &probeRecord{ID: 1, Config: m, Timeout: time.Second, Result: refused}
		if rec.Succeeded() != tc.success {
			t.Errorf("module %s: Succeeded() = %v", tc.module, !tc.success)
		}
		text := string(rec.appendMetrics(nil))
		if want := "probe_success " + map[bool]string{true: "1", false: "0"}[tc.success] + "\n"; !strings.Contains(text, want) {
			t.Errorf("module %s: no %q in\n%s", tc.module, want, text)
		}
		if !strings.Contains(text, `probe_tcp_error_class{class="refused"} 1`) {
			t.Errorf("module %s: the class no longer says refused:\n%s", tc.module, text)
		}
		h := newHistory(10)
		h.add(rec)
		if got := len(h.successes.items()) == 1; got != tc.success {
			t.Errorf("module %s: kept among successes: %v", tc.module, got)
		}
	}
}
