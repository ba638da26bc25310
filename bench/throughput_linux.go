package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/seed-5ff58b3a/synack_exporter/internal/fakepeer"
	"github.com/seed-5ff58b3a/synack_exporter/internal/netns"
)

// targetPort is the loopback port of the listener both exporters probe.
const targetPort = 9000

// packetCounter counts, on the namespace's loopback input path, every TCP
// packet to or from the target port: each packet on lo passes the input
// hook exactly once.
var packetCounter = fmt.Sprintf(`table inet synack_bench {
	counter target { }
	chain input {
		type filter hook input priority 0; policy accept;
		tcp dport %d counter name target
		tcp sport %d counter name target
	}
}
`, targetPort, targetPort)

// throughputOptions are the knobs of scenario 1.
type throughputOptions struct {
	synack, blackbox string // binaries
	rounds           int
	duration, warmup time.Duration
	concurrency      int
	dir              string
}

// throughputRun is one measured run of one server.
type throughputRun struct {
	exporter        string
	round           int
	probes, failed  int
	firstFailure    string
	elapsed         time.Duration
	cpu             time.Duration
	sysShare        float64       // of cpu, the part spent in the kernel
	generator       time.Duration // the bench process's CPU: load generator and target
	machine         machineTimes  // every CPU's time, whoever used it
	p50, p99        time.Duration
	peakRSSKB       int64
	accepts, pkts   int64
	reqPerSec       float64
	cpuPer1k        float64 // CPU seconds per 1,000 probes
	acceptsPerProbe float64
	pktsPerProbe    float64
	late            int // paced: requests sent more than 10 ms after their time
}

// acceptCounter is the target: it accepts and closes at once, counting.
type acceptCounter struct {
	ln       net.Listener
	accepted atomic.Int64
}

// countAccepts listens on port at every address of ns (each server
// reaches the target at addresses of its own) and counts, in the
// background, the connections it accepts.
func countAccepts(ns *netns.NS, port int) (*acceptCounter, error) {
	var ln net.Listener
	if err := ns.Do(func() (err error) {
		ln, err = net.Listen("tcp4", fmt.Sprintf("0.0.0.0:%d", port))
		return err
	}); err != nil {
		return nil, err
	}
	a := &acceptCounter{ln: ln}
	go a.serve()
	return a, nil
}

func (a *acceptCounter) serve() {
	for {
		c, err := a.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue // EMFILE and the like: keep serving
		}
		a.accepted.Add(1)
		c.Close()
	}
}

// loopbackEnv is scenarios 1 and 4's namespace: the target listener, the
// packet counter and the three servers, each probing the listener at
// its own loopback address. With a fake peer instead (newPeerEnv), the
// targets are ports of the peer, which answers after a delay.
type loopbackEnv struct {
	ns        *netns.NS
	target    *acceptCounter // nil with a fake peer
	peer      *fakepeer.Peer // nil on loopback
	client    *http.Client
	dial      func(context.Context, string, string) (net.Conn, error)
	servers   []*exporter // floor, synack_exporter, blackbox_exporter
	sequences map[string]string
	// subnet is each server's /16 of 127/8: its targets are addresses in
	// it. One listener, several addresses: blackbox_exporter's
	// connections leave TIME_WAIT sockets on the target's side, and a
	// later half-open SYN from a port that one of them remembers is
	// answered by it instead of the listener (1 probe in 40,000 came
	// back refused).
	subnet map[string]byte
}

