package collector

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/seed-5ff58b3a/synack_exporter/config"
	"github.com/seed-5ff58b3a/synack_exporter/internal/leakcheck"
)

// parkMargin is how late after its budget a parked probe may answer: room
// for a loaded machine under -race, still far below any budget the tests
// would mistake it for.
const parkMargin = 2 * time.Second

// parkServer is an Exporter that parks (ParkAbove as given, 0 parks every
// probe) behind a real HTTP server that also serves its Listener, with a
// record of the connections net/http gave up and took back.
type parkServer struct {
	*Exporter
	srv  *httptest.Server
	addr string

	mu       sync.Mutex
	hijacked map[string]int  // by client address: times net/http gave the connection up
	closed   map[string]bool // by client address: net/http closed the connection
	returned int             // parked connections net/http served again
}

// newParkServer starts a parkServer over testConfig with a real Checker.
// Options.TimeoutOffset stays 0, so a probe's budget is the scrape
// timeout header (capped by the module's 5s). Cleanup shuts down in the
// documented order: the http.Server, then the Exporter, then the rest.
func newParkServer(t *testing.T, opts Options) *parkServer {
	t.Helper()
	requireLinux(t)
	path := filepath.Join(t.TempDir(), "config.yml")
	writeFile(t, path, testConfig)
	opts.Checker = newChecker(t, testResolver{})
	opts.Config = config.NewStore(path, nil)
	if opts.HistoryLimit == 0 {
		opts.HistoryLimit = 100
	}
	e := New(opts)
	if err := e.Reload(); err != nil {
		t.Fatal(err)
	}
	s := &parkServer{Exporter: e, hijacked: make(map[string]int), closed: make(map[string]bool)}
	s.srv = httptest.NewUnstartedServer(e)
	s.srv.Config.ConnState = s.connState
	s.srv.Start()
	s.addr = s.srv.Listener.Addr().String()
	served := make(chan error, 1)
	go func() { served <- s.srv.Config.Serve(e.Listener()) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.srv.Config.Shutdown(ctx); err != nil {
			t.Errorf("http.Server.Shutdown: %v", err)
		}
		if err := e.Shutdown(ctx); err != nil {
			t.Errorf("Exporter.Shutdown: %v", err)
		}
		s.srv.Close()
		if err := <-served; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("serving the parked connections' listener: %v", err)
		}
	})
	if !waitFor(5*time.Second, func() bool { return parkingStarted(e) }) {
		t.Fatal("parking did not start once its listener was served")
	}
	return s
}

func (s *parkServer) connState(c net.Conn, state http.ConnState) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch state {
	case http.StateHijacked:
		s.hijacked[c.RemoteAddr().String()]++
	case http.StateNew:
		if _, ok := c.(*parkedConn); ok {
			s.returned++
		}
	case http.StateClosed:
		s.closed[c.RemoteAddr().String()] = true
	}
}

// serverClosed reports that net/http has closed the connection of c.
func (s *parkServer) serverClosed(c *rawClient) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed[c.LocalAddr().String()]
}

// hangUp closes c and waits until net/http has closed its end too, so
// that counts of descriptors and goroutines taken next do not include it.
func (s *parkServer) hangUp(t *testing.T, c *rawClient) {
	t.Helper()
	c.Close()
	if !waitFor(5*time.Second, func() bool { return s.serverClosed(c) }) {
		t.Fatal("net/http did not close a connection its client closed")
	}
}

// parkingStarted reports that e's watcher runs: its Listener is served.
func parkingStarted(e *Exporter) bool {
	e.park.mu.Lock()
	defer e.park.mu.Unlock()
	return e.park.watch != nil
}

// parkedTimes says how often the connection of c was parked.
func (s *parkServer) parkedTimes(c *rawClient) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hijacked[c.LocalAddr().String()]
}

func (s *parkServer) parkedTotal() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, v := range s.hijacked {
		n += v
	}
	return n
}

func (s *parkServer) returnedTotal() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.returned
}

// settled reports no probe in flight and no connection parked.
func (s *parkServer) settled() bool {
	probes, idle := s.park.counts()
	return s.inFlight.Load() == 0 && probes == 0 && idle == 0
}

// scrape fetches /metrics on a connection of its own, closed on both
// ends when it returns.
func (s *parkServer) scrape(t *testing.T) map[string]*dto.MetricFamily {
	t.Helper()
	c := s.dial(t)
	c.send(t, httpRequest("GET", "/metrics", "HTTP/1.1"))
	resp, body := c.mustReceive(t, "GET")
	s.hangUp(t, c)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: %s\n%s", resp.Status, body)
	}
	return parseMetrics(t, body)
}

// rawClient is one client connection driven by hand, so that a test knows
// which connection carries which request.
type rawClient struct {
	net.Conn
	r *bufio.Reader
}

