package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"syscall"
	"time"

	"github.com/seed-5ff58b3a/synack_exporter/internal/netns"
)

// silentTarget is an address on the namespace's lo whose port 9 drops
// every packet: each probe of it must end as a timeout.
const silentTarget = "198.18.0.9:9"

var silentRules = `table inet synack_bench {
	chain input {
		type filter hook input priority 0; policy accept;
		ip daddr 198.18.0.9 tcp dport 9 drop
	}
}
`

// inflightOptions are the knobs of scenario 2.
type inflightOptions struct {
	synack, blackbox string // binaries
	probes           int
	rounds           int
	budget           time.Duration // the silent module's timeout
	scrape           time.Duration // the scrape timeout the requests announce
	dir              string
}

// inflightResult is what scenario 2 measured through one server.
type inflightResult struct {
	server             string
	round              int
	probes             int
	maxInFlight        int           // the server's own count, where it has one
	rampUp             time.Duration // until the last request was sent
	baseFDs, peakFDs   int
	afterFDs           int
	baseRSSKB, peakKB  int64
	timeouts, others   int
	httpErrors         int
	maxOverBudget      time.Duration // probe_duration_seconds - probe_timeout_seconds, worst
	maxLatency         time.Duration // request written to answer read
	p50Latency         time.Duration
	cpu                time.Duration
	firstNonTimeoutMsg string
	// synack_exporter's own accounting (/metrics) once every probe was
	// in flight.
	plateauStack, plateauHeap uint64
	plateauGoroutines         int
}

// perProbeKB is the memory a probe in flight costs: peak RSS minus the
// idle RSS, over the probes in flight.
func (r inflightResult) perProbeKB() float64 {
	return float64(r.peakKB-r.baseRSSKB) / float64(max(r.probes, 1))
}

// fdHeadroom is what a process needs besides the probes' descriptors.
const fdHeadroom = 100

// inflightLimit raises the open files limit as far as it goes (children
// inherit it) and returns it with the number of probes a server can hold
// over HTTP/1.1: every probe holds a socket, and every request a
// connection, in the server: 2 descriptors a probe. A hard limit only
// CAP_SYS_RESOURCE may raise bounds it.
func inflightLimit(probes int) (uint64, int, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, 0, err
	}
	want := uint64(2*probes + fdHeadroom)
	if lim.Max < want {
		raised := syscall.Rlimit{Cur: want, Max: want}
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &raised); err == nil {
			lim = raised
		}
	}
	lim.Cur = lim.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, 0, err
	}
	n := min(probes, int(lim.Max-fdHeadroom)/2)
	if n < probes {
		logf("in flight: the open files limit is %d and cannot be raised: %d probes at once", lim.Max, n)
	}
	return lim.Max, n, nil
}

func runInflight(o inflightOptions, out io.Writer) error {
	fileLimit, probes, err := inflightLimit(o.probes)
	if err != nil {
		return err
	}
	ns, err := netns.Create("synack-bench-inflight")
	if err != nil {
		return err
	}
	defer ns.Close()
	for _, cmd := range [][]string{
		{"ip", "addr", "add", "198.18.0.9/32", "dev", "lo"},
		{"sysctl", "-q", "-w", "net.core.somaxconn=65535"},
		{"sysctl", "-q", "-w", "net.ipv4.tcp_max_syn_backlog=65535"},
		{"sysctl", "-q", "-w", "net.ipv4.ip_local_port_range=1024 65000"},
		// The servers' own ports are inside that range: keep the
		// generator's 10,000 connections (and their TIME_WAITs) off
		// them, or the next server cannot bind its port.
		{"sysctl", "-q", "-w", "net.ipv4.ip_local_reserved_ports=9115,9847,9848"},
	} {
		if err := ns.Run(cmd...); err != nil {
			return err
		}
	}
	if err := ns.Nft(silentRules); err != nil {
		return err
	}
	specs := []exporterSpec{
		floorSpec("127.0.0.1:9848"),
		synackSpec(o.synack, "127.0.0.1:9847", fmt.Sprintf("--probe.max-concurrency=%d", 2*probes)),
		blackboxSpec(o.blackbox, "127.0.0.1:9115"),
	}
	var results []inflightResult
	for round := range o.rounds {
		for _, spec := range specs {
			r, err := measureInflight(ns, spec, probes, o)
			if err != nil {
				return err
			}
			r.round = round + 1
			logf("in flight, round %d, %s: %d probes, max in flight %d, RSS %d -> %d MB (%.1f kB a probe), fds %d -> %d -> %d, %d timeouts, %d other, %d HTTP errors, worst over budget %s",
				r.round, r.server, r.probes, r.maxInFlight, r.baseRSSKB/1024, r.peakKB/1024, r.perProbeKB(), r.baseFDs, r.peakFDs, r.afterFDs, r.timeouts, r.others, r.httpErrors, fmtDur(r.maxOverBudget))
			results = append(results, r)
		}
	}
	writeInflight(out, o, fileLimit, results)
	return nil
}

