package collector

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/seed-5ff58b3a/synack_exporter/internal/dnstest"
	"github.com/seed-5ff58b3a/synack_exporter/internal/fakepeer"
	"github.com/seed-5ff58b3a/synack_exporter/internal/netns"
	"github.com/seed-5ff58b3a/synack_exporter/internal/testenv"
)

// labelled returns the value of name's series whose label has value.
func labelled(t *testing.T, mfs map[string]*dto.MetricFamily, name, label, value string) float64 {
	t.Helper()
	for _, m := range mfs[name].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == label && l.GetValue() == value {
				return m.GetGauge().GetValue()
			}
		}
	}
	t.Fatalf("no %s{%s=%q}", name, label, value)
	return 0
}

// wantGauges fails for each gauge whose value is not the one given.
func wantGauges(t *testing.T, mfs map[string]*dto.MetricFamily, want map[string]float64) {
	t.Helper()
	for name, v := range want {
		if got := gaugeValue(t, mfs, name); got != v {
			t.Errorf("%s = %g, want %g", name, got, v)
		}
	}
}

// assertNothingAccepted fails if ln has a connection to accept: every
// check must have stayed half-open.
func assertNothingAccepted(t *testing.T, ln *net.TCPListener) {
	t.Helper()
	ln.SetDeadline(time.Now().Add(100 * time.Millisecond))
	if conn, err := ln.Accept(); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("accept returned %v, %v: a check completed a connection", conn, err)
	}
}

func listenTCP(t *testing.T, addr string) *net.TCPListener {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln.(*net.TCPListener)
}

func TestProbeSeveralChecksLoopback(t *testing.T) {
	s := newTestServer(t, Options{})
	s.reconfigure(t, `
modules:
  tcp_three: {syn_count: 3, syn_interval: 0s, preferred_ip_protocol: ip4}
`)
	ln := listenTCP(t, "127.0.0.1:0")
	for _, tc := range []struct {
		target string
		want   map[string]float64
		class  string
	}{
		{ln.Addr().String(), map[string]float64{"probe_success": 1, "probe_tcp_syns_sent": 3, "probe_tcp_loss_ratio": 0, "probe_tcp_errno": 0}, "open"},
		{closedPort(t), map[string]float64{"probe_success": 0, "probe_tcp_syns_sent": 3, "probe_tcp_loss_ratio": 0, "probe_tcp_errno": 111}, "refused"},
	} {
		status, _, body := s.get(t, "/probe?module=tcp_three&target="+tc.target)
		if status != 200 {
			t.Fatalf("%s: status %d\n%s", tc.target, status, body)
		}
		mfs := parseMetrics(t, body)
		wantGauges(t, mfs, tc.want)
		if got := labelled(t, mfs, "probe_tcp_syn_results", "class", tc.class); got != 3 {
			t.Errorf("%s: syn_results{class=%q} = %g, want 3", tc.target, tc.class, got)
		}
	}
	assertNothingAccepted(t, ln)
}