func (s *parkServer) dial(t *testing.T) *rawClient {
	t.Helper()
	c, err := net.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawClient{Conn: c, r: bufio.NewReader(c)}
}

// send writes requests in one write.
func (c *rawClient) send(t *testing.T, requests ...string) {
	t.Helper()
	c.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, strings.Join(requests, "")); err != nil {
		t.Fatal(err)
	}
}

// receive reads the answer to a request made with method.
func (c *rawClient) receive(method string) (*http.Response, string, error) {
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(c.r, &http.Request{Method: method})
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp, string(body), err
}

func (c *rawClient) mustReceive(t *testing.T, method string) (*http.Response, string) {
	t.Helper()
	resp, body, err := c.receive(method)
	if err != nil {
		t.Fatalf("reading the answer: %v", err)
	}
	return resp, body
}

// checkClosedByServer fails unless the server closes c with nothing
// more to read.
func (c *rawClient) checkClosedByServer(t *testing.T) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := c.r.Read(make([]byte, 1)); n != 0 || !errors.Is(err, io.EOF) {
		t.Errorf("read after the last answer: %d bytes, %v; want EOF", n, err)
	}
}

// httpRequest renders a request without a body; header lines come
// without their line ends.
func httpRequest(method, path, proto string, header ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s %s\r\nHost: exporter.test\r\n", method, path, proto)
	for _, h := range header {
		b.WriteString(h + "\r\n")
	}
	b.WriteString("\r\n")
	return b.String()
}

func budgetHeader(budget time.Duration) string {
	return fmt.Sprintf("%s: %g", scrapeTimeoutHeader, budget.Seconds())
}

// silentProbe is a GET /probe of target with budget as its scrape
// timeout, plus header lines.
func silentProbe(target string, budget time.Duration, header ...string) string {
	return httpRequest("GET", "/probe?target="+target, "HTTP/1.1", append([]string{budgetHeader(budget)}, header...)...)
}

// labelledValue returns the value of the gauge name's series with
// label=value.
func labelledValue(t *testing.T, mfs map[string]*dto.MetricFamily, name, label, value string) float64 {
	t.Helper()
	for _, m := range mfs[name].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == label && l.GetValue() == value {
				return m.GetGauge().GetValue()
			}
		}
	}
	t.Fatalf("no series %s{%s=%q}", name, label, value)
	return 0
}

func parkedGauge(t *testing.T, mfs map[string]*dto.MetricFamily, state string) float64 {
	t.Helper()
	return labelledValue(t, mfs, "synack_exporter_parked_connections", "state", state)
}

// checkTimedOut fails unless resp and body are the full answer to a
// probe of a silent target with budget, answered at its budget.
func checkTimedOut(t *testing.T, resp *http.Response, body string, budget time.Duration) {
	t.Helper()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %s:\n%s", resp.Status, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != metricsContentType {
		t.Errorf("Content-Type %q, want %q", ct, metricsContentType)
	}
	if resp.ContentLength != int64(len(body)) || resp.Header.Get("Content-Length") != fmt.Sprint(len(body)) {
		t.Errorf("Content-Length %q for a body of %d bytes", resp.Header.Get("Content-Length"), len(body))
	}
	mfs := parseMetrics(t, body)
	if err := compareMetrics(mfs, expectedProbe(0, budget.Seconds(), 4, "127.0.0.1", syscall.ETIMEDOUT, "timeout"), stableProbeMetrics...); err != nil {
		t.Error(err)
	}
	checkRange(t, mfs, "probe_duration_seconds", budget.Seconds(), (budget + parkMargin).Seconds())
}

