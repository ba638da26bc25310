package collector

import (
	"context"
	"net/http/httptest"
	"net/netip"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/seed-5ff58b3a/synack_exporter/prober"
)

// browsers are the names headless Chromium goes by.
var browsers = []string{"chromium", "chromium-browser", "google-chrome"}

// requireBrowser returns the path of a headless Chromium. Without one the
// test skips, except under CI=true, where it fails: CI installs chromium
// so that a broken landing page fails the build.
func requireBrowser(t *testing.T) string {
	t.Helper()
	for _, name := range browsers {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	msg := "no headless browser (" + strings.Join(browsers, ", ") + ") on PATH: install chromium, or set CI=true to make this a failure"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// runBrowser runs headless Chromium on url with the given action
// (--dump-dom, --screenshot=PATH) and returns its standard output.
func runBrowser(t *testing.T, browser, url string, action ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	args := append([]string{
		"--headless", "--disable-gpu", "--hide-scrollbars", "--window-size=1920,1200",
		// Root (CI) has no sandbox; a profile of its own keeps runs apart.
		"--no-sandbox", "--user-data-dir=" + t.TempDir(),
		"--no-first-run", "--disable-extensions", "--disable-background-networking",
	}, action...)
	cmd := exec.CommandContext(ctx, browser, append(args, url)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v\n%s", browser, err, stderr.String())
	}
	return string(out)
}

// pageChecker answers each kind of target the way its name says, and
// checks several addresses for addresses: all.
type pageChecker struct{}

func (pageChecker) Check(_ context.Context, target string, _ prober.Options) prober.Result {
	if strings.HasPrefix(target, "closed") {
		return prober.Result{
			Class: prober.ClassRefused, Mode: prober.ModeHalfOpen, Addr: netip.MustParseAddrPort("127.0.0.1:22"),
			Errno: syscall.ECONNREFUSED, Err: syscall.ECONNREFUSED,
		}
	}
	return prober.Result{Class: prober.ClassOpen, Mode: prober.ModeHalfOpen, Addr: netip.MustParseAddrPort("127.0.0.1:22"), SYNACK: 120 * time.Microsecond}
}

func (c pageChecker) CheckMany(ctx context.Context, target string, opts prober.Options, plan prober.Plan) prober.Summary {
	s := prober.Summary{Plan: plan, Resolved: 1}
	addrs := []string{"127.0.0.1:22"}
	if plan.AllAddresses {
		addrs = append(addrs, "[::1]:22")
		s.Resolved = 2
	}
	for i := range max(plan.SYNCount, 1) {
		for _, a := range addrs {
			r := c.Check(ctx, target, opts)
			if a == "[::1]:22" || i%4 == 3 {
				r = prober.Result{Class: prober.ClassTimeout, Mode: prober.ModeHalfOpen, Errno: syscall.ETIMEDOUT, Err: syscall.ETIMEDOUT}
			}
			r.Addr = netip.MustParseAddrPort(a)
			s.Results = append(s.Results, r)
		}
	}
	s.Summarize()
	return s
}

// TestLandingInBrowser renders the landing page of a running exporter,
// served under a route prefix, in headless Chromium after probes of each
// module kind, and fails when the page the browser built lacks a table
// row, was cut short by a template error, or holds a value html/template
// refused. SYNACK_SCREENSHOT=PATH also saves a screenshot to look at.
func TestLandingInBrowser(t *testing.T) {
	browser := requireBrowser(t)
	s := newTestServer(t, Options{Checker: pageChecker{}})
	writeFile(t, s.ConfigPath, landingConfig)
	if err := s.Reload(); err != nil {
		t.Fatal(err)
	}
	for _, probe := range []string{
		"target=open.test:22",
		"target=closed.test:22",
		"target=closed.test:22",
		"target=open.test:22&module=tcp_loss",
		"target=dual.test:22&module=tcp_all_addresses",
		"target=closed.test:23&module=tcp_must_be_filtered",
	} {
		if status, _, body := s.get(t, "/probe?"+probe); status != 200 {
			t.Fatalf("/probe?%s: %d %s", probe, status, body)
		}
	}
	srv := httptest.NewServer(UnderPrefix(s.Exporter, "/synack"))
	t.Cleanup(srv.Close)
	url := srv.URL + "/synack/"

	dom := runBrowser(t, browser, url, "--dump-dom")
	if !strings.Contains(dom, `id="rendered"`) {
		t.Fatalf("the page ends before its footer (a template error?):\n%s", dom)
	}
	for _, bad := range []string{"ZgotmplZ", "template:", "<no value>"} {
		if strings.Contains(dom, bad) {
			t.Errorf("the page holds %q:\n%s", bad, dom)
		}
	}
	targets := tableRows(t, dom, "targets")
	wantTargets := []string{
		"tcp_all_addresses dual.test:22 failing",
		"tcp_synack closed.test:22 failing",
		"tcp_loss open.test:22 ok",
		"tcp_must_be_filtered closed.test:23 failing",
		"tcp_synack open.test:22 ok",
	}
	if len(targets) != len(wantTargets) {
		t.Errorf("targets table has %d rows, want %d:\n%s", len(targets), len(wantTargets), strings.Join(targets, "\n"))
	}
	for _, want := range wantTargets {
		if !containsRow(targets, want) {
			t.Errorf("targets table lacks a row starting %q:\n%s", want, strings.Join(targets, "\n"))
		}
	}
	for _, want := range []string{"8/10 open, loss 20%", "127.0.0.1:22: 1/1 open", "[::1]:22: 0/1 open failing", "ECONNREFUSED (111)", "0/2 (0%)"} {
		if !strings.Contains(strings.Join(targets, "\n"), want) {
			t.Errorf("targets table lacks %q:\n%s", want, strings.Join(targets, "\n"))
		}
	}
	if probes := tableRows(t, dom, "probes"); len(probes) != 6 {
		t.Errorf("recent probes table has %d rows, want 6:\n%s", len(probes), strings.Join(probes, "\n"))
	}
	if options := regexp.MustCompile(`<option[ >]`).FindAllString(dom, -1); len(options) != 4 {
		t.Errorf("module drop-down has %d options, want the 4 modules", len(options))
	}
	if path := os.Getenv("SYNACK_SCREENSHOT"); path != "" {
		runBrowser(t, browser, url, "--screenshot="+path)
	}
}

var (
	rowPattern  = regexp.MustCompile(`(?s)<tr[^>]*>(.*?)</tr>`)
	tagPattern  = regexp.MustCompile(`<[^>]+>`)
	fillPattern = regexp.MustCompile(`\s+`)
)

// tableRows returns the text of the body rows of the table with the id,
// cells joined by spaces.
func tableRows(t *testing.T, dom, id string) []string {
	t.Helper()
	start := strings.Index(dom, `<table id="`+id+`">`)
	if start < 0 {
		t.Fatalf("no table %s in the page", id)
	}
	table := dom[start:]
	table = table[:strings.Index(table, "</table>")]
	var rows []string
	for _, m := range rowPattern.FindAllStringSubmatch(table, -1) {
		if strings.Contains(m[1], "<th>") {
			continue
		}
		text := tagPattern.ReplaceAllString(strings.ReplaceAll(m[1], "</td>", " "), "")
		rows = append(rows, strings.TrimSpace(fillPattern.ReplaceAllString(text, " ")))
	}
	return rows
}

func containsRow(rows []string, prefix string) bool {
	for _, r := range rows {
		if strings.HasPrefix(r, prefix) {
			return true
		}
	}
	return false
}
