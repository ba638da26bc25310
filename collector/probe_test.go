package collector

import (
	"fmt"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// The stable part of a /probe answer: everything but the durations,
// which are checked for range.
var stableProbeMetrics = []string{
	"probe_success", "probe_timeout_seconds", "probe_ip_protocol", "probe_ip_addr_hash",
	"probe_tcp_syn_retransmits", "probe_tcp_ack_sent", "probe_tcp_errno", "probe_tcp_error_class",
}

// stableButRetransmits is stableProbeMetrics for a check that waited
// long enough for the kernel to re-send its SYN.
var stableButRetransmits = slices.DeleteFunc(slices.Clone(stableProbeMetrics), func(name string) bool {
	return name == "probe_tcp_syn_retransmits"
})

const probeHelp = `# HELP probe_success 1 if the check met the module's expect (by default: a SYN-ACK came), else 0.
# TYPE probe_success gauge
probe_success %d
# HELP probe_timeout_seconds The time budget this probe had, in seconds.
# TYPE probe_timeout_seconds gauge
probe_timeout_seconds %g
# HELP probe_ip_protocol IP version of the address probed: 4 or 6, 0 if none.
# TYPE probe_ip_protocol gauge
probe_ip_protocol %d
%s# HELP probe_tcp_syn_retransmits Number of SYNs re-sent.
# TYPE probe_tcp_syn_retransmits gauge
probe_tcp_syn_retransmits 0
# HELP probe_tcp_ack_sent 1 if an ACK left before the RST; should always be 0.
# TYPE probe_tcp_ack_sent gauge
probe_tcp_ack_sent 0
# HELP probe_tcp_errno The check's errno, 0 when a SYN-ACK came.
# TYPE probe_tcp_errno gauge
probe_tcp_errno %d
`

// expectedProbe renders the stable metrics of one probe answer.
func expectedProbe(success int, timeout float64, ipProtocol int, ip string, errno syscall.Errno, class string) string {
	hash := ""
	if ip != "" {
		hash = fmt.Sprintf(`# HELP probe_ip_addr_hash FNV-32a hash of the IP address probed.
# TYPE probe_ip_addr_hash gauge
probe_ip_addr_hash %d
`, fnv1a32(netip.MustParseAddr(ip).Unmap().AsSlice()))
	}
	return fmt.Sprintf(probeHelp, success, timeout, ipProtocol, hash, int(errno)) + errorClasses(class)
}

func TestProbe(t *testing.T) {
	s := newTestServer(t, Options{TimeoutOffset: 500 * 1e6})
	open4 := openPort(t, "tcp4", "127.0.0.1:0")
	tests := []struct {
		name, query string
		header      []string
		want        string
		open        bool
	}{
		{"open IPv4", "target=" + open4, nil, expectedProbe(1, 5, 4, "127.0.0.1", 0, ""), true},
		{"open by name", "target=" + strings.Replace(open4, "127.0.0.1", "loopback.test", 1), nil,
			expectedProbe(1, 5, 4, "127.0.0.1", 0, ""), true},
		{"scrape timeout minus offset", "target=" + open4, []string{scrapeTimeoutHeader, "3"},
			expectedProbe(1, 2.5, 4, "127.0.0.1", 0, ""), true},
		{"module timeout caps the header", "target=" + open4 + "&module=tcp_short", []string{scrapeTimeoutHeader, "3"},
			expectedProbe(1, 1, 4, "127.0.0.1", 0, ""), true},
		{"refused", "target=" + closedPort(t), nil,
			expectedProbe(0, 5, 4, "127.0.0.1", syscall.ECONNREFUSED, "refused"), false},
		{"name does not resolve", "target=nowhere.test:22", nil,
			expectedProbe(0, 5, 0, "", 0, "resolve"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, ctype, body := s.get(t, "/probe?"+tt.query, tt.header...)
			if status != 200 || !strings.HasPrefix(ctype, "text/plain") {
				t.Fatalf("status %d, content type %q:\n%s", status, ctype, body)
			}
			mfs := parseMetrics(t, body)
			if err := compareMetrics(mfs, tt.want, stableProbeMetrics...); err != nil {
				t.Error(err)
			}
			timeout := gaugeValue(t, mfs, "probe_timeout_seconds")
			checkRange(t, mfs, "probe_duration_seconds", 0, timeout)
			duration := gaugeValue(t, mfs, "probe_duration_seconds")
			checkRange(t, mfs, "probe_dns_lookup_time_seconds", 0, duration)
			_, hasSYNACK := mfs["probe_tcp_synack_seconds"]
			_, hasRTT := mfs["probe_tcp_rtt_seconds"]
			if hasSYNACK != tt.open || hasRTT != tt.open {
				t.Fatalf("synack and rtt present: %v, %v; want %v", hasSYNACK, hasRTT, tt.open)
			}
			if tt.open {
				checkRange(t, mfs, "probe_tcp_synack_seconds", 1e-9, duration)
				checkRange(t, mfs, "probe_tcp_rtt_seconds", 0, duration)
			}
			// An open answer adds synack, rtt and the five families of
			// the fingerprint (a loopback SYN-ACK has every one).
			if len(mfs) != len(stableProbeMetrics)+2+7*boolInt(tt.open)-boolInt(!strings.Contains(tt.want, "probe_ip_addr_hash")) {
				t.Errorf("unexpected metric count %d:\n%s", len(mfs), body)
			}
		})
	}
}

func TestProbeIPv6(t *testing.T) {
	s := newTestServer(t, Options{})
	open6 := openPort(t, "tcp6", "[::1]:0")
	status, _, body := s.get(t, "/probe?target="+url.QueryEscape(open6))
	if status != 200 {
		t.Fatalf("status %d: %s", status, body)
	}
	if err := compareMetrics(parseMetrics(t, body), expectedProbe(1, 5, 6, "::1", 0, ""), stableProbeMetrics...); err != nil {
		t.Error(err)
	}
}

func TestProbeBadRequest(t *testing.T) {
	s := newTestServer(t, Options{})
	tests := []struct {
		name, query string
		header      []string
		want        string
	}{
		{"no target", "", nil, "target parameter is missing"},
		{"empty target", "target=", nil, "target parameter is missing"},
		{"no port", "target=127.0.0.1", nil, `target "127.0.0.1" is not host:port: missing port in address`},
		{"port 0", "target=127.0.0.1:0", nil, `target "127.0.0.1:0": port "0" is out of range 1-65535`},
		{"port 65536", "target=127.0.0.1:65536", nil, `target "127.0.0.1:65536": port "65536" is out of range 1-65535`},
		{"IPv6 without brackets", "target=::1:22", nil, `target "::1:22" is not host:port: too many colons in address`},
		{"markup in target", "target=" + url.QueryEscape("<script>alert(1)</script>:80"), nil,
			`target "<script>alert(1)</script>:80": host "<script>alert(1)</script>" contains a character not allowed in a host name ('<')`},
		{"unknown module", "target=127.0.0.1:22&module=nope", nil, `unknown module "nope"`},
		{"bad scrape timeout", "target=127.0.0.1:22", []string{scrapeTimeoutHeader, "soon"},
			`X-Prometheus-Scrape-Timeout-Seconds header "soon" is not a positive number of seconds`},
		{"zero scrape timeout", "target=127.0.0.1:22", []string{scrapeTimeoutHeader, "0"},
			`X-Prometheus-Scrape-Timeout-Seconds header "0" is not a positive number of seconds`},
		{"bad debug", "target=127.0.0.1:22&debug=please", nil, `debug parameter "please" is not true or false`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, ctype, body := s.get(t, "/probe?"+tt.query, tt.header...)
			if status != 400 || ctype != "text/plain; charset=utf-8" || body != tt.want+"\n" {
				t.Errorf("got %d %q %q, want 400 text/plain %q", status, ctype, body, tt.want)
			}
		})
	}
	if got := testutil.ToFloat64(s.metrics.moduleUnknown); got != 1 {
		t.Errorf("module_unknown_total = %g, want 1", got)
	}
	if n := len(s.history.recent()); n != 0 {
		t.Errorf("rejected requests entered the history: %d entries", n)
	}
	if got := testutil.ToFloat64(s.metrics.probes.WithLabelValues("tcp_synack")); got != 0 {
		t.Errorf("rejected requests counted as probes: %g", got)
	}
}

