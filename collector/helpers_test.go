package collector

import (
	"context"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/go-kit/log"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/seed-5ff58b3a/synack_exporter/config"
	"github.com/seed-5ff58b3a/synack_exporter/prober"
)

// testConfig has a default module and a short one, both IPv4-first so
// that names resolve to the loopback addresses below.
const testConfig = `
modules:
  tcp_synack:
    timeout: 5s
    preferred_ip_protocol: ip4
  tcp_short:
    timeout: 1s
    preferred_ip_protocol: ip4
`

// hosts is the test resolver's zone; every other name fails with
// no-such-host. Tests never reach the machine's DNS servers.
var hosts = map[string][]netip.Addr{
	"loopback.test": {netip.MustParseAddr("127.0.0.1")},
}

type testResolver struct{}

func (testResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	if addrs, ok := hosts[host]; ok {
		return addrs, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

// testServer is an Exporter behind a real HTTP server.
type testServer struct {
	*Exporter
	URL        string
	ConfigPath string
	logs       *syncBuffer
}

// newTestServer starts an Exporter over testConfig with a real Checker
// (test resolver) unless opts names another checker, and a history of 100
// unless opts sets a limit.
func newTestServer(t *testing.T, opts Options) *testServer {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.yml")
	writeFile(t, path, testConfig)
	if opts.Checker == nil {
		requireLinux(t)
		opts.Checker = newChecker(t, testResolver{})
	}
	if opts.HistoryLimit == 0 {
		opts.HistoryLimit = 100
	}
	logs := &syncBuffer{}
	opts.Config = config.NewStore(path, nil)
	opts.Logger = log.NewLogfmtLogger(logs)
	e := New(opts)
	if err := e.Reload(); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	return &testServer{Exporter: e, URL: srv.URL, ConfigPath: path, logs: logs}
}

// newChecker starts a real Checker that resolves through r, closed when
// t ends.
func newChecker(t testing.TB, r prober.Resolver) *prober.Checker {
	t.Helper()
	c, err := prober.NewChecker(prober.WithResolver(r))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// requireLinux skips tests of real checks elsewhere: the half-open
// engine is Linux-only, other systems make a full connect.
func requireLinux(t *testing.T) {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("half-open checks need Linux; this system makes full connects")
	}
}

// get fetches path with optional headers (name, value pairs) and returns
// the status, content type and body.
func (s *testServer) get(t *testing.T, path string, header ...string) (int, string, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, s.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return do(t, req)
}

func (s *testServer) post(t *testing.T, path string) (int, string, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	return do(t, req)
}

func do(t *testing.T, req *http.Request) (int, string, string) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header.Get("Content-Type"), string(body)
}

// openPort returns a loopback listener's address. Nothing accepts on it:
// half-open checks must never complete a connection anyway.
func openPort(t *testing.T, network, addr string) string {
	t.Helper()
	l, err := net.Listen(network, addr)
	if err != nil {
		t.Skipf("cannot listen on %s: %v", addr, err)
	}
	t.Cleanup(func() { l.Close() })
	return l.Addr().String()
}

// closedPort returns a loopback address where nothing listens: the port
// of a listener that has been closed.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// parseMetrics parses text exposition into metric families.
func parseMetrics(t *testing.T, text string) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatalf("parsing exposition: %v\n%s", err, text)
	}
	return mfs
}

// compareMetrics compares the named families of a parsed answer with
// expected text exposition, HELP and TYPE included.
func compareMetrics(got map[string]*dto.MetricFamily, expected string, names ...string) error {
	families := slices.SortedFunc(maps.Values(got), func(a, b *dto.MetricFamily) int {
		return strings.Compare(a.GetName(), b.GetName())
	})
	gatherer := prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) { return families, nil })
	return testutil.GatherAndCompare(gatherer, strings.NewReader(expected), names...)
}

// gaugeValue returns the value of the unlabelled gauge name.
func gaugeValue(t *testing.T, mfs map[string]*dto.MetricFamily, name string) float64 {
	t.Helper()
	mf, ok := mfs[name]
	if !ok || len(mf.GetMetric()) != 1 {
		t.Fatalf("%s: want exactly one series, got %v", name, mf)
	}
	return mf.GetMetric()[0].GetGauge().GetValue()
}

// checkRange fails unless min <= name's value <= max.
func checkRange(t *testing.T, mfs map[string]*dto.MetricFamily, name string, min, max float64) {
	t.Helper()
	if v := gaugeValue(t, mfs, name); v < min || v > max {
		t.Errorf("%s = %g, want within [%g, %g]", name, v, min, max)
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// syncBuffer collects the process log of a test server.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// errorClasses renders probe_tcp_error_class with class set to 1 (none
// when class is "").
func errorClasses(class string) string {
	var b strings.Builder
	b.WriteString(`# HELP probe_tcp_error_class 1 for the class of failure that happened, else 0.
# TYPE probe_tcp_error_class gauge
`)
	for _, c := range []string{"local", "other", "prohibited", "refused", "resolve", "timeout", "unreachable"} {
		v := 0
		if c == class {
			v = 1
		}
		fmt.Fprintf(&b, "probe_tcp_error_class{class=%q} %d\n", c, v)
	}
	return b.String()
}
