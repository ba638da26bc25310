package main

// The continuous scenario: synack_exporter in continuous mode beside
// Debian's smokeping_prober (ICMP, the tool it replaces) and a floor
// loop, each checking the same namespace addresses once per interval.

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/seed-5ff58b3a/synack_exporter/internal/netns"
)

// continuousPort is the port of every continuous target: one listener on
// 0.0.0.0 answers all of them.
const continuousPort = 7000

// continuousTarget is the i-th target address: 198.18.0.1 up, 250 per
// /24. The namespace routes all of 198.18.0.0/15 to its lo as local, so
// each answers ICMP echo and TCP without an address of its own.
func continuousTarget(i int) netip.Addr {
	return netip.AddrFrom4([4]byte{198, 18 + byte(i/250/256), byte(i / 250 % 256), byte(1 + i%250)})
}

// continuousCounters count what the checks put on the wire, on lo's
// output path (each packet once): the SYNs to the target port, the bare
// ACKs (a handshake completed: must stay 0) and the RSTs.
var continuousCounters = fmt.Sprintf(`table inet synack_continuous {
	counter syns { }
	counter acks { }
	counter rsts { }
	chain output {
		type filter hook output priority 0; policy accept;
		tcp dport %[1]d tcp flags & (fin | syn | rst | ack) == syn counter name syns
		tcp dport %[1]d tcp flags & (fin | syn | rst | ack) == ack counter name acks
		tcp dport %[1]d tcp flags & rst == rst counter name rsts
	}
}
`, continuousPort)

// continuousOptions are the knobs of the continuous scenario.
type continuousOptions struct {
	synack, smokeping string // binaries
	prometheus        string // for scrape_duration_seconds at the largest size; "" skips it
	sizes             []int  // synack_exporter and floor: targets
	pingSizes         []int  // smokeping_prober: hosts
	interval          time.Duration
	warmup, duration  time.Duration
	noSynack          bool // floor and smokeping_prober only
	dir               string
}

// continuousRun is one measured window of one tool at one size.
type continuousRun struct {
	tool       string
	targets    int
	elapsed    time.Duration // the CPU window
	counted    time.Duration // the window of the counters: scrape to scrape
	ended      float64       // checks (pings) that ended between the scrapes
	open       float64       // of them answered
	cpu        time.Duration
	rssKB      int64
	p50, p99   time.Duration // the answer time as the tool reports it
	lateP50    time.Duration // start delay (synack_exporter's own histogram)
	lateP99    time.Duration
	deferred   float64
	series     int // synack_exporter_continuous_targets
	accepts    int64
	acks, syns int64
	leaks      float64       // synack_exporter_ack_leaks_total: the ACKs it saw leave
	scrapes    []scrapeSize  // synack_exporter: /metrics at the end
	promScrape time.Duration // Prometheus's median scrape_duration_seconds, largest size
}

// scrapeSize is one /metrics fetch.
type scrapeSize struct {
	format string
	bytes  int
	took   time.Duration
}

// wanted is the checks scheduled in the counters' window.
func (r continuousRun) wanted(interval time.Duration) float64 {
	return float64(r.targets) * r.counted.Seconds() / interval.Seconds()
}

// cpuPerCheck is the CPU over the checks ended at the rate the counters
// saw, since the CPU window sits inside the counters' one.
func (r continuousRun) cpuPerCheck() time.Duration {
	if r.ended == 0 || r.counted == 0 {
		return 0
	}
	return time.Duration(float64(r.cpu) / (r.ended * r.elapsed.Seconds() / r.counted.Seconds()))
}

// continuousEnv is the namespace: every 198.18.0.0/15 address local on
// lo, one listener counting accepts, the wire counters.
type continuousEnv struct {
	ns     *netns.NS
	target *acceptCounter
	client *http.Client
}