// measureInflight starts the server, sends it every probe at once and
// stops it: each server starts from the same idle state.
func measureInflight(ns *netns.NS, spec exporterSpec, probes int, o inflightOptions) (inflightResult, error) {
	client := newClient(ns, probes+16)
	defer client.CloseIdleConnections()
	e, err := spec.start(ns, client, o.dir)
	if err != nil {
		return inflightResult{}, err
	}
	defer e.proc.stop(o.budget + 5*time.Second)
	pid := e.proc.pid()

	r := inflightResult{server: e.name, probes: probes}
	// The base: the server idle, no client connection open.
	client.CloseIdleConnections()
	time.Sleep(200 * time.Millisecond)
	if r.baseFDs, err = fdCount(pid); err != nil {
		return r, err
	}
	if r.baseRSSKB, err = statusKB(pid, "VmRSS"); err != nil {
		return r, err
	}
	if err := resetPeakRSS(pid); err != nil {
		return r, err
	}
	cpu0, _ := cpuTime(pid)

	// Sample the server while the probes run.
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			if n, err := fdCount(pid); err == nil {
				r.peakFDs = max(r.peakFDs, n)
			}
			if m, ok := selfMetrics(client, e); ok {
				n := int(m[e.inFlightSeries])
				r.maxInFlight = max(r.maxInFlight, n)
				if n == probes && r.plateauGoroutines == 0 && m["go_goroutines"] > 0 {
					r.plateauStack = uint64(m["go_memstats_stack_inuse_bytes"])
					r.plateauHeap = uint64(m["go_memstats_heap_alloc_bytes"])
					r.plateauGoroutines = int(m["go_goroutines"])
				}
			}
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()

	url := e.probeURL("silent", silentTarget)
	responses := make([]response, probes)
	ctx, cancel := context.WithTimeout(context.Background(), o.scrape+30*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	start := time.Now()
	for i := range probes {
		wg.Go(func() { responses[i] = get(ctx, client, url, o.scrape) })
	}
	r.rampUp = time.Since(start)
	wg.Wait()
	close(stop)
	<-sampled
	cpu1, _ := cpuTime(pid)
	r.cpu = cpu1 - cpu0
	if r.peakKB, err = statusKB(pid, "VmHWM"); err != nil {
		return r, err
	}

	var lat []time.Duration
	for _, resp := range responses {
		lat = append(lat, resp.served())
		r.maxLatency = max(r.maxLatency, resp.served())
		if resp.err != nil || resp.status != http.StatusOK {
			r.httpErrors++
			if r.firstNonTimeoutMsg == "" {
				r.firstNonTimeoutMsg = fmt.Sprintf("HTTP %d %v %.200s", resp.status, resp.err, resp.body)
			}
			continue
		}
		if timeout, ok := metric(resp.body, "probe_timeout_seconds"); ok {
			took, _ := metric(resp.body, "probe_duration_seconds")
			r.maxOverBudget = max(r.maxOverBudget, time.Duration((took-timeout)*float64(time.Second)))
		}
		success, _ := metric(resp.body, "probe_success")
		// blackbox_exporter says no more than probe_success 0 for a
		// connect that timed out; its answer's time says the rest (its
		// own deadline comes a little before the module's timeout).
		took, _ := metric(resp.body, "probe_duration_seconds")
		timedOut := hasSeries(resp.body, `probe_tcp_error_class{class="timeout"} 1`) ||
			e.name == blackboxName && took >= 0.9*o.budget.Seconds()
		if success == 0 && timedOut {
			r.timeouts++
			continue
		}
		r.others++
		if r.firstNonTimeoutMsg == "" {
			r.firstNonTimeoutMsg = string(resp.body)
		}
	}
	r.p50Latency = percentile(lat, 0.5)

	// Everything is answered: the server's sockets must all be closed.
	client.CloseIdleConnections()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if r.afterFDs, err = fdCount(pid); err != nil {
			return r, err
		}
		if r.afterFDs <= r.baseFDs || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	return r, e.proc.alive()
}

// selfMetrics reads the probes in flight and, from synack_exporter, Go's
// memory accounting from the server's /metrics.
func selfMetrics(c *http.Client, e *exporter) (map[string]float64, bool) {
	if e.inFlightSeries == "" {
		return nil, false
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	resp := get(ctx, c, e.base+"/metrics", time.Second)
	m := make(map[string]float64)
	v, ok := metric(resp.body, e.inFlightSeries)
	if !ok {
		return nil, false
	}
	m[e.inFlightSeries] = v
	for _, name := range []string{"go_memstats_stack_inuse_bytes", "go_memstats_heap_alloc_bytes", "go_goroutines"} {
		if v, ok := metric(resp.body, name); ok {
			m[name] = v
		}
	}
	return m, true
}

// hasSeries reports whether the exposition has line as a whole line.
func hasSeries(body []byte, line string) bool {
	return bytes.Contains(append([]byte{'\n'}, body...), []byte("\n"+line+"\n"))
}