func newLoopbackEnv(name, synack, blackbox, dir string) (env *loopbackEnv, err error) {
	ns, err := netns.Create(name)
	if err != nil {
		return nil, err
	}
	env = &loopbackEnv{ns: ns, sequences: make(map[string]string), subnet: map[string]byte{floorName: 1, synackName: 2, blackboxName: 3}}
	defer func() {
		if err != nil {
			env.close()
		}
	}()
	// A wide port range: blackbox_exporter's connections leave TIME_WAIT
	// sockets behind (the namespace's tcp_tw_reuse=2 reuses them on lo).
	if err := ns.Run("sysctl", "-q", "-w", "net.ipv4.ip_local_port_range=1024 65000"); err != nil {
		return env, err
	}
	if err := ns.Nft(packetCounter); err != nil {
		return env, err
	}
	if env.target, err = countAccepts(ns, targetPort); err != nil {
		return env, err
	}
	env.client = newClient(ns, 4)
	env.dial = nsDialer(ns)
	for _, spec := range []exporterSpec{floorSpec("127.0.0.1:9848"), synackSpec(synack, "127.0.0.1:9847"), blackboxSpec(blackbox, "127.0.0.1:9115")} {
		e, err := spec.start(ns, env.client, dir)
		if err != nil {
			return env, err
		}
		env.servers = append(env.servers, e)
	}
	for _, e := range env.servers {
		if env.sequences[e.name], err = wireSequence(ns, env.client, e, env.targetAddr(e, 0)); err != nil {
			return env, err
		}
		logf("one probe of %s on the wire: %s", e.name, env.sequences[e.name])
	}
	return env, nil
}

// targetAddr is server e's i-th target: 127.S.x.y, S its subnet; with a
// fake peer, the peer's port peerPorts+S*peerPortsEach+i.
func (env *loopbackEnv) targetAddr(e *exporter, i int) string {
	if env.peer != nil {
		return netip.AddrPortFrom(env.peer.Addr(), uint16(peerPorts+int(env.subnet[e.name])*peerPortsEach+i%peerPortsEach)).String()
	}
	return fmt.Sprintf("127.%d.%d.%d:%d", env.subnet[e.name], i/250, 1+i%250, targetPort)
}

// Ports of the fake peer: each server's targets are peerPortsEach ports
// of their own.
const peerPorts, peerPortsEach = 10000, 4000

// newPeerEnv is the floor and synack_exporter probing a fake peer
// (internal/fakepeer, a TUN device in the namespace) that answers every
// SYN after delay, as a remote target does: the answer is not there when
// connect returns, and each check waits for it. blackbox_exporter is left
// out: the peer never answers its FIN, and each of its probes would leave
// an orphan socket retransmitting it for minutes.
func newPeerEnv(name string, delay time.Duration, synack, dir string) (env *loopbackEnv, err error) {
	ns, err := netns.Create(name)
	if err != nil {
		return nil, err
	}
	env = &loopbackEnv{ns: ns, sequences: make(map[string]string), subnet: map[string]byte{floorName: 1, synackName: 2}}
	defer func() {
		if err != nil {
			env.close()
		}
	}()
	var open []uint16
	for i := range 3 * peerPortsEach {
		open = append(open, uint16(peerPorts+peerPortsEach+i))
	}
	if env.peer, err = fakepeer.New(ns, fakepeer.Config{OpenPorts: open, Delay: delay}); err != nil {
		return env, err
	}
	env.client = newClient(ns, 4)
	env.dial = nsDialer(ns)
	for _, spec := range []exporterSpec{floorSpec("127.0.0.1:9848"), synackSpec(synack, "127.0.0.1:9847")} {
		e, err := spec.start(ns, env.client, dir)
		if err != nil {
			return env, err
		}
		env.servers = append(env.servers, e)
	}
	return env, nil
}

// order is the servers in round r's order: forwards, then backwards, so
// that drift over the run hits all of them alike.
func (env *loopbackEnv) order(r int) []*exporter {
	order := slices.Clone(env.servers)
	if r%2 == 1 {
		slices.Reverse(order)
	}
	return order
}