// TestParkedProbe: a parked probe of a silent target answers at its
// budget, not before, with the same headers as an answer that never
// parked; its connection stays open and serves the next requests: one
// that net/http handles, and another parked probe.
func TestParkedProbe(t *testing.T) {
	const budget = 300 * time.Millisecond
	s := newParkServer(t, Options{})
	silent := silentTarget(t).String()

	// An open loopback port answers during connect(): the answer goes
	// through net/http's own ResponseWriter, the normal path.
	normal := s.dial(t)
	normal.send(t, httpRequest("GET", "/probe?target="+openPort(t, "tcp4", "127.0.0.1:0"), "HTTP/1.1"))
	normalResp, _ := normal.mustReceive(t, "GET")
	if n := s.parkedTimes(normal); n != 0 {
		t.Fatalf("a probe answered during connect() was parked %d times", n)
	}

	c := s.dial(t)
	start := time.Now()
	c.send(t, silentProbe(silent, budget))
	resp, body := c.mustReceive(t, "GET")
	took := time.Since(start)
	if took < budget || took > budget+parkMargin {
		t.Errorf("the parked probe answered after %v, want within [%v, %v]", took, budget, budget+parkMargin)
	}
	if n := s.parkedTimes(c); n != 1 {
		t.Fatalf("the probe's connection was parked %d times, want 1", n)
	}
	checkTimedOut(t, resp, body, budget)
	if resp.Close {
		t.Error("the answer closes the connection (Connection: close)")
	}
	headerNames := func(h http.Header) []string {
		return slices.Sorted(func(yield func(string) bool) {
			for k := range h {
				if !yield(k) {
					return
				}
			}
		})
	}
	if got, want := headerNames(resp.Header), headerNames(normalResp.Header); !slices.Equal(got, want) {
		t.Errorf("parked answer's headers %v, normal answer's %v", got, want)
	}
	if got, want := resp.Header.Get("Content-Type"), normalResp.Header.Get("Content-Type"); got != want {
		t.Errorf("parked answer's Content-Type %q, normal answer's %q", got, want)
	}
	if _, err := http.ParseTime(resp.Header.Get("Date")); err != nil {
		t.Errorf("Date header: %v", err)
	}

	// Answered, the connection waits for its next request in the watcher.
	if !waitFor(5*time.Second, func() bool { probes, idle := s.park.counts(); return probes == 0 && idle == 1 }) {
		probes, idle := s.park.counts()
		t.Fatalf("after the answer, parked: %d probe, %d idle; want 0, 1", probes, idle)
	}
	c.send(t, httpRequest("GET", "/metrics", "HTTP/1.1"))
	resp, body = c.mustReceive(t, "GET")
	if resp.StatusCode != http.StatusOK || resp.Close {
		t.Fatalf("/metrics on the parked connection: %s, close %v", resp.Status, resp.Close)
	}
	if mfs := parseMetrics(t, body); parkedGauge(t, mfs, "idle") != 0 || parkedGauge(t, mfs, "probe") != 0 {
		t.Errorf("the connection serving /metrics is counted as parked:\n%s", body)
	}
	if n := s.returnedTotal(); n != 1 {
		t.Errorf("the parked connection came back to the server %d times, want 1", n)
	}

	start = time.Now()
	c.send(t, silentProbe(silent, budget))
	resp, body = c.mustReceive(t, "GET")
	if took := time.Since(start); took < budget || took > budget+parkMargin {
		t.Errorf("the second parked probe answered after %v", took)
	}
	if n := s.parkedTimes(c); n != 2 {
		t.Errorf("the connection was parked %d times, want 2", n)
	}
	checkTimedOut(t, resp, body, budget)

	c.Close()
	if !waitFor(5*time.Second, s.settled) {
		probes, idle := s.park.counts()
		t.Errorf("after the client left: %d in flight, parked %d probe, %d idle", s.inFlight.Load(), probes, idle)
	}
}

// TestParkedProbeGoClient: Go's HTTP client, as Prometheus uses it,
// reads parked answers and reuses their connection.
func TestParkedProbeGoClient(t *testing.T) {
	const budget = 200 * time.Millisecond
	s := newParkServer(t, Options{})
	silent := silentTarget(t).String()
	transport := &http.Transport{MaxConnsPerHost: 1, MaxIdleConnsPerHost: 1}
	defer transport.CloseIdleConnections()
	client := &http.Client{Transport: transport}

	var conns []string
	for i := range 2 {
		var reused bool
		var local string
		trace := &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) {
			reused, local = info.Reused, info.Conn.LocalAddr().String()
		}}
		ctx := httptrace.WithClientTrace(context.Background(), trace)
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.srv.URL+"/probe?target="+silent, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set(scrapeTimeoutHeader, fmt.Sprint(budget.Seconds()))
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		checkTimedOut(t, resp, string(body), budget)
		if i == 1 && !reused {
			t.Error("the client did not reuse the connection of the first parked answer")
		}
		conns = append(conns, local)
	}
	s.mu.Lock()
	parked := s.hijacked[conns[0]]
	s.mu.Unlock()
	if conns[0] != conns[1] || parked != 2 {
		t.Errorf("connections %v, parked %d times; want one connection parked twice", conns, parked)
	}
}