// TestProbeLossThroughPeer: a peer that ignores exactly 3 of every 10
// first SYNs. With a timeout below the kernel's 1 s retransmission those
// 3 are lost; above it, their retransmissions are answered, and they
// still count as loss.
func TestProbeLossThroughPeer(t *testing.T) {
	ns := netns.New(t)
	peer := fakepeer.Start(t, ns, fakepeer.Config{OpenPorts: []uint16{80}, Answer: fakepeer.DropFirstSYNs(3, 10, 0)})
	s := newTestServer(t, Options{})
	s.reconfigure(t, `
modules:
  tcp_loss: {timeout: 800ms, syn_count: 10, syn_interval: 5ms, min_open_ratio: 0.7}
  tcp_loss_strict: {timeout: 800ms, syn_count: 10, syn_interval: 5ms, min_open_ratio: 0.8}
  tcp_loss_recovered: {timeout: 3s, syn_count: 10, syn_interval: 5ms}
`)
	target := netip.AddrPortFrom(peer.Addr(), 80).String()
	probe := func(module string) map[string]*dto.MetricFamily {
		w := serveIn(t, ns, s.Exporter, "/probe?module="+module+"&target="+target)
		if w.Code != 200 {
			t.Fatalf("%s: %d\n%s", module, w.Code, w.Body)
		}
		return parseMetrics(t, w.Body.String())
	}
	// Each probe sends 10 first SYNs, so each sees exactly 3 dropped.
	for range 3 {
		mfs := probe("tcp_loss")
		wantGauges(t, mfs, map[string]float64{"probe_success": 1, "probe_tcp_loss_ratio": 0.3, "probe_tcp_syns_sent": 10, "probe_tcp_errno": 110})
		if got := labelled(t, mfs, "probe_tcp_syn_results", "class", "timeout"); got != 3 {
			t.Errorf("timeouts %g, want 3\n%s", got, peer.Transcript())
		}
	}
	wantGauges(t, probe("tcp_loss_strict"), map[string]float64{"probe_success": 0, "probe_tcp_loss_ratio": 0.3})

	mfs := probe("tcp_loss_recovered")
	wantGauges(t, mfs, map[string]float64{"probe_success": 1, "probe_tcp_loss_ratio": 0.3, "probe_tcp_syn_retransmits": 3, "probe_tcp_errno": 0})
	if got := labelled(t, mfs, "probe_tcp_syn_results", "class", "open"); got != 10 {
		t.Errorf("open %g, want 10", got)
	}
	// The kernel re-sends a SYN after its initial RTO of 1 s.
	checkRange(t, mfs, "probe_tcp_synack_max_seconds", 0.9, 3)
	checkRange(t, mfs, "probe_tcp_synack_min_seconds", 0, 0.5)

	// The half-open proof for every SYN: the prober never sent anything
	// but SYNs and RSTs.
	quiet, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if p, err := peer.WaitFor(quiet, func(p fakepeer.Packet) bool { return p.Proto == 6 && !p.IsSYN() && !p.IsRST() }); err == nil {
		t.Errorf("prober sent %v\n%s", p, peer.Transcript())
	}
}