func TestProbeDebug(t *testing.T) {
	s := newTestServer(t, Options{})
	target := closedPort(t)
	status, ctype, body := s.get(t, "/probe?debug=true&target="+target)
	if status != 200 || ctype != "text/plain; charset=utf-8" {
		t.Fatalf("status %d, content type %q", status, ctype)
	}
	logs, rest, ok1 := strings.Cut(body, "Metrics that would have been returned:\n")
	metrics, module, ok2 := strings.Cut(rest, "\nModule configuration:\n")
	if !strings.HasPrefix(logs, "Logs for the probe:\n") || !ok1 || !ok2 {
		t.Fatalf("sections missing or out of order:\n%s", body)
	}
	for _, want := range []string{
		`level=debug module=tcp_synack target=` + target + ` msg="Beginning probe" timeout=5s`,
		`msg="Probe failed" class=refused errno=111 err="connect: connection refused" addr=` + target,
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %q:\n%s", want, logs)
		}
	}
	if err := compareMetrics(parseMetrics(t, metrics), expectedProbe(0, 5, 4, "127.0.0.1", syscall.ECONNREFUSED, "refused"), stableProbeMetrics...); err != nil {
		t.Error(err)
	}
	wantModule := "modules:\n  tcp_synack:\n    timeout: 5s\n    preferred_ip_protocol: ip4\n    ip_protocol_fallback: true\n"
	if module != wantModule {
		t.Errorf("module configuration:\n%s\nwant:\n%s", module, wantModule)
	}
	// The same text stays available from the history.
	if _, _, again := s.get(t, "/logs?id=1"); again != body {
		t.Errorf("/logs?id=1 differs from the debug answer:\n%s", again)
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
