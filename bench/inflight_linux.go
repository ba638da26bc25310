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
	synack string
	probes int
	budget time.Duration // the silent module's timeout
	scrape time.Duration // the scrape timeout the requests announce
	dir    string
}

// inflightResult is what scenario 2 measured through the exporter.
type inflightResult struct {
	probes             int
	fileLimit          uint64
	maxInFlight        int
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
	engine             engineReport
	// The exporter's own accounting (/metrics) once every probe was in
	// flight.
	plateauStack, plateauHeap uint64
	plateauGoroutines         int
	plateauParked             int
}

// fdHeadroom is what a process needs besides the probes' descriptors.
const fdHeadroom = 100

func runInflight(o inflightOptions, out io.Writer) error {
	// Every probe holds a socket, and every request a connection, in the
	// exporter: 2 descriptors a probe. The children inherit the limit,
	// raised to the hard one; a hard limit only CAP_SYS_RESOURCE may
	// raise bounds how many probes the exporter can hold over HTTP/1.1.
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return err
	}
	want := uint64(2*o.probes + fdHeadroom)
	if lim.Max < want {
		raised := syscall.Rlimit{Cur: want, Max: want}
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &raised); err == nil {
			lim = raised
		}
	}
	lim.Cur = lim.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return err
	}
	httpProbes := min(o.probes, int(lim.Max-fdHeadroom)/2)
	if httpProbes < o.probes {
		logf("in flight: the open files limit is %d and cannot be raised: %d probes through the exporter, %d through the engine alone",
			lim.Max, httpProbes, o.probes)
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
	} {
		if err := ns.Run(cmd...); err != nil {
			return err
		}
	}
	if err := ns.Nft(silentRules); err != nil {
		return err
	}
	client := newClient(ns, httpProbes+16)
	syn, err := synackSpec(o.synack, "127.0.0.1:9847", fmt.Sprintf("--probe.max-concurrency=%d", 2*o.probes)).start(ns, client, o.dir)
	if err != nil {
		return err
	}
	defer syn.proc.stop(o.budget + 5*time.Second)
	pid := syn.proc.pid()

	r := inflightResult{probes: httpProbes, fileLimit: lim.Max}
	// The base: the exporter idle, no client connection open.
	client.CloseIdleConnections()
	time.Sleep(200 * time.Millisecond)
	if r.baseFDs, err = fdCount(pid); err != nil {
		return err
	}
	if r.baseRSSKB, err = statusKB(pid, "VmRSS"); err != nil {
		return err
	}
	if err := resetPeakRSS(pid); err != nil {
		return err
	}
	cpu0, _ := cpuTime(pid)

	// Sample the exporter while the probes run.
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			if n, err := fdCount(pid); err == nil {
				r.peakFDs = max(r.peakFDs, n)
			}
			if m, ok := selfMetrics(client, syn); ok {
				n := int(m["synack_exporter_probes_in_flight"])
				r.maxInFlight = max(r.maxInFlight, n)
				if n == httpProbes && r.plateauGoroutines == 0 {
					r.plateauStack = uint64(m["go_memstats_stack_inuse_bytes"])
					r.plateauHeap = uint64(m["go_memstats_heap_alloc_bytes"])
					r.plateauGoroutines = int(m["go_goroutines"])
					r.plateauParked = int(m[parkedSeries])
				}
			}
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()

	url := syn.probeURL("silent", silentTarget)
	responses := make([]response, httpProbes)
	ctx, cancel := context.WithTimeout(context.Background(), o.scrape+30*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	start := time.Now()
	for i := range httpProbes {
		wg.Go(func() { responses[i] = get(ctx, client, url, o.scrape) })
	}
	r.rampUp = time.Since(start)
	wg.Wait()
	close(stop)
	<-sampled
	cpu1, _ := cpuTime(pid)
	r.cpu = cpu1 - cpu0
	if r.peakKB, err = statusKB(pid, "VmHWM"); err != nil {
		return err
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
		timeout, _ := metric(resp.body, "probe_timeout_seconds")
		took, _ := metric(resp.body, "probe_duration_seconds")
		success, _ := metric(resp.body, "probe_success")
		over := time.Duration((took - timeout) * float64(time.Second))
		r.maxOverBudget = max(r.maxOverBudget, over)
		if success == 0 && hasSeries(resp.body, `probe_tcp_error_class{class="timeout"} 1`) {
			r.timeouts++
			continue
		}
		r.others++
		if r.firstNonTimeoutMsg == "" {
			r.firstNonTimeoutMsg = string(resp.body)
		}
	}
	r.p50Latency = percentile(lat, 0.5)

	// Everything is answered: the exporter's sockets must all be closed.
	client.CloseIdleConnections()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if r.afterFDs, err = fdCount(pid); err != nil {
			return err
		}
		if r.afterFDs <= r.baseFDs || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := syn.proc.alive(); err != nil {
		return err
	}
	syn.proc.stop(o.budget)
	if r.engine, err = runEngine(ns, o.probes, silentTarget, o.budget); err != nil {
		return err
	}
	logf("in flight, engine alone: %d probes, %d timeouts, peak RSS %d MB (stacks %d MB, heap %d MB live of %d MB), fds %d -> %d -> %d, worst over budget %s",
		r.engine.Probes, r.engine.Timeouts, r.engine.PeakRSSKB/1024, r.engine.StackInuse>>20, r.engine.HeapAlloc>>20, r.engine.HeapSys>>20,
		r.engine.BaseFDs, r.engine.PeakFDs, r.engine.AfterFDs, fmtDur(r.engine.MaxOverBudget))
	logf("in flight: %d probes, max in flight %d, peak RSS %d MB, fds %d -> %d -> %d, %d timeouts, %d other, %d HTTP errors, worst over budget %s",
		r.probes, r.maxInFlight, r.peakKB/1024, r.baseFDs, r.peakFDs, r.afterFDs, r.timeouts, r.others, r.httpErrors, fmtDur(r.maxOverBudget))
	writeInflight(out, o, r)
	return nil
}

// parkedSeries counts the connections parked with their probe running.
const parkedSeries = `synack_exporter_parked_connections{state="probe"}`

// selfMetrics reads the probes in flight and Go's memory accounting
// from the exporter's /metrics.
func selfMetrics(c *http.Client, e *exporter) (map[string]float64, bool) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	resp := get(ctx, c, e.base+"/metrics", time.Second)
	m := make(map[string]float64)
	for _, name := range []string{"synack_exporter_probes_in_flight", "go_memstats_stack_inuse_bytes", "go_memstats_heap_alloc_bytes", "go_goroutines", parkedSeries} {
		v, ok := metric(resp.body, name)
		if !ok {
			return nil, false
		}
		m[name] = v
	}
	return m, true
}

// hasSeries reports whether the exposition has line as a whole line.
func hasSeries(body []byte, line string) bool {
	return bytes.Contains(append([]byte{'\n'}, body...), []byte("\n"+line+"\n"))
}