// logCounters logs the namespace's TCP counters, for whoever looks
// into failed probes.
func (env *loopbackEnv) logCounters(runs []throughputRun) {
	for _, r := range runs {
		if r.failed > 0 {
			if stats, err := env.ns.Output("nstat", "-az", "TcpExt*Drop*", "TcpExt*Overflow*", "TcpExtEmbryonicRsts", "TcpExtTCPAbort*", "TcpAttemptFails", "TcpEstabResets", "TcpOutRsts"); err == nil {
				logf("probes failed; the namespace's TCP counters:\n%s", stats)
			}
			return
		}
	}
}

func (env *loopbackEnv) close() {
	for _, e := range env.servers {
		e.proc.stop(10 * time.Second)
	}
	if env.target != nil {
		env.target.ln.Close()
	}
	if env.peer != nil {
		env.peer.Close()
	}
	env.ns.Close()
}

func runThroughput(o throughputOptions, out io.Writer) error {
	env, err := newLoopbackEnv("synack-bench-throughput", o.synack, o.blackbox, o.dir)
	if err != nil {
		return err
	}
	defer env.close()
	runs, err := env.rounds(o.rounds, func(e *exporter) (throughputRun, error) {
		return measureThroughput(env, e, o)
	})
	if err != nil {
		return err
	}
	writeThroughput(out, o, runs, env.sequences)
	return nil
}

// rounds measures every server n times, in the order env.order gives
// each round, logging each run and, at the end, the namespace's counters.
func (env *loopbackEnv) rounds(n int, measure func(*exporter) (throughputRun, error)) ([]throughputRun, error) {
	var runs []throughputRun
	for round := range n {
		for _, e := range env.order(round) {
			r, err := measure(e)
			if err != nil {
				return nil, err
			}
			r.round = round + 1
			logRun(r)
			runs = append(runs, r)
		}
	}
	env.logCounters(runs)
	return runs, nil
}

func logRun(r throughputRun) {
	logf("round %d %-17s %7.0f req/s  %.3f CPU s/1k  p50 %s p99 %s  peak RSS %d MB  %.2f accepts/probe  %.2f packets/probe  %d failed %d late; machine idle %.0f%% stolen %.0f%%",
		r.round, r.exporter, r.reqPerSec, r.cpuPer1k, fmtDur(r.p50), fmtDur(r.p99), r.peakRSSKB/1024, r.acceptsPerProbe, r.pktsPerProbe, r.failed, r.late,
		100*r.machine.share(r.machine.idle), 100*r.machine.share(r.machine.steal))
	if r.firstFailure != "" {
		logf("round %d %s: first failed probe: %s", r.round, r.exporter, r.firstFailure)
	}
}

// measure runs load against e and accounts for it: the server's CPU and
// peak RSS, the target's accepts, the packets, the machine.
func measure(env *loopbackEnv, e *exporter, load func() (lat []time.Duration, failed int, firstFailure string, err error)) (throughputRun, error) {
	pid := e.proc.pid()
	if err := resetPeakRSS(pid); err != nil {
		return throughputRun{}, err
	}
	user0, sys0, err := cpuTimes(pid)
	if err != nil {
		return throughputRun{}, err
	}
	if env.peer != nil {
		env.peer.Reset() // it keeps every packet
	}
	pkts0, acc0, err := env.counts()
	if err != nil {
		return throughputRun{}, err
	}
	gen0, _ := cpuTime(os.Getpid())
	mach0, _ := readMachineTimes()
	start := time.Now()
	lat, failed, firstFailure, err := load()
	elapsed := time.Since(start)
	gen1, _ := cpuTime(os.Getpid())
	mach1, _ := readMachineTimes()
	if err != nil {
		return throughputRun{}, fmt.Errorf("%s: %w", e.name, err)
	}
	// Let the last connections' FIN exchange reach the counter.
	time.Sleep(100 * time.Millisecond)
	user1, sys1, err := cpuTimes(pid)
	if err != nil {
		return throughputRun{}, err
	}
	pkts1, acc1, err := env.counts()
	if err != nil {
		return throughputRun{}, err
	}
	hwm, err := statusKB(pid, "VmHWM")
	if err != nil {
		return throughputRun{}, err
	}
	if err := e.proc.alive(); err != nil {
		return throughputRun{}, err
	}
	n := max(len(lat), 1)
	r := throughputRun{
		exporter: e.name, probes: len(lat), failed: failed, firstFailure: firstFailure, elapsed: elapsed,
		cpu: user1 + sys1 - user0 - sys0, peakRSSKB: hwm, generator: gen1 - gen0, machine: mach1.sub(mach0),
		accepts: acc1 - acc0, pkts: pkts1 - pkts0,
	}
	r.p50, r.p99 = percentile(lat, 0.50), percentile(lat, 0.99)
	r.reqPerSec = float64(len(lat)) / elapsed.Seconds()
	r.cpuPer1k = r.cpu.Seconds() / float64(n) * 1000
	if r.cpu > 0 {
		r.sysShare = float64(sys1-sys0) / float64(r.cpu)
	}
	r.acceptsPerProbe = float64(r.accepts) / float64(n)
	r.pktsPerProbe = float64(r.pkts) / float64(n)
	return r, nil
}