// TestProbeMixedAnswers: an nft rule resets 4 of every 10 SYNs to a
// listener, the others get its SYN-ACK; min_open_ratio decides
// probe_success both ways.
func TestProbeMixedAnswers(t *testing.T) {
	testenv.RequireNft(t)
	ns := netns.New(t)
	if err := ns.Run("ip", "addr", "add", "198.18.9.1/32", "dev", "lo"); err != nil {
		t.Fatal(err)
	}
	if err := ns.Nft(`
table inet synack {
	chain input {
		type filter hook input priority 0; policy accept;
		ip daddr 198.18.9.1 tcp dport 80 tcp flags & (syn|ack) == syn numgen inc mod 10 < 4 reject with tcp reset
	}
}
`); err != nil {
		t.Fatal(err)
	}
	var ln *net.TCPListener
	if err := ns.Do(func() error {
		l, err := net.Listen("tcp4", "198.18.9.1:80")
		ln, _ = l.(*net.TCPListener)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	s := newTestServer(t, Options{})
	s.reconfigure(t, `
modules:
  tcp_six: {syn_count: 10, syn_interval: 0s, min_open_ratio: 0.6}
  tcp_seven: {syn_count: 10, syn_interval: 0s, min_open_ratio: 0.7}
`)
	for module, success := range map[string]float64{"tcp_six": 1, "tcp_seven": 0} {
		w := serveIn(t, ns, s.Exporter, "/probe?module="+module+"&target=198.18.9.1:80")
		mfs := parseMetrics(t, w.Body.String())
		wantGauges(t, mfs, map[string]float64{"probe_success": success, "probe_tcp_syns_sent": 10, "probe_tcp_loss_ratio": 0, "probe_tcp_errno": 111})
		for class, n := range map[string]float64{"open": 6, "refused": 4} {
			if got := labelled(t, mfs, "probe_tcp_syn_results", "class", class); got != n {
				t.Errorf("%s: syn_results{class=%q} = %g, want %g", module, class, got, n)
			}
		}
	}
	assertNothingAccepted(t, ln)
}

// TestProbeAllAddresses: a name with 127.0.0.1, 127.0.0.2 and ::1 from
// the test's DNS server, a listener on the first two.
func TestProbeAllAddresses(t *testing.T) {
	requireLinux(t)
	ln1 := listenTCP(t, "127.0.0.1:0")
	port := ln1.Addr().(*net.TCPAddr).Port
	ln2 := listenTCP(t, fmt.Sprintf("127.0.0.2:%d", port))
	dns := dnstest.Start(t, map[string][]netip.Addr{
		"multi.test.": {netip.MustParseAddr("127.0.0.2"), netip.MustParseAddr("::1"), netip.MustParseAddr("127.0.0.1")},
	})
	s := newTestServer(t, Options{Checker: newChecker(t, dns.Resolver())})
	s.reconfigure(t, `
modules:
  all_any: {addresses: all}
  all_every: {addresses: all, min_open_ratio: 1}
  all_limit: {addresses: all, address_limit: 2, min_open_ratio: 1}
  all_v4: {addresses: all, preferred_ip_protocol: ip4, ip_protocol_fallback: false}
  all_v6: {addresses: all, preferred_ip_protocol: ip6, ip_protocol_fallback: false}
  all_twice: {addresses: all, syn_count: 2, syn_interval: 0s}
  all_but_one: {addresses: all, denied_targets: ["127.0.0.2"]}
  all_denied: {addresses: all, denied_targets: ["127.0.0.0/8", "::1"]}
`)
	target := fmt.Sprintf("multi.test.:%d", port)
	a1, a2, a6 := "127.0.0.1", "127.0.0.2", "::1"
	tests := []struct {
		module    string
		gauges    map[string]float64
		addresses map[string]float64 // probe_tcp_address_success by address
	}{
		{"all_any", map[string]float64{"probe_success": 1, "probe_tcp_addresses": 3, "probe_tcp_addresses_checked": 3, "probe_tcp_addresses_open": 2, "probe_tcp_syns_sent": 3},
			map[string]float64{a1: 1, a2: 1, a6: 0}},
		{"all_every", map[string]float64{"probe_success": 0, "probe_tcp_addresses_checked": 3, "probe_tcp_addresses_open": 2},
			map[string]float64{a1: 1, a2: 1, a6: 0}},
		{"all_limit", map[string]float64{"probe_success": 1, "probe_tcp_addresses": 3, "probe_tcp_addresses_checked": 2, "probe_tcp_addresses_cut": 1, "probe_tcp_addresses_open": 2},
			map[string]float64{a1: 1, a2: 1}},
		{"all_v4", map[string]float64{"probe_success": 1, "probe_tcp_addresses": 2, "probe_tcp_addresses_checked": 2, "probe_ip_protocol": 4},
			map[string]float64{a1: 1, a2: 1}},
		{"all_v6", map[string]float64{"probe_success": 0, "probe_tcp_addresses": 1, "probe_tcp_addresses_checked": 1, "probe_ip_protocol": 6},
			map[string]float64{a6: 0}},
		{"all_twice", map[string]float64{"probe_success": 1, "probe_tcp_addresses_checked": 3, "probe_tcp_syns_sent": 6},
			map[string]float64{a1: 1, a2: 1, a6: 0}},
		{"all_but_one", map[string]float64{"probe_success": 1, "probe_tcp_addresses": 3, "probe_tcp_addresses_checked": 2, "probe_tcp_addresses_denied": 1, "probe_tcp_addresses_open": 1},
			map[string]float64{a1: 1, a6: 0}},
	}
	for _, tt := range tests {
		t.Run(tt.module, func(t *testing.T) {
			status, _, body := s.get(t, "/probe?module="+tt.module+"&target="+target)
			if status != 200 {
				t.Fatalf("status %d\n%s", status, body)
			}
			mfs := parseMetrics(t, body)
			wantGauges(t, mfs, tt.gauges)
			if n := len(mfs["probe_tcp_address_success"].GetMetric()); n != len(tt.addresses) {
				t.Errorf("%d address series, want %d:\n%s", n, len(tt.addresses), body)
			}
			for addr, v := range tt.addresses {
				if got := labelled(t, mfs, "probe_tcp_address_success", "address", addr); got != v {
					t.Errorf("address_success{address=%q} = %g, want %g", addr, got, v)
				}
			}
		})
	}
	status, _, body := s.get(t, "/probe?module=all_denied&target="+target)
	if status != 403 || !strings.Contains(body, "refused by module") {
		t.Errorf("every address denied: %d %q, want 403", status, body)
	}
	assertNothingAccepted(t, ln1)
	assertNothingAccepted(t, ln2)
}

// TestProbeExpect makes each class for real in a namespace and probes it
// with a module expecting each outcome: probe_success is 1 exactly when
// the outcome is the expected one.
func TestProbeExpect(t *testing.T) {
	testenv.RequireNft(t)
	ns := netns.New(t)
	for _, args := range [][]string{
		{"ip", "addr", "add", "198.18.1.1/32", "dev", "lo"},
		{"ip", "route", "add", "prohibit", "198.18.6.0/24"},
	} {
		if err := ns.Run(args...); err != nil {
			t.Fatal(err)
		}
	}
	if err := ns.Nft(`
table inet synack {
	chain input {
		type filter hook input priority 0; policy accept;
		tcp dport 7001 drop
		tcp dport 7002 reject with icmp type admin-prohibited
		tcp dport 7003 reject with tcp reset
	}
}
`); err != nil {
		t.Fatal(err)
	}
	var ln net.Listener
	if err := ns.Do(func() (err error) { ln, err = net.Listen("tcp4", "198.18.1.1:7000"); return err }); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	s := newTestServer(t, Options{})
	s.reconfigure(t, `
modules:
  expect_open: {timeout: 500ms}
  expect_closed: {timeout: 500ms, expect: closed}
  expect_refused: {timeout: 500ms, expect: refused}
  expect_timeout: {timeout: 500ms, expect: timeout}
  expect_unreachable: {timeout: 500ms, expect: unreachable}
  expect_prohibited: {timeout: 500ms, expect: prohibited}
  expect_timeout_twice: {timeout: 500ms, expect: timeout, syn_count: 2, syn_interval: 0s}
`)
	targets := map[string]string{ // target: the outcome it gives
		"198.18.1.1:7000": "open",
		"198.18.1.1:7004": "refused",     // closed port
		"198.18.1.1:7003": "refused",     // nft reject with tcp reset
		"198.18.1.1:7001": "timeout",     // nft drop
		"198.18.1.1:7002": "unreachable", // ICMP admin-prohibited: Linux says EHOSTUNREACH
		"198.18.6.1:80":   "prohibited",  // a prohibit route
	}
	for target, outcome := range targets {
		for _, expect := range []string{"open", "closed", "refused", "timeout", "unreachable", "prohibited"} {
			want := expect == outcome || expect == "closed" && outcome != "open"
			w := serveIn(t, ns, s.Exporter, "/probe?module=expect_"+expect+"&target="+target)
			mfs := parseMetrics(t, w.Body.String())
			if got := gaugeValue(t, mfs, "probe_success"); got != boolFloat(want) {
				t.Errorf("%s (%s) with expect %s: probe_success %g, want %v\n%s", target, outcome, expect, got, want, w.Body)
			}
			// The class metrics still say what happened.
			if outcome != "open" {
				if got := labelled(t, mfs, "probe_tcp_error_class", "class", outcome); got != 1 {
					t.Errorf("%s with expect %s: error_class{class=%q} = %g", target, expect, outcome, got)
				}
			}
		}
	}
	// Several checks: every one must meet the expectation.
	w := serveIn(t, ns, s.Exporter, "/probe?module=expect_timeout_twice&target=198.18.1.1:7001")
	wantGauges(t, parseMetrics(t, w.Body.String()), map[string]float64{"probe_success": 1, "probe_tcp_syns_sent": 2, "probe_tcp_loss_ratio": 1})
}
