package collector

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/seed-5ff58b3a/synack_exporter/config"
	"github.com/seed-5ff58b3a/synack_exporter/internal/leakcheck"
)

// The soak's length and rate. The defaults make a short run that fits in
// the normal test suite, race detector included; the full soak is
//
//	SYNACK_SOAK_DURATION=60s SYNACK_SOAK_RATE=2000 go test -run '^TestSoak$' -v -timeout 10m ./collector/
const (
	soakDurationEnv = "SYNACK_SOAK_DURATION"
	soakRateEnv     = "SYNACK_SOAK_RATE"
)

func soakParams(t *testing.T) (time.Duration, int) {
	duration, rate := 5*time.Second, 200
	if s := os.Getenv(soakDurationEnv); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 {
			t.Fatalf("%s=%q is not a positive duration", soakDurationEnv, s)
		}
		duration = d
	}
	if s := os.Getenv(soakRateEnv); s != "" {
		r, err := strconv.Atoi(s)
		if err != nil || r <= 0 {
			t.Fatalf("%s=%q is not a positive number of probes a second", soakRateEnv, s)
		}
		rate = r
	}
	return duration, rate
}

// soakTarget is one kind of target the soak probes in turn.
type soakTarget struct {
	name, addr string
	want       string // a line every answer for it must have
	count      atomic.Int64
	wrong      atomic.Int64
	mu         sync.Mutex
	latencies  []time.Duration
}