// TestParkManyProbes is the point of parking: probes parked by the
// hundred hold no goroutine, are counted on /metrics, answer, wait for
// their next request without a goroutine either, and leave nothing behind
// once their clients close.
func TestParkManyProbes(t *testing.T) {
	const n = 200
	const budget = 1500 * time.Millisecond
	s := newParkServer(t, Options{})
	silent := silentTarget(t).String()

	// Whatever opens lazily opens now.
	warm := s.dial(t)
	warm.send(t, silentProbe(silent, 10*time.Millisecond, "Connection: close"))
	warm.mustReceive(t, "GET")
	warm.Close()
	s.scrape(t)
	if !waitFor(5*time.Second, s.settled) {
		t.Fatal("the warm-up probe did not settle")
	}
	fds, goroutines := leakcheck.OpenFDs(t), runtime.NumGoroutine()

	start := time.Now()
	clients := make([]*rawClient, n)
	for i := range clients {
		clients[i] = s.dial(t)
		clients[i].send(t, silentProbe(silent, budget))
	}
	if !waitFor(budget/2, func() bool { probes, _ := s.park.counts(); return probes == n }) {
		probes, _ := s.park.counts()
		t.Fatalf("%d of %d probes parked %v after the first request", probes, n, time.Since(start))
	}
	t.Logf("%d probes parked %v after the first request", n, time.Since(start))
	// net/http needs at least two goroutines a request while its handler
	// runs; parked, the requests need none.
	var g int
	if !waitFor(budget/4, func() bool { g = runtime.NumGoroutine(); return g < goroutines+n/10 }) {
		t.Errorf("%d goroutines with %d probes parked, %d before", g, n, goroutines)
	}
	var mfs map[string]*dto.MetricFamily
	if !waitFor(budget/4, func() bool { mfs = s.scrape(t); return parkedGauge(t, mfs, "probe") == n }) {
		t.Errorf("/metrics: parked_connections{state=\"probe\"} %g, want %d", parkedGauge(t, mfs, "probe"), n)
	}
	if v := gaugeValue(t, mfs, "synack_exporter_probes_in_flight"); v != n {
		t.Errorf("/metrics: probes_in_flight %g, want %d", v, n)
	}
	if took := time.Since(start); took >= budget {
		t.Fatalf("parking %d probes and checking them took %v, longer than their budget %v: the machine is too slow for this test", n, took, budget)
	}

	for i, c := range clients {
		resp, body := c.mustReceive(t, "GET")
		if resp.StatusCode != http.StatusOK || resp.Close {
			t.Fatalf("answer %d: %s, close %v", i, resp.Status, resp.Close)
		}
		mfs := parseMetrics(t, body)
		if gaugeValue(t, mfs, "probe_success") != 0 || labelledValue(t, mfs, "probe_tcp_error_class", "class", "timeout") != 1 {
			t.Fatalf("answer %d is not a timeout:\n%s", i, body)
		}
	}
	if !waitFor(5*time.Second, func() bool { probes, idle := s.park.counts(); return probes == 0 && idle == n }) {
		probes, idle := s.park.counts()
		t.Fatalf("answered and kept open, parked: %d probe, %d idle; want 0, %d", probes, idle, n)
	}
	mfs = s.scrape(t)
	if parkedGauge(t, mfs, "idle") != n || parkedGauge(t, mfs, "probe") != 0 || gaugeValue(t, mfs, "synack_exporter_probes_in_flight") != 0 {
		t.Errorf("/metrics with %d idle parked connections: idle %g, probe %g, in flight %g", n,
			parkedGauge(t, mfs, "idle"), parkedGauge(t, mfs, "probe"), gaugeValue(t, mfs, "synack_exporter_probes_in_flight"))
	}
	if !waitFor(time.Second, func() bool { g = runtime.NumGoroutine(); return g < goroutines+n/10 }) {
		t.Errorf("%d goroutines with %d idle parked connections, %d before", g, n, goroutines)
	}

	for _, c := range clients {
		c.Close()
	}
	if !waitFor(5*time.Second, s.settled) {
		_, idle := s.park.counts()
		t.Errorf("%d idle parked connections after their clients closed them", idle)
	}
	if v := parkedGauge(t, s.scrape(t), "idle"); v != 0 {
		t.Errorf("/metrics: parked_connections{state=\"idle\"} %g after the clients left", v)
	}
	leakcheck.WaitBaseline(t, fds, goroutines, 5*time.Second)
}

// TestParkedProbeDebug: debug=true on a parked probe answers with the
// debug text.
func TestParkedProbeDebug(t *testing.T) {
	const budget = 200 * time.Millisecond
	s := newParkServer(t, Options{})
	silent := silentTarget(t).String()
	c := s.dial(t)
	c.send(t, httpRequest("GET", "/probe?debug=true&target="+silent, "HTTP/1.1", budgetHeader(budget)))
	resp, body := c.mustReceive(t, "GET")
	if n := s.parkedTimes(c); n != 1 {
		t.Fatalf("the debug probe's connection was parked %d times, want 1", n)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/plain; charset=utf-8" {
		t.Fatalf("status %s, Content-Type %q", resp.Status, resp.Header.Get("Content-Type"))
	}
	if resp.ContentLength != int64(len(body)) {
		t.Errorf("Content-Length %d for a body of %d bytes", resp.ContentLength, len(body))
	}
	logs, rest, ok1 := strings.Cut(body, "Metrics that would have been returned:\n")
	metrics, _, ok2 := strings.Cut(rest, "\nModule configuration:\n")
	if !strings.HasPrefix(logs, "Logs for the probe:\n") || !ok1 || !ok2 {
		t.Fatalf("sections missing or out of order:\n%s", body)
	}
	for _, want := range []string{
		`msg="Beginning probe" timeout=200ms`,
		`msg="Probe failed" class=timeout errno=110`,
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %q:\n%s", want, logs)
		}
	}
	if err := compareMetrics(parseMetrics(t, metrics), expectedProbe(0, budget.Seconds(), 4, "127.0.0.1", syscall.ETIMEDOUT, "timeout"), stableProbeMetrics...); err != nil {
		t.Error(err)
	}
}

