package collector

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/seed-5ff58b3a/synack_exporter/internal/fakepeer"
	"github.com/seed-5ff58b3a/synack_exporter/internal/netns"
)

// countingResolver answers from a map and counts the lookups.
type countingResolver struct {
	hosts   map[string][]netip.Addr
	lookups atomic.Int64
}

func (r *countingResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	r.lookups.Add(1)
	if addrs, ok := r.hosts[host]; ok {
		return addrs, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

// serveIn runs one request through the exporter's handler on a thread
// inside ns, so the probe's socket belongs to the namespace.
func serveIn(t *testing.T, ns *netns.NS, e *Exporter, path string) *httptest.ResponseRecorder {
	t.Helper()
	w := httptest.NewRecorder()
	if err := ns.Do(func() error {
		e.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return w
}

// tcpFromProber returns the TCP segments the prober sent to the peer (the
// kernel also sends ICMPv6 neighbour discovery, which is not a probe).
func tcpFromProber(peer *fakepeer.Peer) []fakepeer.Packet {
	var tcp []fakepeer.Packet
	for _, p := range peer.Packets() {
		if p.Proto == 6 {
			tcp = append(tcp, p)
		}
	}
	return tcp
}

// TestTargetPolicySendsNothing checks on the wire that a refused target
// gets no packet at all: every probe goes through a fake peer that logs
// what reaches it, and only the allowed probe may show up there.
func TestTargetPolicySendsNothing(t *testing.T) {
	ns := netns.New(t)
	peer := fakepeer.Start(t, ns, fakepeer.Config{OpenPorts: []uint16{80, 81}})
	resolver := &countingResolver{hosts: map[string][]netip.Addr{
		"peer.test":        {peer.Addr()},
		"x.blocked.test":   {peer.Addr()},
		"peer6.test":       {peer.Addr6()},
		"mapped.peer.test": {netip.AddrFrom16(peer.Addr().As16())},
	}}
	c := newChecker(t, resolver)
	s := newTestServer(t, Options{Checker: c})
	s.reconfigure(t, fmt.Sprintf(`
modules:
  tcp_lan:
    preferred_ip_protocol: ip4
    allowed_targets: ["%s:80"]
  tcp_guarded:
    preferred_ip_protocol: ip4
    denied_targets: ["%s", "*.blocked.test", "fe80::/10"]
`, netip.PrefixFrom(peer.Addr(), 24).Masked(), netip.PrefixFrom(peer.Addr(), 24).Masked()))

	// The allowed probe first: it proves the peer sees what is sent.
	w := serveIn(t, ns, s.Exporter, "/probe?module=tcp_lan&target="+peer.Addr().String()+":80")
	if w.Code != 200 || gaugeValue(t, parseMetrics(t, w.Body.String()), "probe_success") != 1 {
		t.Fatalf("allowed probe: %d\n%s\n%s", w.Code, w.Body, peer.Transcript())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, err := peer.WaitFor(ctx, fakepeer.Packet.IsRST); err != nil {
		t.Fatalf("allowed probe: no RST reached the peer: %v\n%s", err, peer.Transcript())
	}
	sent := len(tcpFromProber(peer))

	refused := []struct{ module, target string }{
		{"tcp_lan", peer.Addr().String() + ":81"},     // allowed address, other port
		{"tcp_lan", "peer.test:81"},                   // the same by name
		{"tcp_guarded", peer.Addr().String() + ":80"}, // a denied CIDR
		{"tcp_guarded", "peer.test:80"},               // a name resolving into it
		{"tcp_guarded", "mapped.peer.test:80"},        // the same, IPv4-mapped
		{"tcp_guarded", "[::ffff:" + peer.Addr().String() + "]:80"},
		{"tcp_guarded", "x.blocked.test:80"}, // a denied name
		{"tcp_guarded", "[fe80::1%lo]:80"},   // a zone does not hide fe80::/10
	}
	if peer.Addr6().IsValid() {
		refused = append(refused,
			struct{ module, target string }{"tcp_lan", "[" + peer.Addr6().String() + "]:80"}, // other family
			struct{ module, target string }{"tcp_lan", "peer6.test:80"},                      // a name of it
		)
	}
	for _, r := range refused {
		w := serveIn(t, ns, s.Exporter, "/probe?module="+r.module+"&target="+url.QueryEscape(r.target))
		body := w.Body.String()
		if w.Code != 403 || strings.Count(body, "\n") != 1 || !strings.Contains(body, "refused by module") {
			t.Errorf("%s %s: %d %q, want 403 with a one-line reason", r.module, r.target, w.Code, body)
		}
	}
	// Give a stray packet time to arrive before looking.
	quiet, cancelQuiet := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancelQuiet()
	if p, err := peer.WaitFor(quiet, func(p fakepeer.Packet) bool { return p.Proto == 6 && p.Dst.Port() == 81 }); err == nil {
		t.Errorf("a refused probe reached the peer: %v", p)
	}
	if got := tcpFromProber(peer); len(got) != sent {
		t.Errorf("refused probes sent %d segments:\n%s", len(got)-sent, peer.Transcript())
	}
	if got := testutil.ToFloat64(s.metrics.rejected.WithLabelValues(reasonTargetDenied)); got != float64(len(refused)) {
		t.Errorf("probes_rejected_total{reason=target_denied} = %g, want %d", got, len(refused))
	}
}
