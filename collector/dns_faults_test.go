package collector

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/seed-5ff58b3a/synack_exporter/internal/dnstest"
)

// TestResolutionFaults probes names through a DNS server on loopback that
// the test runs: a name with many addresses, with none, with only the
// family the module does not prefer, and a server that fails or is slow.
// Each ends in a normal answer (200) whose class and log say what
// happened.
func TestResolutionFaults(t *testing.T) {
	// Forty IPv4 addresses on one port: more than a 512-byte UDP answer
	// holds, so the resolver has to retry over TCP.
	first, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { first.Close() })
	port := netip.MustParseAddrPort(first.Addr().String()).Port()
	many := []netip.Addr{netip.MustParseAddr("127.0.0.1")}
	for i := 2; i <= 40; i++ {
		a := netip.AddrFrom4([4]byte{127, 0, 0, byte(i)})
		l, err := net.Listen("tcp4", netip.AddrPortFrom(a, port).String())
		if err != nil {
			t.Skipf("cannot listen on %s port %d: %v", a, port, err)
		}
		t.Cleanup(func() { l.Close() })
		many = append(many, a)
	}
	openPort(t, "tcp6", fmt.Sprintf("[::1]:%d", port))

	v4, v6 := netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("::1")
	dns := dnstest.Start(t, map[string][]netip.Addr{
		"many.test.":   many,
		"none.test.":   nil,
		"v4only.test.": {v4},
		"v6only.test.": {v6},
		"slow.test.":   {v4},
	})
	dns.SetRCode("servfail.test.", dnsmessage.RCodeServerFailure)
	c := newChecker(t, dns.Resolver())
	s := newTestServer(t, Options{Checker: c})
	s.reconfigure(t, `
modules:
  tcp_synack: {}
  tcp_ip4: {preferred_ip_protocol: ip4, ip_protocol_fallback: false}
  tcp_ip6: {preferred_ip_protocol: ip6, ip_protocol_fallback: false}
  tcp_ip4_fallback: {preferred_ip_protocol: ip4, ip_protocol_fallback: true}
  tcp_short: {timeout: 300ms}
`)

	tests := []struct {
		name, module, host string
		class              string // "" for success
		errno              syscall.Errno
		protocol           int
		log                string // in the debug log
	}{
		{"many addresses", "tcp_ip4", "many.test.", "", 0, 4, `msg="Probe succeeded"`},
		{"name with no address", "tcp_synack", "none.test.", "resolve", 0, 0, `resolving \"none.test.\": lookup none.test.`},
		{"unknown name", "tcp_synack", "missing.test.", "resolve", 0, 0, `no such host`},
		{"server failure", "tcp_synack", "servfail.test.", "resolve", 0, 0, `server misbehaving`},
		{"only IPv6, IPv4 without fallback", "tcp_ip4", "v6only.test.", "resolve", 0, 0,
			`resolving \"v6only.test.\": no ip4 address`},
		{"only IPv4, IPv6 without fallback", "tcp_ip6", "v4only.test.", "resolve", 0, 0,
			`resolving \"v4only.test.\": no ip6 address`},
		{"only IPv6, IPv4 with fallback", "tcp_ip4_fallback", "v6only.test.", "", 0, 6, `msg="Probe succeeded"`},
		{"only IPv4, IPv6 preferred with fallback", "tcp_synack", "v4only.test.", "", 0, 4, `msg="Probe succeeded"`},
		{"server slower than the budget", "tcp_short", "slow.test.", "resolve", syscall.ETIMEDOUT, 0, `connection timed out`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.name == "server slower than the budget" {
				dns.SetDelay(time.Second)
				defer dns.SetDelay(0)
			}
			query := fmt.Sprintf("/probe?module=%s&target=%s:%d", tt.module, tt.host, port)
			status, _, body := s.get(t, query)
			if status != 200 {
				t.Fatalf("status %d: %q", status, body)
			}
			mfs := parseMetrics(t, body)
			if got := gaugeValue(t, mfs, "probe_ip_protocol"); got != float64(tt.protocol) {
				t.Errorf("probe_ip_protocol %g, want %d", got, tt.protocol)
			}
			if got := gaugeValue(t, mfs, "probe_tcp_errno"); got != float64(tt.errno) {
				t.Errorf("probe_tcp_errno %g, want %d", got, tt.errno)
			}
			if err := compareMetrics(mfs, errorClasses(tt.class), "probe_tcp_error_class"); err != nil {
				t.Error(err)
			}
			duration := gaugeValue(t, mfs, "probe_duration_seconds")
			checkRange(t, mfs, "probe_dns_lookup_time_seconds", 1e-9, duration)
			checkRange(t, mfs, "probe_duration_seconds", 0, gaugeValue(t, mfs, "probe_timeout_seconds")+0.1)
			_, _, debug := s.get(t, query+"&debug=true")
			if !strings.Contains(debug, tt.log) {
				t.Errorf("debug output lacks %q:\n%s", tt.log, debug)
			}
		})
	}
	var tcp bool
	for _, q := range dns.Queries() {
		tcp = tcp || (q.Name == "many.test." && q.Network == "tcp")
	}
	if !tcp {
		t.Error("the answer with forty addresses did not make the resolver retry over TCP")
	}
}