// TestParkedClientHangUp: a client that hangs up while its probe is
// parked cancels the probe at once, as net/http cancels a request's
// context, and the probe's socket and the connection are closed.
func TestParkedClientHangUp(t *testing.T) {
	const budget = 5 * time.Second // the module's; the hang-up must end it long before
	s := newParkServer(t, Options{})
	silent := silentTarget(t).String()
	warm := s.dial(t) // whatever opens lazily opens now
	warm.send(t, httpRequest("GET", "/probe?target="+closedPort(t), "HTTP/1.1"))
	warm.mustReceive(t, "GET")
	s.hangUp(t, warm)
	if !waitFor(5*time.Second, s.settled) {
		t.Fatal("the warm-up probe did not settle")
	}
	fds := leakcheck.OpenFDs(t)

	c := s.dial(t)
	c.send(t, httpRequest("GET", "/probe?target="+silent, "HTTP/1.1"))
	if !waitFor(budget/2, func() bool { probes, _ := s.park.counts(); return probes == 1 && s.parkedTimes(c) == 1 }) {
		t.Fatal("the probe did not park")
	}
	// The client's and the server's ends of the connection, and the
	// check's socket.
	if during := leakcheck.OpenFDs(t); during < fds+3 {
		t.Errorf("%d fds open during the probe, %d before: the check holds no socket?", during, fds)
	}
	c.Close()
	closed := time.Now()
	if !waitFor(budget/2, s.settled) {
		probes, idle := s.park.counts()
		t.Fatalf("after the hang-up: %d in flight, parked %d probe, %d idle", s.inFlight.Load(), probes, idle)
	}
	if took := time.Since(closed); took > time.Second {
		t.Errorf("the probe ended %v after its client hung up", took)
	}
	if recent := s.history.recent(); len(recent) == 0 {
		t.Error("the cancelled probe is not in the history")
	} else if r := recent[0].Result; r.Errno != syscall.ECANCELED {
		t.Errorf("the cancelled probe is recorded as %v/%d, want other/ECANCELED", r.Class, r.Errno)
	}
	if !waitFor(2*time.Second, func() bool { return leakcheck.OpenFDs(t) <= fds }) {
		t.Errorf("%d fds open after the hang-up, %d before", leakcheck.OpenFDs(t), fds)
	}
}

// TestParkedConnectionClose: a request with Connection: close gets its
// parked answer with Connection: close, then the server closes.
func TestParkedConnectionClose(t *testing.T) {
	const budget = 200 * time.Millisecond
	s := newParkServer(t, Options{})
	silent := silentTarget(t).String()
	c := s.dial(t)
	c.send(t, silentProbe(silent, budget, "Connection: close"))
	resp, body := c.mustReceive(t, "GET")
	if n := s.parkedTimes(c); n != 1 {
		t.Fatalf("the connection was parked %d times, want 1", n)
	}
	checkTimedOut(t, resp, body, budget)
	// ReadResponse turns the header into Close, and drops it.
	if !resp.Close {
		t.Error("answer without Connection: close")
	}
	c.checkClosedByServer(t)
	if !waitFor(5*time.Second, s.settled) {
		probes, idle := s.park.counts()
		t.Errorf("parked after the close: %d probe, %d idle", probes, idle)
	}
}

// TestParkedPipelining: requests that follow a parked one on its
// connection, in the same write or while it is parked, are answered in
// order once it is.
func TestParkedPipelining(t *testing.T) {
	const first, second = 300 * time.Millisecond, 200 * time.Millisecond
	s := newParkServer(t, Options{})
	silent := silentTarget(t).String()
	for _, tc := range []struct {
		name     string
		oneWrite bool
	}{
		{"in one write", true},
		{"while parked", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := s.dial(t)
			start := time.Now()
			if tc.oneWrite {
				c.send(t, silentProbe(silent, first), silentProbe(silent, second))
			} else {
				c.send(t, silentProbe(silent, first))
				if !waitFor(first, func() bool { return s.parkedTimes(c) == 1 }) {
					t.Fatal("the first probe did not park")
				}
				c.send(t, silentProbe(silent, second))
			}
			resp, body := c.mustReceive(t, "GET")
			checkTimedOut(t, resp, body, first)
			resp, body = c.mustReceive(t, "GET")
			checkTimedOut(t, resp, body, second)
			if took := time.Since(start); took < first+second {
				t.Errorf("both answers after %v: the second probe did not wait for the first", took)
			}
			if n := s.parkedTimes(c); n != 2 {
				t.Errorf("the connection was parked %d times, want 2", n)
			}
			if !waitFor(5*time.Second, func() bool { probes, idle := s.park.counts(); return probes == 0 && idle == 1 }) {
				probes, idle := s.park.counts()
				t.Errorf("after both answers, parked: %d probe, %d idle; want 0, 1", probes, idle)
			}
			c.Close()
			if !waitFor(5*time.Second, s.settled) {
				t.Error("the connection stayed parked after its client left")
			}
		})
	}
}