// TestSoak drives /probe at a steady rate over real HTTP with mixed
// outcomes (an open port, a closed one, one that drops SYNs) and checks
// every answer; afterwards the process's file descriptors and goroutines
// must be back where they started, and no ACK may have leaked.
func TestSoak(t *testing.T) {
	duration, rate := soakParams(t)
	const budget = 250 * time.Millisecond
	// A third of the probes last the whole budget, the rest a millisecond
	// or so: this many workers keep up with room to spare. More only add
	// connections and goroutines that compete with the prober's loop.
	workers := max(64, rate*int(budget/time.Millisecond)/1000/2)

	s := newSoakServer(t)
	targets := []*soakTarget{
		{name: "open", addr: openPort(t, "tcp4", "127.0.0.1:0"), want: "probe_success 1\n"},
		{name: "refused", addr: closedPort(t), want: "probe_tcp_error_class{class=\"refused\"} 1\n"},
		{name: "silent", addr: silentTarget(t).String(), want: "probe_tcp_error_class{class=\"timeout\"} 1\n"},
	}
	// Everything the server itself needs is open; measure from here.
	runtime.GC()
	baseFDs, baseGoroutines := leakcheck.OpenFDs(t), runtime.NumGoroutine()

	transport := &http.Transport{MaxIdleConnsPerHost: workers}
	client := &http.Client{Transport: transport, Timeout: 10 * budget}
	jobs := make(chan int, rate) // a second of backlog at most
	var failed atomic.Int64
	var firstFailure sync.Once
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := range jobs {
				target := targets[i%len(targets)]
				start := time.Now()
				body, err := soakProbe(client, s.URL, target.addr, budget)
				took := time.Since(start)
				target.count.Add(1)
				if err != nil || !strings.Contains(body, target.want) || !strings.Contains(body, "probe_tcp_ack_sent 0\n") {
					target.wrong.Add(1)
					if err != nil {
						failed.Add(1)
					}
					firstFailure.Do(func() { t.Errorf("%s: %v\n%s", target.name, err, body) })
				}
				target.mu.Lock()
				target.latencies = append(target.latencies, took)
				target.mu.Unlock()
			}
		})
	}

	// A sampler notes the peaks while the load runs.
	var peakFDs, peakGoroutines, peakInFlight int
	stopSampling := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stopSampling:
				return
			case <-tick.C:
				peakFDs = max(peakFDs, leakcheck.OpenFDs(t))
				peakGoroutines = max(peakGoroutines, runtime.NumGoroutine())
				peakInFlight = max(peakInFlight, int(s.inFlight.Load()))
			}
		}
	}()

	// The pacer sends probe i at start + i/rate, so a slow exporter shows
	// as a backlog and a lower achieved rate rather than a silent pause.
	start := time.Now()
	interval := time.Second / time.Duration(rate)
	sent, lateMax := 0, time.Duration(0)
	for due := start; due.Sub(start) < duration; due = due.Add(interval) {
		if wait := time.Until(due); wait > 0 {
			time.Sleep(wait)
		} else {
			lateMax = max(lateMax, -wait)
		}
		jobs <- sent
		sent++
	}
	paced := time.Since(start)
	close(jobs)
	wg.Wait()
	elapsed := time.Since(start)
	close(stopSampling)
	<-sampled

	// Afterwards: connections closed, every goroutine and descriptor of
	// the run gone.
	transport.CloseIdleConnections()
	var fds, goroutines int
	settled := waitFor(10*time.Second, func() bool {
		fds, goroutines = leakcheck.OpenFDs(t), runtime.NumGoroutine()
		return fds <= baseFDs && goroutines <= baseGoroutines
	})
	leaks := testutil.ToFloat64(s.metrics.ackLeaks)

	t.Logf("soak: %d probes sent in %v (all answered after %v): %d/s asked, %.0f/s achieved, pacer at most %v late; %d workers",
		sent, paced.Round(time.Millisecond), elapsed.Round(time.Millisecond), rate, float64(sent)/paced.Seconds(),
		lateMax.Round(time.Millisecond), workers)
	for _, target := range targets {
		slices.Sort(target.latencies)
		n := len(target.latencies)
		t.Logf("soak: %-7s %6d probes, %d wrong; latency p50 %v p99 %v max %v", target.name, target.count.Load(),
			target.wrong.Load(), target.latencies[n/2].Round(time.Microsecond),
			target.latencies[n*99/100].Round(time.Microsecond), target.latencies[n-1].Round(time.Microsecond))
	}
	t.Logf("soak: fds %d before, %d peak, %d after; goroutines %d before, %d peak, %d after; %d probes in flight at peak; ack_leaks_total %g",
		baseFDs, peakFDs, fds, baseGoroutines, peakGoroutines, goroutines, peakInFlight, leaks)

	for _, target := range targets {
		if n := target.wrong.Load(); n > 0 {
			t.Errorf("%s: %d of %d answers wrong (%d requests failed in all)", target.name, n, target.count.Load(), failed.Load())
		}
	}
	if !settled {
		t.Errorf("fds %d (before %d), goroutines %d (before %d): not back to where they started", fds, baseFDs, goroutines, baseGoroutines)
		if goroutines > baseGoroutines {
			buf := make([]byte, 1<<20)
			t.Logf("goroutines:\n%s", buf[:runtime.Stack(buf, true)])
		}
	}
	if leaks != 0 {
		t.Errorf("ack_leaks_total = %g, want 0", leaks)
	}
	if got := testutil.ToFloat64(s.metrics.probes.WithLabelValues(config.DefaultModule)); got != float64(sent) {
		t.Errorf("probes_total = %g, want %d", got, sent)
	}
	if achieved := float64(sent) / paced.Seconds(); achieved < 0.9*float64(rate) {
		t.Errorf("achieved %.0f probes/s of the %d asked", achieved, rate)
	}
}

// newSoakServer is newTestServer with the process log at info, so that
// the two debug lines of every probe are not kept in memory.
func newSoakServer(t *testing.T) *testServer {
	t.Helper()
	requireLinux(t)
	c := newChecker(t, testResolver{})
	path := filepath.Join(t.TempDir(), "config.yml")
	writeFile(t, path, testConfig)
	logs := &syncBuffer{}
	e := New(Options{
		Checker:      c,
		Config:       config.NewStore(path, nil),
		Logger:       level.NewFilter(log.NewLogfmtLogger(logs), level.AllowInfo()),
		HistoryLimit: 100,
	})
	if err := e.Reload(); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	return &testServer{Exporter: e, URL: srv.URL, ConfigPath: path, logs: logs}
}

func soakProbe(client *http.Client, base, target string, budget time.Duration) (string, error) {
	req, err := http.NewRequest(http.MethodGet, base+"/probe?target="+target, nil)
	if err != nil {
		return "", err
	}
	req.Header.Set(scrapeTimeoutHeader, fmt.Sprint(budget.Seconds()))
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != 200 {
		err = fmt.Errorf("status %d", resp.StatusCode)
	}
	return string(body), err
}