func newContinuousEnv() (env *continuousEnv, err error) {
	ns, err := netns.Create("synack-bench-continuous")
	if err != nil {
		return nil, err
	}
	env = &continuousEnv{ns: ns}
	defer func() {
		if err != nil {
			env.close()
		}
	}()
	for _, args := range [][]string{
		{"ip", "route", "add", "local", "198.18.0.0/15", "dev", "lo"},
		{"sysctl", "-q", "-w", "net.ipv4.ip_local_port_range=1024 65000"},
		// Room for a second's SYNs of every target in the listener's queue.
		{"sysctl", "-q", "-w", "net.ipv4.tcp_max_syn_backlog=65536"},
		{"sysctl", "-q", "-w", "net.core.somaxconn=65535"},
	} {
		if err := ns.Run(args...); err != nil {
			return env, err
		}
	}
	if err := ns.Nft(continuousCounters); err != nil {
		return env, err
	}
	if env.target, err = countAccepts(ns, continuousPort); err != nil {
		return env, err
	}
	env.client = newClient(ns, 4)
	return env, nil
}

func (env *continuousEnv) close() {
	if env.target != nil {
		env.target.ln.Close()
	}
	env.ns.Close()
}

var nftPackets = regexp.MustCompile(`packets (\d+)`)

// wire returns the SYN and bare-ACK counts so far.
func (env *continuousEnv) wire() (syns, acks int64, err error) {
	read := func(name string) (int64, error) {
		s, err := env.ns.Output("nft", "list", "counter", "inet", "synack_continuous", name)
		if err != nil {
			return 0, err
		}
		m := nftPackets.FindStringSubmatch(s)
		if m == nil {
			return 0, fmt.Errorf("no packet count in %q", s)
		}
		return strconv.ParseInt(m[1], 10, 64)
	}
	if syns, err = read("syns"); err != nil {
		return 0, 0, err
	}
	acks, err = read("acks")
	return syns, acks, err
}

func runContinuous(o continuousOptions, out io.Writer) error {
	env, err := newContinuousEnv()
	if err != nil {
		return err
	}
	defer env.close()
	var runs []continuousRun
	add := func(r continuousRun, err error) error {
		if err != nil {
			return err
		}
		logf("%s, %d targets: %.0f of %.0f checks ended, CPU %v (%v a check), RSS %d kB, p50/p99 %v/%v, late p50/p99 %v/%v, accepts %d, ACKs %d (counted by the exporter: %.0f)",
			r.tool, r.targets, r.ended, r.wanted(o.interval), r.cpu.Round(time.Millisecond), r.cpuPerCheck(),
			r.rssKB, r.p50, r.p99, r.lateP50, r.lateP99, r.accepts, r.acks, r.leaks)
		runs = append(runs, r)
		return nil
	}
	for _, n := range o.pingSizes {
		if err := add(env.measureSmokeping(o, n)); err != nil {
			return fmt.Errorf("smokeping_prober at %d hosts: %w", n, err)
		}
	}
	for _, n := range o.sizes {
		if err := add(env.measureFloor(o, n)); err != nil {
			return fmt.Errorf("floor at %d targets: %w", n, err)
		}
		if o.noSynack {
			continue
		}
		if err := add(env.measureSynack(o, n, true)); err != nil {
			return fmt.Errorf("synack_exporter at %d targets: %w", n, err)
		}
	}
	if len(o.sizes) > 0 && !o.noSynack {
		n := o.sizes[len(o.sizes)-1]
		if err := add(env.measureSynack(o, n, false)); err != nil {
			return fmt.Errorf("synack_exporter without classic buckets at %d targets: %w", n, err)
		}
	}
	writeContinuous(out, o, runs, firstLine(o.smokeping, "--version"))
	return nil
}

// window measures a running process: warm-up, a first scrape, CPU and
// wire counters, the window, CPU and counters again, a second scrape.
// The scrapes fall outside the CPU window.
func (env *continuousEnv) window(o continuousOptions, p *proc, metricsURL string) (r continuousRun, before, after families, err error) {
	time.Sleep(o.warmup)
	ctx := context.Background()
	scrape := func() (families, time.Time, error) {
		t := time.Now()
		f, err := scrapeFamilies(ctx, env.client, metricsURL)
		return f, t.Add(time.Since(t) / 2), err
	}
	before, at0, err := scrape()
	if err != nil {
		return r, nil, nil, err
	}
	cpu0, err := preciseCPU(p.pid())
	if err != nil {
		return r, nil, nil, err
	}
	syns0, acks0, err := env.wire()
	if err != nil {
		return r, nil, nil, err
	}
	acc0, start := env.target.accepted.Load(), time.Now()
	time.Sleep(o.duration)
	cpu1, err := preciseCPU(p.pid())
	if err != nil {
		return r, nil, nil, err
	}
	r.elapsed = time.Since(start)
	syns1, acks1, err := env.wire()
	if err != nil {
		return r, nil, nil, err
	}
	r.cpu, r.syns, r.acks, r.accepts = cpu1-cpu0, syns1-syns0, acks1-acks0, env.target.accepted.Load()-acc0
	if r.rssKB, err = statusKB(p.pid(), "VmRSS"); err != nil {
		return r, nil, nil, err
	}
	after, at1, err := scrape()
	if err != nil {
		return r, nil, nil, err
	}
	r.counted = at1.Sub(at0)
	return r, before, after, p.alive()
}