// TestParkSkipsIneligibleRequests: requests whose connection net/http
// must keep (HTTP/1.0, HEAD, a body) run the normal way and answer
// correctly.
func TestParkSkipsIneligibleRequests(t *testing.T) {
	const budget = 300 * time.Millisecond
	s := newParkServer(t, Options{})
	path := "/probe?target=" + silentTarget(t).String()
	for _, tc := range []struct {
		name, method, request string
	}{
		{"HTTP/1.0", "GET", httpRequest("GET", path, "HTTP/1.0", budgetHeader(budget))},
		{"HEAD", "HEAD", httpRequest("HEAD", path, "HTTP/1.1", budgetHeader(budget))},
		{"GET with a body", "GET", httpRequest("GET", path, "HTTP/1.1", budgetHeader(budget), "Content-Length: 4") + "ping"},
		{"GET with a chunked body", "GET", httpRequest("GET", path, "HTTP/1.1", budgetHeader(budget), "Transfer-Encoding: chunked") + "0\r\n\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := s.dial(t)
			c.send(t, tc.request)
			if !waitFor(budget, func() bool { return s.inFlight.Load() == 1 }) {
				t.Fatal("the probe did not start")
			}
			if probes, idle := s.park.counts(); probes != 0 || idle != 0 {
				t.Errorf("while the probe runs, parked: %d probe, %d idle; want none", probes, idle)
			}
			resp, body := c.mustReceive(t, tc.method)
			if n := s.parkedTimes(c); n != 0 {
				t.Errorf("the connection was parked %d times", n)
			}
			if tc.method == "HEAD" {
				if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != metricsContentType || resp.ContentLength <= 0 || body != "" {
					t.Errorf("HEAD: %s, Content-Type %q, Content-Length %d, body %q", resp.Status, resp.Header.Get("Content-Type"), resp.ContentLength, body)
				}
			} else {
				checkTimedOut(t, resp, body, budget)
			}
			if !waitFor(5*time.Second, s.settled) {
				t.Error("the probe did not settle")
			}
		})
	}
}

// TestParkSkipsImmediateAnswers: a probe whose answer is known during
// connect() (a loopback listener, a closed loopback port) or before it
// (a name that does not resolve) answers through net/http without
// parking, and the listener never sees a connection.
func TestParkSkipsImmediateAnswers(t *testing.T) {
	s := newParkServer(t, Options{})
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for _, tc := range []struct {
		name, target, want string
	}{
		{"open", l.Addr().String(), expectedProbe(1, 5, 4, "127.0.0.1", 0, "")},
		{"refused", closedPort(t), expectedProbe(0, 5, 4, "127.0.0.1", syscall.ECONNREFUSED, "refused")},
		{"no such name", "nowhere.test:22", expectedProbe(0, 5, 0, "", 0, "resolve")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := s.dial(t)
			start := time.Now()
			c.send(t, httpRequest("GET", "/probe?target="+tc.target, "HTTP/1.1"))
			resp, body := c.mustReceive(t, "GET")
			if took := time.Since(start); took > parkMargin {
				t.Errorf("answered after %v", took)
			}
			if n := s.parkedTimes(c); n != 0 {
				t.Errorf("the connection was parked %d times", n)
			}
			if resp.StatusCode != http.StatusOK || resp.Close {
				t.Fatalf("%s, close %v:\n%s", resp.Status, resp.Close, body)
			}
			if err := compareMetrics(parseMetrics(t, body), tc.want, stableProbeMetrics...); err != nil {
				t.Error(err)
			}
			if probes, idle := s.park.counts(); probes != 0 || idle != 0 {
				t.Errorf("parked: %d probe, %d idle; want none", probes, idle)
			}
		})
	}
	l.(*net.TCPListener).SetDeadline(time.Now().Add(200 * time.Millisecond))
	if conn, err := l.Accept(); !errors.Is(err, os.ErrDeadlineExceeded) {
		if conn != nil {
			conn.Close()
		}
		t.Errorf("accept() on the probed listener: %v; want nothing", err)
	}
}

