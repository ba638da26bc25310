package collector

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/seed-5ff58b3a/synack_exporter/config"
	"github.com/seed-5ff58b3a/synack_exporter/prober"
)

// landingConfig has a module of each kind: one check, several SYNs,
// every address, a port that must not answer.
const landingConfig = `
modules:
  tcp_synack:
    preferred_ip_protocol: ip4
  tcp_loss:
    syn_count: 10
    min_open_ratio: 0.7
  tcp_all_addresses:
    addresses: all
    min_open_ratio: 1
  tcp_must_be_filtered:
    timeout: 2s
    expect: timeout
`

// landingNow is the fixed clock of the landing page tests.
var landingNow = time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)

// landingFixture is an exporter whose landing page has seen a probe of
// every kind: a target that went down, one that stayed up, several SYNs
// with loss, every address with one refusing, a port that must not
// answer, a name that does not resolve. The page's clock is landingNow.
func landingFixture(t *testing.T) (*testServer, *landing) {
	t.Helper()
	s := newTestServer(t, Options{Checker: checkerFunc(nil)})
	writeFile(t, s.ConfigPath, landingConfig)
	if err := s.Reload(); err != nil {
		t.Fatal(err)
	}
	page := newLanding(s.Exporter)
	page.now = func() time.Time { return landingNow }
	cfg := s.opts.Config.Current()
	var id uint64
	add := func(minute int, module, target string, r prober.Result, checks []prober.Result) {
		t.Helper()
		m, ok := cfg.Module(module)
		if !ok {
			t.Fatalf("no module %s", module)
		}
		id++
		rec := &probeRecord{
			ID: id, Start: landingNow.Add(time.Duration(minute-60) * time.Minute), Module: module, Config: m,
			Target: target, Timeout: time.Duration(m.Timeout) - 500*time.Millisecond,
			Duration: 1500 * time.Microsecond, Result: r,
		}
		if checks != nil {
			sum := prober.Summary{Plan: m.Plan(), Results: checks, Resolved: 2}
			sum.Summarize()
			setChecks(rec, &sum)
		}
		page.observe(rec)
		s.history.add(rec)
	}
	open := func(addr string, synack time.Duration) prober.Result {
		return prober.Result{Class: prober.ClassOpen, Mode: prober.ModeHalfOpen, Addr: netip.MustParseAddrPort(addr), SYNACK: synack}
	}
	refused := prober.Result{
		Class: prober.ClassRefused, Mode: prober.ModeHalfOpen, Addr: netip.MustParseAddrPort("127.0.0.1:443"),
		Errno: syscall.ECONNREFUSED, Err: syscall.ECONNREFUSED,
	}
	timeout := prober.Result{
		Class: prober.ClassTimeout, Mode: prober.ModeHalfOpen, Addr: netip.MustParseAddrPort("127.0.0.1:23"),
		Errno: syscall.ETIMEDOUT, Err: errors.New("no answer within 1.5s"),
	}

	for minute := 30; minute < 60; minute += 10 {
		add(minute, "tcp_synack", "api.example.internal:443", open("127.0.0.1:443", 210*time.Microsecond), nil)
	}
	add(50, "tcp_synack", "web-1.example.internal:443", open("127.0.0.1:443", 180*time.Microsecond), nil)
	add(51, "tcp_synack", "web-1.example.internal:443", open("127.0.0.1:443", 190*time.Microsecond), nil)
	add(52, "tcp_synack", "web-1.example.internal:443", refused, nil)
	add(53, "tcp_synack", "web-1.example.internal:443", refused, nil)
	add(54, "tcp_synack", "nxdomain.example.internal:80", prober.Result{
		Class: prober.ClassResolve, Err: errors.New("lookup nxdomain.example.internal: no such host"),
	}, nil)

	var lossy []prober.Result
	for i := range 10 {
		r := open("127.0.0.1:443", time.Duration(200+10*i)*time.Microsecond)
		if i%3 == 1 {
			r = timeout
			r.Addr = netip.MustParseAddrPort("127.0.0.1:443")
		}
		lossy = append(lossy, r)
	}
	add(55, "tcp_loss", "api.example.internal:443", lossy[0], lossy)

	both := []prober.Result{open("127.0.0.1:443", 150*time.Microsecond), refused}
	both[1].Addr = netip.MustParseAddrPort("[::1]:443")
	add(56, "tcp_all_addresses", "www.example.internal:443", both[0], both)

	add(57, "tcp_must_be_filtered", "backup.example.internal:23", timeout, nil)
	return s, page
}

// setChecks gives rec the summary of its several checks.
func setChecks(rec *probeRecord, s *prober.Summary) {
	kept := s.WithoutResults()
	rec.Summary = &kept
}

// renderLanding renders the page at path (with its query) with the
// config file's temporary path replaced by a fixed name.
func renderLanding(t *testing.T, s *testServer, page *landing, path string) string {
	t.Helper()
	w := httptest.NewRecorder()
	page.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
	if w.Code != http.StatusOK {
		t.Fatalf("GET %s: status %d", path, w.Code)
	}
	return strings.ReplaceAll(w.Body.String(), s.ConfigPath, "config.yml")
}

// TestLandingGolden compares the landing page, all probes and failures
// only, with testdata/landing*.golden.html byte for byte (go test -run
// LandingGolden -update rewrites them).
func TestLandingGolden(t *testing.T) {
	s, page := landingFixture(t)
	for _, tt := range []struct{ path, file string }{
		{"/", "landing.golden.html"},
		{"/?failures=1", "landing-failures.golden.html"},
	} {
		t.Run(tt.file, func(t *testing.T) {
			compareGoldenText(t, filepath.Join("testdata", tt.file), renderLanding(t, s, page, tt.path))
		})
	}
}

