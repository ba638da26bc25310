package continuous

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/seed-5ff58b3a/synack_exporter/config"
	"github.com/seed-5ff58b3a/synack_exporter/prober"
)

// requireLinux skips where checks fall back to a full connect, which a
// loopback listener would see.
func requireLinux(t testing.TB) {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("half-open checks need Linux")
	}
}

// newChecker returns a Checker closed at the end of the test, resolving
// with r when not nil.
func newChecker(t testing.TB, r prober.Resolver) *prober.Checker {
	t.Helper()
	var opts []prober.CheckerOption
	if r != nil {
		opts = append(opts, prober.WithResolver(r))
	}
	c, err := prober.NewChecker(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// newRunner starts a Runner with its own registry, closed at the end of
// the test.
func newRunner(t testing.TB, opts Options) (*Runner, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	opts.Registerer = reg
	if opts.Checker == nil {
		opts.Checker = newChecker(t, nil)
	}
	if opts.Histogram.Buckets == nil {
		opts.Histogram.Buckets = DefaultBuckets
	}
	r := New(opts)
	t.Cleanup(r.Close)
	return r, reg
}

// listen opens a loopback listener that a test asserts never accepts.
func listen(t testing.TB, network, addr string) (*net.TCPListener, string) {
	t.Helper()
	l, err := net.Listen(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l.(*net.TCPListener), l.Addr().String()
}

// closedPort returns a loopback address with nothing listening.
func closedPort(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// requireNoAccept fails if l has a connection waiting: half-open checks
// must never complete one.
func requireNoAccept(t testing.TB, l *net.TCPListener) {
	t.Helper()
	l.SetDeadline(time.Now().Add(50 * time.Millisecond))
	if c, err := l.Accept(); err == nil {
		c.Close()
		t.Errorf("the listener accepted a connection from %s", c.RemoteAddr())
	}
}

// load loads a configuration document, failing the test on error.
func load(t testing.TB, doc string) *config.Config {
	t.Helper()
	c, err := config.Load([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// groupDoc is a configuration with one module and one group.
func groupDoc(module, interval string, targets ...string) string {
	return fmt.Sprintf("modules:\n  m:\n%s\ncontinuous:\n  - targets: [%s]\n    module: m\n    interval: %s\n",
		module, strings.Join(quoteAll(targets), ", "), interval)
}

func quoteAll(s []string) []string {
	out := make([]string, len(s))
	for i, x := range s {
		out[i] = fmt.Sprintf("%q", x)
	}
	return out
}

// gather returns the registry's families by name.
func gather(t testing.TB, reg prometheus.Gatherer) map[string]*dto.MetricFamily {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*dto.MetricFamily{}
	for _, mf := range mfs {
		out[mf.GetName()] = mf
	}
	return out
}

// value sums the counter, gauge or histogram count of name's series
// whose labels include want.
func value(mfs map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	var sum float64
	for _, m := range mfs[name].GetMetric() {
		if !hasLabels(m, want) {
			continue
		}
		switch {
		case m.Counter != nil:
			sum += m.Counter.GetValue()
		case m.Gauge != nil:
			sum += m.Gauge.GetValue()
		case m.Histogram != nil:
			sum += float64(m.Histogram.GetSampleCount())
		}
	}
	return sum
}

func hasLabels(m *dto.Metric, want map[string]string) bool {
	found := 0
	for _, p := range m.GetLabel() {
		if v, ok := want[p.GetName()]; ok {
			if v != p.GetValue() {
				return false
			}
			found++
		}
	}
	return found == len(want)
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// checks is synack_checks_total of a target and class.
func checks(t testing.TB, reg prometheus.Gatherer, target, class string) float64 {
	return value(gather(t, reg), checksName, map[string]string{"target": target, "class": class})
}

// staticResolver answers every name from a map; a missing name fails.
type staticResolver map[string][]netip.Addr

func (s staticResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	if a, ok := s[host]; ok {
		return a, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

func itoa(port uint16) string { return strconv.Itoa(int(port)) }

// switchResolver answers every name with one address, which a test can
// change.
type switchResolver struct {
	mu   sync.Mutex
	addr netip.Addr
}

func (s *switchResolver) set(a netip.Addr) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.addr = a
}

func (s *switchResolver) LookupNetIP(context.Context, string, string) ([]netip.Addr, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return []netip.Addr{s.addr}, nil
}