// TestParkShutdown: Exporter.Shutdown after http.Server.Shutdown closes
// idle parked connections at once, lets a parked probe answer in full
// with Connection: close, returns only then, and leaves nothing serving.
func TestParkShutdown(t *testing.T) {
	const budget = 500 * time.Millisecond
	s := newParkServer(t, Options{})
	silent := silentTarget(t).String()

	idle := s.dial(t)
	idle.send(t, silentProbe(silent, 10*time.Millisecond))
	idle.mustReceive(t, "GET")
	if !waitFor(5*time.Second, func() bool { _, n := s.park.counts(); return n == 1 }) {
		t.Fatal("the answered connection is not parked idle")
	}

	c := s.dial(t)
	start := time.Now()
	c.send(t, silentProbe(silent, budget))
	if !waitFor(budget, func() bool { probes, _ := s.park.counts(); return probes == 1 }) {
		t.Fatal("the probe did not park")
	}
	type answer struct {
		resp *http.Response
		body string
		err  error
		at   time.Time
	}
	answered := make(chan answer, 1)
	go func() {
		resp, body, err := c.receive("GET")
		answered <- answer{resp, body, err, time.Now()}
	}()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.srv.Config.Shutdown(ctx); err != nil {
		t.Fatalf("http.Server.Shutdown: %v", err)
	}
	if err := s.Exporter.Shutdown(ctx); err != nil {
		t.Fatalf("Exporter.Shutdown: %v", err)
	}
	returned := time.Now()
	if probes, idle := s.park.counts(); probes != 0 || idle != 0 {
		t.Errorf("Exporter.Shutdown returned with %d probes and %d idle connections parked", probes, idle)
	}
	if s.inFlight.Load() != 0 {
		t.Errorf("Exporter.Shutdown returned with %d probes in flight", s.inFlight.Load())
	}
	if took := returned.Sub(start); took < budget {
		t.Errorf("Exporter.Shutdown returned %v after the probe was sent, before its budget %v", took, budget)
	}

	a := <-answered
	if a.err != nil {
		t.Fatalf("the parked probe's answer: %v", a.err)
	}
	checkTimedOut(t, a.resp, a.body, budget)
	if !a.resp.Close {
		t.Error("the answer during shutdown lacks Connection: close")
	}
	c.checkClosedByServer(t)
	idle.checkClosedByServer(t)

	if conn, err := net.DialTimeout("tcp", s.addr, time.Second); err == nil {
		conn.Close()
		t.Error("the server still accepts connections after shutdown")
	}
	if conn, err := s.Listener().Accept(); !errors.Is(err, net.ErrClosed) {
		if conn != nil {
			conn.Close()
		}
		t.Errorf("Listener().Accept after shutdown: %v, want net.ErrClosed", err)
	}
}

// TestParkAbove: probes park only beyond Options.ParkAbove in flight.
func TestParkAbove(t *testing.T) {
	const above, total = 5, 8
	const budget = 5 * time.Second // ended early: the clients hang up
	s := newParkServer(t, Options{ParkAbove: above})
	silent := silentTarget(t).String()
	clients := make([]*rawClient, total)
	for i := range clients {
		c := s.dial(t)
		clients[i] = c
		c.send(t, silentProbe(silent, budget))
		n := int64(i + 1)
		if !waitFor(budget/4, func() bool { return s.inFlight.Load() == n }) {
			t.Fatalf("%d probes in flight, want %d", s.inFlight.Load(), n)
		}
		// The decision to park is taken before a probe counts as in
		// flight; the connection is given up right after its SYN.
		if n > above && !waitFor(budget/4, func() bool { return s.parkedTimes(c) == 1 }) {
			t.Fatalf("probe %d, with %d in flight before it, did not park", n, n-1)
		}
		if probes, _ := s.park.counts(); probes != int(max(0, n-above)) {
			t.Errorf("with %d probes in flight, %d parked; want %d", n, probes, max(0, n-above))
		}
	}
	for i, c := range clients {
		if want := boolInt(i >= above); s.parkedTimes(c) != want {
			t.Errorf("probe %d, with %d in flight before it: parked %d times, want %d", i+1, i, s.parkedTimes(c), want)
		}
	}
	if n := s.parkedTotal(); n != total-above {
		t.Errorf("%d connections parked, want %d", n, total-above)
	}
	for _, c := range clients {
		c.Close()
	}
	if !waitFor(budget/4, s.settled) {
		t.Errorf("%d probes in flight after every client hung up", s.inFlight.Load())
	}
}