func compareGoldenText(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal([]byte(got), want) {
		t.Errorf("%s differs from the output (go test -run %s -update rewrites it); got:\n%s", path, t.Name(), got)
	}
}

// TestLandingShowsEveryKind checks what the golden files hold, in words:
// the targets' states, the breakdown of several checks, the filter and
// the module drop-down.
func TestLandingShowsEveryKind(t *testing.T) {
	s, page := landingFixture(t)
	all := renderLanding(t, s, page, "/")
	failures := renderLanding(t, s, page, "/?failures=1")
	for _, want := range []string{
		// web-1 went down at minute 52 and has been for 8 minutes; 2 of
		// its 4 probes succeeded.
		`<td class="time">2026-12-04 11:52:00 <span class="note">(8m0s)</span></td>`,
		"<td class=\"num\">2/4 (50%)</td>",
		"<td class=\"num\">3/3 (100%)</td>",
		"ECONNREFUSED (111)",
		"ETIMEDOUT (110)",
		"7 open, 3 timeout",
		"7/10 open, loss 30%",
		"<li>127.0.0.1:443: 1/1 open</li>",
		`<li>[::1]:443: 0/1 open <span class="state-failed">failing</span></li>`,
		`<span class="note">(expect timeout)</span>`,
		"<option selected>tcp_synack</option>",
		"<option>tcp_must_be_filtered</option>",
		`<a href="?failures=1">failures only</a>`,
		"<td class=\"num\">4.5s</td>",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("landing page lacks %q", want)
		}
	}
	// Failures only: web-1, the unresolved name and the address that
	// refused; not api (up) nor the filtered port (as expected).
	for _, target := range []string{"web-1.example.internal", "nxdomain.example.internal", "www.example.internal"} {
		if !strings.Contains(failures, target) {
			t.Errorf("failures only lacks %s", target)
		}
	}
	for _, target := range []string{"api.example.internal", "backup.example.internal"} {
		if strings.Contains(failures, target) {
			t.Errorf("failures only shows %s, which succeeded", target)
		}
	}
	if !strings.Contains(failures, "<strong>failures only</strong>") {
		t.Error("failures only does not say it is filtered")
	}
}

func TestTargetStates(t *testing.T) {
	at := func(s int) time.Time { return landingNow.Add(time.Duration(s) * time.Second) }
	rec := func(s int, target string, class prober.Class) *probeRecord {
		return &probeRecord{Start: at(s), Module: "m", Target: target, Config: config.NewModule(), Result: prober.Result{Class: class}}
	}
	ts := newTargetStates(2)
	ts.observe(rec(0, "a", prober.ClassOpen))
	ts.observe(rec(10, "a", prober.ClassOpen))
	ts.observe(rec(20, "a", prober.ClassTimeout))
	ts.observe(rec(15, "a", prober.ClassOpen)) // finished late: ignored
	ts.observe(rec(30, "a", prober.ClassTimeout))
	for i := range 30 {
		ts.observe(rec(100+i, "b", prober.ClassOpen))
	}
	got := ts.list()
	if len(got) != 2 {
		t.Fatalf("%d states, want 2", len(got))
	}
	a, b := got[0], got[1]
	if a.Target != "a" || a.Up() || !a.Since.Equal(at(20)) || a.Succeeded() != 2 || a.Probes() != 4 {
		t.Errorf("a: up %v since %v, %d/%d; want failing since %v, 2/4", a.Up(), a.Since, a.Succeeded(), a.Probes(), at(20))
	}
	// The ratio covers the last recentProbes only.
	if b.Target != "b" || !b.Up() || !b.Since.Equal(at(100)) || b.Succeeded() != recentProbes || b.Probes() != recentProbes {
		t.Errorf("b: up %v since %v, %d/%d; want ok since %v, %d/%[6]d", b.Up(), b.Since, b.Succeeded(), b.Probes(), at(100), recentProbes)
	}
	// Beyond the limit, the target probed least recently goes.
	ts.observe(rec(200, "c", prober.ClassOpen))
	var targets []string
	for _, s := range ts.list() {
		targets = append(targets, s.Target)
	}
	if strings.Join(targets, ",") != "b,c" {
		t.Errorf("kept %v, want b and c", targets)
	}
	none := newTargetStates(0)
	none.observe(rec(0, "a", prober.ClassOpen))
	if n := len(none.list()); n != 0 {
		t.Errorf("states with limit 0 kept %d", n)
	}
}

// TestLandingFollowsProbes checks that /probe feeds the targets table of
// the exporter's own landing page.
func TestLandingFollowsProbes(t *testing.T) {
	s := newTestServer(t, Options{Checker: checkerFunc(func(_ context.Context, target string) prober.Result {
		if strings.HasPrefix(target, "closed") {
			return prober.Result{Class: prober.ClassRefused, Errno: syscall.ECONNREFUSED, Err: syscall.ECONNREFUSED}
		}
		return openResult
	})})
	s.get(t, "/probe?target=open.test:22")
	s.get(t, "/probe?target=closed.test:22&module=tcp_short")
	_, _, body := s.get(t, "/?failures=1")
	targets := body[strings.Index(body, `<table id="targets">`):strings.Index(body, `<table id="probes">`)]
	if !strings.Contains(targets, "<td>tcp_short</td><td>closed.test:22</td>") || strings.Contains(targets, "open.test:22") {
		t.Errorf("failing targets table:\n%s", targets)
	}
}
