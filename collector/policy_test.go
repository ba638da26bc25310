package collector

import (
	"fmt"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/seed-5ff58b3a/synack_exporter/internal/dnstest"
)

// reconfigure replaces the test server's configuration.
func (s *testServer) reconfigure(t *testing.T, cfg string) {
	t.Helper()
	writeFile(t, s.ConfigPath, cfg)
	if err := s.Reload(); err != nil {
		t.Fatal(err)
	}
}

func TestTargetPolicy(t *testing.T) {
	s := newTestServer(t, Options{})
	open := openPort(t, "tcp4", "127.0.0.1:0")
	open6 := openPort(t, "tcp6", "[::1]:0")
	denied := closedPort(t)
	_, deniedPort, _ := strings.Cut(denied, ":")
	s.reconfigure(t, fmt.Sprintf(`
modules:
  tcp_loopback:
    preferred_ip_protocol: ip4
    allowed_targets: [127.0.0.0/8]
    denied_targets: ["%s", "*.blocked.test"]
`, denied))

	tests := []struct {
		name   string
		target string
		status int
		body   string // the whole body of a refusal
	}{
		{"allowed address", open, 200, ""},
		{"allowed by its address", strings.Replace(open, "127.0.0.1", "loopback.test", 1), 200, ""},
		{"outside the allowed CIDR", open6, 403,
			fmt.Sprintf(`target %q refused by module "tcp_loopback": %s matches no allowed_targets entry`, open6, open6)},
		{"denied port", denied, 403,
			fmt.Sprintf(`target %q refused by module "tcp_loopback": %s matches denied_targets entry %q`, denied, denied, denied)},
		{"name resolving to a denied address", "loopback.test:" + deniedPort, 403,
			fmt.Sprintf(`target "loopback.test:%s" refused by module "tcp_loopback": %s matches denied_targets entry %q`, deniedPort, denied, denied)},
		{"denied name", "db.blocked.test:22", 403,
			`target "db.blocked.test:22" refused by module "tcp_loopback": db.blocked.test:22 matches denied_targets entry "*.blocked.test"`},
		{"IPv4-mapped literal", "[::ffff:127.0.0.1]:" + deniedPort, 403,
			fmt.Sprintf(`target "[::ffff:127.0.0.1]:%s" refused by module "tcp_loopback": %s matches denied_targets entry %q`, deniedPort, denied, denied)},
	}
	refused := 0
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, debug := range []string{"", "&debug=true"} {
				status, ctype, body := s.get(t, "/probe?module=tcp_loopback&target="+url.QueryEscape(tt.target)+debug)
				if status != tt.status {
					t.Fatalf("status %d, want %d:\n%s", status, tt.status, body)
				}
				if status == 200 {
					if debug == "" && gaugeValue(t, parseMetrics(t, body), "probe_success") != 1 {
						t.Errorf("allowed probe failed:\n%s", body)
					}
					continue
				}
				refused++
				if ctype != "text/plain; charset=utf-8" || body != tt.body+"\n" {
					t.Errorf("got %q %q\nwant text/plain %q", ctype, body, tt.body)
				}
			}
		})
	}
	if got := testutil.ToFloat64(s.metrics.rejected.WithLabelValues(reasonTargetDenied)); got != float64(refused) {
		t.Errorf("probes_rejected_total{reason=target_denied} = %g, want %d", got, refused)
	}
	// Refusals are not probes: only the allowed ones were counted and kept.
	if got := testutil.ToFloat64(s.metrics.probes.WithLabelValues("tcp_loopback")); got != 4 {
		t.Errorf("probes_total{module=tcp_loopback} = %g, want 4", got)
	}
	if n := len(s.history.recent()); n != 4 {
		t.Errorf("history has %d probes, want 4", n)
	}
}

// TestTargetPolicyDNS: names are resolved through a DNS server the test
// runs, the lookup counts as the probe's DNS time, and a name that a
// denied pattern covers is refused without a query.
func TestTargetPolicyDNS(t *testing.T) {
	dns := dnstest.Start(t, map[string][]netip.Addr{
		"slow.test.":   {netip.MustParseAddr("127.0.0.1")},
		"rebind.test.": {netip.MustParseAddr("127.0.0.53")},
	})
	c := newChecker(t, dns.Resolver())
	s := newTestServer(t, Options{Checker: c})
	s.reconfigure(t, `
modules:
  tcp_guarded:
    preferred_ip_protocol: ip4
    ip_protocol_fallback: false
    denied_targets: [127.0.0.53, "*.blocked.test"]
`)
	open := openPort(t, "tcp4", "127.0.0.1:0")
	_, port, _ := strings.Cut(open, ":")

	const delay = 100 * time.Millisecond
	dns.SetDelay(delay)
	status, _, body := s.get(t, "/probe?module=tcp_guarded&target=slow.test.:"+port)
	if status != 200 {
		t.Fatalf("status %d:\n%s", status, body)
	}
	mfs := parseMetrics(t, body)
	if gaugeValue(t, mfs, "probe_success") != 1 {
		t.Fatalf("probe failed:\n%s", body)
	}
	checkRange(t, mfs, "probe_dns_lookup_time_seconds", delay.Seconds(), gaugeValue(t, mfs, "probe_duration_seconds"))
	dns.SetDelay(0)

	queries := dns.QueryCount()
	if status, _, body := s.get(t, "/probe?module=tcp_guarded&target=rebind.test.:"+port); status != 403 ||
		!strings.HasSuffix(body, `127.0.0.53:`+port+` matches denied_targets entry "127.0.0.53"`+"\n") {
		t.Errorf("name resolving to a denied address: %d %q", status, body)
	}
	if dns.QueryCount() == queries {
		t.Error("a name was refused before it was resolved")
	}
	queries = dns.QueryCount()
	if status, _, body := s.get(t, "/probe?module=tcp_guarded&target=x.blocked.test.:"+port); status != 403 {
		t.Errorf("denied name: %d %q", status, body)
	}
	if n := dns.QueryCount() - queries; n != 0 {
		t.Errorf("a denied name cost %d DNS queries", n)
	}
	// A failed lookup is still a probe, class resolve, with its DNS time.
	status, _, body = s.get(t, "/probe?module=tcp_guarded&target=missing.test.:"+port)
	if status != 200 {
		t.Fatalf("unknown name: %d %q", status, body)
	}
	mfs = parseMetrics(t, body)
	if err := compareMetrics(mfs, expectedProbe(0, 5, 0, "", 0, "resolve"), stableProbeMetrics...); err != nil {
		t.Error(err)
	}
	checkRange(t, mfs, "probe_dns_lookup_time_seconds", 1e-9, gaugeValue(t, mfs, "probe_duration_seconds"))
}