// measureThroughput is one saturated run: conc requests in flight.
func measureThroughput(env *loopbackEnv, e *exporter, o throughputOptions) (throughputRun, error) {
	u, err := url.Parse(e.probeURL("bench", env.targetAddr(e, 0)))
	if err != nil {
		return throughputRun{}, err
	}
	dial := func() (net.Conn, error) { return env.dial(context.Background(), "tcp", u.Host) }
	if _, _, _, err := closedLoop(dial, u.Host, u.RequestURI(), o.concurrency, o.warmup); err != nil {
		return throughputRun{}, fmt.Errorf("%s: %w", e.name, err)
	}
	return measure(env, e, func() ([]time.Duration, int, string, error) {
		return closedLoop(dial, u.Host, u.RequestURI(), o.concurrency, o.duration)
	})
}

// counts is the packets to or from the target port so far and the
// listener's accepts: on loopback, the nftables counter and the
// listener's count; with a fake peer, what the peer saw on its device.
func (env *loopbackEnv) counts() (pkts, accepts int64, err error) {
	if env.peer != nil {
		return int64(len(env.peer.Packets()) + len(env.peer.Answers())), 0, nil
	}
	pkts, err = readCounter(env.ns)
	return pkts, env.target.accepted.Load(), err
}

var counterPackets = regexp.MustCompile(`packets (\d+)`)

// readCounter returns the target port's packet count so far.
func readCounter(ns *netns.NS) (int64, error) {
	s, err := ns.Output("nft", "list", "counter", "inet", "synack_bench", "target")
	if err != nil {
		return 0, err
	}
	m := counterPackets.FindStringSubmatch(s)
	if m == nil {
		return 0, fmt.Errorf("no packet count in %q", s)
	}
	return strconv.ParseInt(m[1], 10, 64)
}

// wireSequence makes one probe and returns the TCP segments to and from
// the target port that crossed lo, in order, each once.
func wireSequence(ns *netns.NS, c *http.Client, e *exporter, target string) (string, error) {
	wire, err := startCapture(ns, "lo")
	if err != nil {
		return "", err
	}
	defer wire.stop()
	if r := get(context.Background(), c, e.probeURL("bench", target), 5*time.Second); !r.succeeded() {
		return "", fmt.Errorf("%s: probe failed: %v %s", e.name, r.err, r.body)
	}
	time.Sleep(500 * time.Millisecond) // blackbox's close, the target's FIN, the last ACK
	packets, err := wire.take()
	if err != nil {
		return "", err
	}
	var seq []string
	for _, p := range packets {
		if !p.outgoing || (p.src.Port() != targetPort && p.dst.Port() != targetPort) {
			continue
		}
		side := "prober"
		if p.src.Port() == targetPort {
			side = "target"
		}
		seq = append(seq, side+" "+flagNames(p.flags))
	}
	return strings.Join(seq, ", "), nil
}