// measureSmokeping runs smokeping_prober pinging n of the addresses.
func (env *continuousEnv) measureSmokeping(o continuousOptions, n int) (continuousRun, error) {
	const listen = "127.0.0.1:9374"
	args := []string{o.smokeping, "--privileged", "--web.listen-address=" + listen, "--log.level=warn",
		"--ping.interval=" + o.interval.String()}
	for i := range n {
		args = append(args, continuousTarget(i).String())
	}
	p, err := startIn(env.ns, "smokeping_prober", args...)
	if err != nil {
		return continuousRun{}, err
	}
	defer p.stop(5 * time.Second)
	url := "http://" + listen + "/metrics"
	if err := env.waitMetrics(p, url); err != nil {
		return continuousRun{}, err
	}
	r, before, after, err := env.window(o, p, url)
	if err != nil {
		return r, err
	}
	r.tool, r.targets = "smokeping_prober", n
	// requests_total counts pings sent; the histogram's count, answers.
	r.ended = after.sum("smokeping_requests_total") - before.sum("smokeping_requests_total")
	h := after.histogram("smokeping_response_duration_seconds").since(before.histogram("smokeping_response_duration_seconds"))
	r.open = float64(h.count)
	r.p50, r.p99 = quantileDur(h, 0.5), quantileDur(h, 0.99)
	return r, nil
}

// measureFloor runs the floor child over n targets.
func (env *continuousEnv) measureFloor(o continuousOptions, n int) (continuousRun, error) {
	syns0, acks0, err := env.wire()
	if err != nil {
		return continuousRun{}, err
	}
	acc0 := env.target.accepted.Load()
	w, err := runContinuousFloor(env.ns, n, o.interval, o.warmup, o.duration)
	if err != nil {
		return continuousRun{}, err
	}
	syns1, acks1, err := env.wire()
	if err != nil {
		return continuousRun{}, err
	}
	return continuousRun{tool: floorName, targets: n, elapsed: w.Elapsed, counted: w.Elapsed, ended: float64(w.Checks), open: float64(w.Open),
		cpu: w.CPU, lateP99: w.LateP99, syns: syns1 - syns0, acks: acks1 - acks0, accepts: env.target.accepted.Load() - acc0}, nil
}

