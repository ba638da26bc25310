//go:build linux

package collector

import (
	"bufio"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/seed-5ff58b3a/synack_exporter/internal/netns"
)

// TestUnspecifiedTargetsAreRefused: 0.0.0.0, :: and ::ffff:0.0.0.0 mean
// "this host" to connect(), so they would reach the exporter's own
// services past any denied_targets list. In every module, a literal one
// is a 400 with a one-line reason, and a name that resolves only to one
// ends as class resolve; neither sends a SYN. The namespace has a
// listener on every address, so a check that went through would succeed,
// and its TCP counters show any connect() that was tried.
func TestUnspecifiedTargetsAreRefused(t *testing.T) {
	ns := netns.New(t)
	var ln net.Listener
	if err := ns.Do(func() (err error) {
		ln, err = net.Listen("tcp", ":0")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	resolver := &countingResolver{hosts: map[string][]netip.Addr{
		"zero.test":  {netip.IPv4Unspecified()},
		"zero6.test": {netip.IPv6Unspecified()},
	}}
	s := newTestServer(t, Options{Checker: newChecker(t, resolver)})
	s.reconfigure(t, `
modules:
  tcp_synack:
    preferred_ip_protocol: ip4
  tcp_any:
    preferred_ip_protocol: ip6
    ip_protocol_fallback: true
`)
	// The control: a probe of the listener is a connect() the counter sees.
	before := activeOpens(t, ns)
	if w := serveIn(t, ns, s.Exporter, "/probe?target=127.0.0.1:"+port); w.Code != 200 || gaugeValue(t, parseMetrics(t, w.Body.String()), "probe_success") != 1 {
		t.Fatalf("control probe: %d\n%s", w.Code, w.Body)
	}
	if got := activeOpens(t, ns); got != before+1 {
		t.Fatalf("TcpActiveOpens went from %d to %d for one probe; the counter cannot show a stray SYN", before, got)
	}

	before = activeOpens(t, ns)
	for _, module := range []string{"tcp_synack", "tcp_any"} {
		for _, target := range []string{"0.0.0.0:" + port, "[::]:" + port, "[::ffff:0.0.0.0]:" + port} {
			w := serveIn(t, ns, s.Exporter, "/probe?module="+module+"&target="+url.QueryEscape(target))
			body := w.Body.String()
			if w.Code != 400 || strings.Count(body, "\n") != 1 || !strings.Contains(body, "the unspecified address means this host itself and is never a target") {
				t.Errorf("%s %s: %d %q, want 400 with a one-line reason", module, target, w.Code, body)
			}
		}
		for _, name := range []string{"zero.test", "zero6.test"} {
			w := serveIn(t, ns, s.Exporter, "/probe?module="+module+"&target="+name+":"+port)
			mfs := parseMetrics(t, w.Body.String())
			if w.Code != 200 || gaugeValue(t, mfs, "probe_success") != 0 {
				t.Errorf("%s %s: %d, want 200 with probe_success 0\n%s", module, name, w.Code, w.Body)
			}
			if err := compareMetrics(mfs, errorClasses("resolve"), "probe_tcp_error_class"); err != nil {
				t.Errorf("%s %s: %v", module, name, err)
			}
		}
	}
	if resolver.lookups.Load() == 0 {
		t.Error("the names were never looked up; the test proves nothing about them")
	}
	if got := activeOpens(t, ns); got != before {
		t.Errorf("TcpActiveOpens went from %d to %d: a refused probe sent a SYN", before, got)
	}
}

// activeOpens reads the namespace's TcpActiveOpens, the count of
// connect() calls that sent a SYN.
func activeOpens(t *testing.T, ns *netns.NS) int {
	t.Helper()
	var n int
	if err := ns.Do(func() error {
		f, err := os.Open("/proc/thread-self/net/snmp")
		if err != nil {
			return err
		}
		defer f.Close()
		var names []string
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) == 0 || fields[0] != "Tcp:" {
				continue
			}
			if names == nil {
				names = fields
				continue
			}
			for i, name := range names {
				if name == "ActiveOpens" && i < len(fields) {
					n, err = strconv.Atoi(fields[i])
					return err
				}
			}
		}
		return fmt.Errorf("no Tcp ActiveOpens in /proc/net/snmp")
	}); err != nil {
		t.Fatal(err)
	}
	return n
}