// TestParkedConcurrencyLimit: a probe that would park beyond
// --probe.max-concurrency is refused at once through net/http, and
// leaves the parked count as it was.
func TestParkedConcurrencyLimit(t *testing.T) {
	const budget = 5 * time.Second // ended early: the client hangs up
	s := newParkServer(t, Options{MaxConcurrency: 1})
	silent := silentTarget(t).String()
	held := s.dial(t)
	held.send(t, silentProbe(silent, budget))
	if !waitFor(budget/4, func() bool { probes, _ := s.park.counts(); return probes == 1 && s.parkedTimes(held) == 1 }) {
		t.Fatal("the first probe did not park")
	}
	c := s.dial(t)
	start := time.Now()
	c.send(t, silentProbe(silent, budget))
	resp, body := c.mustReceive(t, "GET")
	if took := time.Since(start); took > parkMargin {
		t.Errorf("the refused probe answered after %v", took)
	}
	if n := s.parkedTimes(c); n != 0 {
		t.Errorf("the refused probe's connection was parked %d times", n)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s:\n%s", resp.Status, body)
	}
	if err := compareMetrics(parseMetrics(t, body), expectedProbe(0, 5, 0, "", syscall.EAGAIN, "local"), stableProbeMetrics...); err != nil {
		t.Error(err)
	}
	if probes, _ := s.park.counts(); probes != 1 || s.inFlight.Load() != 1 {
		t.Errorf("after the refusal: %d parked, %d in flight; want 1, 1", probes, s.inFlight.Load())
	}
	held.Close()
	if !waitFor(budget/4, s.settled) {
		t.Error("the parked probe did not end when its client hung up")
	}
}

// TestParkShutdownClosesWakingConnections: idle parked connections whose
// next request comes after http.Server.Shutdown, when the listener they
// would return through is closed, are closed, not left open with their
// request unanswered.
func TestParkShutdownClosesWakingConnections(t *testing.T) {
	const n = 16
	s := newParkServer(t, Options{})
	silent := silentTarget(t).String()
	clients := make([]*rawClient, n)
	for i := range clients {
		clients[i] = s.dial(t)
		clients[i].send(t, silentProbe(silent, 10*time.Millisecond))
	}
	for _, c := range clients {
		c.mustReceive(t, "GET")
	}
	if !waitFor(5*time.Second, func() bool { _, idle := s.park.counts(); return idle == n }) {
		t.Fatal("the answered connections are not parked idle")
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.srv.Config.Shutdown(ctx); err != nil {
		t.Fatalf("http.Server.Shutdown: %v", err)
	}
	for _, c := range clients {
		c.send(t, httpRequest("GET", "/metrics", "HTTP/1.1"))
	}
	// Every connection leaves the watcher for the closed listener.
	if !waitFor(5*time.Second, func() bool { _, idle := s.park.counts(); return idle == 0 }) {
		t.Fatal("the watcher did not see the requests")
	}
	if err := s.Exporter.Shutdown(ctx); err != nil {
		t.Fatalf("Exporter.Shutdown: %v", err)
	}
	// Read every connection at once: a read past the deadline would not
	// even look.
	closed := make(chan bool, n)
	deadline := time.Now().Add(2 * time.Second)
	for _, c := range clients {
		c.SetReadDeadline(deadline)
		go func() {
			// An answer may come first (net/http may still take the
			// connection), then the close.
			_, err := io.ReadAll(c.r)
			closed <- !errors.Is(err, os.ErrDeadlineExceeded)
		}()
	}
	hanging := 0
	for range n {
		if !<-closed {
			hanging++
		}
	}
	if hanging > 0 {
		t.Errorf("%d of %d connections that woke after http.Server.Shutdown are still open after Exporter.Shutdown, their request unanswered", hanging, n)
	}
}

// TestParkNever: a negative ParkAbove never parks, and neither does an
// Exporter whose Listener nobody serves; both answer the normal way.
func TestParkNever(t *testing.T) {
	const budget = 200 * time.Millisecond
	silent := silentTarget(t).String()
	t.Run("ParkAbove negative", func(t *testing.T) {
		s := newParkServer(t, Options{ParkAbove: -1})
		c := s.dial(t)
		c.send(t, silentProbe(silent, budget))
		resp, body := c.mustReceive(t, "GET")
		checkTimedOut(t, resp, body, budget)
		if n := s.parkedTotal(); n != 0 {
			t.Errorf("%d connections parked", n)
		}
	})
	t.Run("Listener not served", func(t *testing.T) {
		s := newTestServer(t, Options{ParkAbove: 0})
		c, err := net.Dial("tcp", strings.TrimPrefix(s.URL, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		client := &rawClient{Conn: c, r: bufio.NewReader(c)}
		defer client.Close()
		client.send(t, silentProbe(silent, budget))
		if !waitFor(budget, func() bool { return s.inFlight.Load() == 1 }) {
			t.Fatal("the probe did not start")
		}
		if probes, _ := s.park.counts(); probes != 0 {
			t.Errorf("%d probes parked", probes)
		}
		resp, body := client.mustReceive(t, "GET")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s:\n%s", resp.Status, body)
		}
		if err := compareMetrics(parseMetrics(t, body), expectedProbe(0, budget.Seconds(), 4, "127.0.0.1", syscall.ETIMEDOUT, "timeout"), stableProbeMetrics...); err != nil {
			t.Error(err)
		}
		if parkingStarted(s.Exporter) {
			t.Error("parking started without its Listener served")
		}
	})
}