// measureSynack runs synack_exporter in continuous mode over n targets,
// with or without the classic buckets of its response histogram.
func (env *continuousEnv) measureSynack(o continuousOptions, n int, classic bool) (continuousRun, error) {
	const listen = "127.0.0.1:9847"
	var cfg strings.Builder
	fmt.Fprintf(&cfg, "modules:\n  bench:\n    timeout: 1s\n    preferred_ip_protocol: ip4\ncontinuous:\n  - module: bench\n    interval: %v\n    targets:\n", o.interval)
	for i := range n {
		fmt.Fprintf(&cfg, "      - %v:%d\n", continuousTarget(i), continuousPort)
	}
	file := filepath.Join(o.dir, "continuous.yml")
	if err := os.WriteFile(file, []byte(cfg.String()), 0o644); err != nil {
		return continuousRun{}, err
	}
	args := []string{o.synack, "--web.listen-address=" + listen, "--log.level=warn", "--config.file=" + file,
		// The rate limit is not what is measured: room for every target.
		fmt.Sprintf("--continuous.max-rate=%d", 2*n*int(time.Second/o.interval)+1000)}
	if !classic {
		args = append(args, continuousNoClassicFlag)
	}
	p, err := startIn(env.ns, synackName, args...)
	if err != nil {
		return continuousRun{}, err
	}
	defer p.stop(10 * time.Second)
	url := "http://" + listen + "/metrics"
	if err := env.waitMetrics(p, url); err != nil {
		return continuousRun{}, err
	}
	r, before, after, err := env.window(o, p, url)
	if err != nil {
		return r, err
	}
	r.tool, r.targets = synackName, n
	if !classic {
		r.tool = synackName + ", no classic buckets"
	}
	r.ended = after.sum("synack_checks_total") - before.sum("synack_checks_total")
	r.open = after.sum("synack_checks_total", "class", "open") - before.sum("synack_checks_total", "class", "open")
	r.deferred = after.sum("synack_exporter_continuous_checks_deferred_total") - before.sum("synack_exporter_continuous_checks_deferred_total")
	r.series = int(after.sum("synack_exporter_continuous_targets"))
	r.leaks = after.sum("synack_exporter_ack_leaks_total") - before.sum("synack_exporter_ack_leaks_total")
	h := after.histogram("synack_response_duration_seconds").since(before.histogram("synack_response_duration_seconds"))
	r.p50, r.p99 = quantileDur(h, 0.5), quantileDur(h, 0.99)
	late := after.histogram("synack_exporter_continuous_start_delay_seconds").since(before.histogram("synack_exporter_continuous_start_delay_seconds"))
	r.lateP50, r.lateP99 = quantileDur(late, 0.5), quantileDur(late, 0.99)
	for _, f := range []struct{ name, accept string }{
		{"text", "text/plain;version=0.0.4"},
		{"protobuf", protoAccept},
	} {
		s, err := env.fetchSize(url, f.accept)
		if err != nil {
			return r, err
		}
		s.format = f.name
		r.scrapes = append(r.scrapes, s)
	}
	if o.prometheus != "" && n == o.sizes[len(o.sizes)-1] {
		if r.promScrape, err = env.prometheusScrapeDuration(o.prometheus, o.dir, listen); err != nil {
			return r, err
		}
	}
	return r, nil
}

// continuousNoClassicFlag turns off the classic buckets of
// synack_response_duration_seconds.
const continuousNoClassicFlag = "--continuous.buckets="

// fetchSize fetches /metrics three times, uncompressed, and keeps the
// median time.
func (env *continuousEnv) fetchSize(url, accept string) (scrapeSize, error) {
	var s scrapeSize
	var took []time.Duration
	for range 3 {
		req, err := http.NewRequest(http.MethodGet, url, nil)
		if err != nil {
			return s, err
		}
		req.Header.Set("Accept", accept)
		start := time.Now()
		resp, err := env.client.Do(req)
		if err != nil {
			return s, err
		}
		var body bytes.Buffer
		_, err = io.Copy(&body, resp.Body)
		resp.Body.Close()
		if err != nil {
			return s, err
		}
		took = append(took, time.Since(start))
		s.bytes = body.Len()
	}
	s.took = percentile(took, 0.5)
	return s, nil
}

// startLimit bounds a tool's start: smokeping_prober sets up every
// pinger before it serves /metrics, which takes long at 1,000 hosts on a
// busy machine.
const startLimit = 2 * time.Minute

// waitMetrics waits until url answers 200.
func (env *continuousEnv) waitMetrics(p *proc, url string) error {
	deadline := time.Now().Add(startLimit)
	for {
		if err := p.alive(); err != nil {
			return err
		}
		resp, err := env.client.Get(url)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: %s not answering after %v: %v\n%s", p.name, url, startLimit, err, p.stderr)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// quantileDur is h's q-quantile as a duration, 0 when h is empty.
func quantileDur(h hist, q float64) time.Duration {
	v := h.quantile(q)
	if math.IsNaN(v) {
		return 0
	}
	return seconds(v)
}

// preciseCPU is the run time of every thread of pid so far, from
// /proc/PID/task/*/schedstat, in nanoseconds: /proc/PID/stat counts in
// 10 ms ticks, too coarse for 100 checks a second. A thread that has
// exited is missing; Go rarely ends threads.
func preciseCPU(pid int) (time.Duration, error) {
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", pid))
	if err != nil || len(tasks) == 0 {
		return cpuTime(pid)
	}
	var total time.Duration
	for _, t := range tasks {
		b, err := os.ReadFile(t)
		if err != nil {
			continue // the thread just ended
		}
		f := strings.Fields(string(b))
		if len(f) == 0 {
			continue
		}
		ns, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%s: %w", t, err)
		}
		total += time.Duration(ns)
	}
	return total, nil
}
