package main

import (
	"io"
	"net/netip"
	"slices"
	"sync/atomic"
	"time"

	"github.com/seed-5ff58b3a/synack_exporter/internal/fakepeer"
	"github.com/seed-5ff58b3a/synack_exporter/internal/netns"
)

// Ports the fake peer answers on. Each source of probes cycles through
// its own range, so that a port is probed again only long after its
// previous probe ended, and a probe is matched to its SYN by port and
// time alone.
const (
	exporterPorts, exporterPool = 20000, 1000
	barePorts, barePool         = 30000, 250
)

// accuracyOptions are the knobs of scenario 3.
type accuracyOptions struct {
	synack   string
	rate     int // exporter probes per second
	bareRate int // bare-syscall probes per second, at the same time
	duration time.Duration
	delays   []time.Duration
	dir      string
}

// exchange is a SYN and its SYN-ACK as they crossed the TUN device.
type exchange struct {
	port        uint16
	syn, answer time.Time
	retransmit  bool // the SYN came more than once: no clean sample
}

func (x exchange) actual() time.Duration { return x.answer.Sub(x.syn) }

// sample is one probe's reported latencies, matched to its exchange.
type sample struct {
	synack, rtt time.Duration
	actual      time.Duration
}

// accuracyRow is the result for one source of probes at one delay.
type accuracyRow struct {
	delay    time.Duration
	source   string
	sent     int
	samples  []sample
	failed   int // no SYN-ACK reported, or no single exchange to match
	achieved float64
}

func runAccuracy(o accuracyOptions, out io.Writer) error {
	ns, err := netns.Create("synack-bench-accuracy")
	if err != nil {
		return err
	}
	defer ns.Close()
	var delay atomic.Int64
	var open []uint16
	for i := range exporterPool {
		open = append(open, uint16(exporterPorts+i))
	}
	for i := range barePool {
		open = append(open, uint16(barePorts+i))
	}
	peer, err := fakepeer.New(ns, fakepeer.Config{
		OpenPorts: open,
		Answer: func(int, fakepeer.Packet) (time.Duration, bool) {
			return time.Duration(delay.Load()), true
		},
	})
	if err != nil {
		return err
	}
	defer peer.Close()
	wire, err := startCapture(ns, peer.Device())
	if err != nil {
		return err
	}
	defer wire.stop()
	client := newClient(ns, 4096)
	syn, err := synackSpec(o.synack, "127.0.0.1:9847").start(ns, client, o.dir)
	if err != nil {
		return err
	}
	defer syn.proc.stop(10 * time.Second)

	var rows []accuracyRow
	for _, d := range o.delays {
		delay.Store(int64(d))
		peer.Reset()
		if _, err := wire.take(); err != nil {
			return err
		}
		// Exporter and bare probes run at the same time, against the same
		// peer, so that both see the same machine.
		bare := make(chan bareOutcome, 1)
		go func() {
			res, err := runBare(ns, peer.Addr(), o.bareRate, o.duration)
			bare <- bareOutcome{res, err}
		}()
		start := time.Now()
		responses := openLoop(client, func(i int) string {
			return syn.probeURL("bench", netip.AddrPortFrom(peer.Addr(), uint16(exporterPorts+i%exporterPool)).String())
		}, o.rate, o.duration, 5*time.Second)
		took := time.Since(start)
		b := <-bare
		if b.err != nil {
			return b.err
		}
		if err := syn.proc.alive(); err != nil {
			return err
		}
		time.Sleep(100 * time.Millisecond) // the last RSTs
		packets, err := wire.take()
		if err != nil {
			return err
		}
		byPort := exchanges(packets)
		rows = append(rows, exporterRow(d, responses, byPort, took), bareRow(d, b.results, byPort, o.duration))
		for _, r := range rows[len(rows)-2:] {
			s := summarize(r.samples)
			logf("accuracy %v %-15s %d sent, %d matched, %d failed; synack err p50 %s p99 %s; rtt err p50 %s p99 %s",
				d, r.source, r.sent, len(r.samples), r.failed, fmtDur(s.synackP50), fmtDur(s.synackP99), fmtDur(s.rttP50), fmtDur(s.rttP99))
		}
	}
	writeAccuracy(out, o, rows)
	return nil
}

type bareOutcome struct {
	results []bareResult
	err     error
}

// exchanges pairs each SYN on the wire with its SYN-ACK, by port, in
// the order the SYNs left.
func exchanges(packets []wirePacket) map[uint16][]exchange {
	type key struct{ src, dst netip.AddrPort }
	byKey := make(map[key]*exchange)
	var all []*exchange
	for _, p := range packets {
		switch p.flags & (tcpSYN | tcpACK | tcpRST) {
		case tcpSYN:
			k := key{p.src, p.dst}
			if x, ok := byKey[k]; ok && x.answer.IsZero() {
				x.retransmit = true
				continue
			}
			x := &exchange{port: p.dst.Port(), syn: p.at}
			byKey[k] = x
			all = append(all, x)
		case tcpSYN | tcpACK:
			if x, ok := byKey[key{p.dst, p.src}]; ok && x.answer.IsZero() {
				x.answer = p.at
			}
		}
	}
	byPort := make(map[uint16][]exchange)
	for _, x := range all {
		if !x.answer.IsZero() {
			byPort[x.port] = append(byPort[x.port], *x)
		}
	}
	for _, xs := range byPort {
		slices.SortFunc(xs, func(a, b exchange) int { return a.syn.Compare(b.syn) })
	}
	return byPort
}

// match finds the one clean exchange on port whose SYN left in [from, to].
func match(byPort map[uint16][]exchange, port uint16, from, to time.Time) (exchange, bool) {
	var found []exchange
	for _, x := range byPort[port] {
		if !x.syn.Before(from) && !x.syn.After(to) {
			found = append(found, x)
		}
	}
	if len(found) != 1 || found[0].retransmit {
		return exchange{}, false
	}
	return found[0], true
}

func exporterRow(d time.Duration, responses []response, byPort map[uint16][]exchange, took time.Duration) accuracyRow {
	row := accuracyRow{delay: d, source: "synack_exporter", sent: len(responses), achieved: float64(len(responses)) / took.Seconds()}
	for i, r := range responses {
		synack, ok1 := metric(r.body, "probe_tcp_synack_seconds")
		rtt, ok2 := metric(r.body, "probe_tcp_rtt_seconds")
		x, ok3 := match(byPort, uint16(exporterPorts+i%exporterPool), r.start, r.end)
		if !r.succeeded() || !ok1 || !ok2 || !ok3 {
			row.failed++
			continue
		}
		row.samples = append(row.samples, sample{seconds(synack), seconds(rtt), x.actual()})
	}
	return row
}

func bareRow(d time.Duration, results []bareResult, byPort map[uint16][]exchange, took time.Duration) accuracyRow {
	row := accuracyRow{delay: d, source: "bare syscalls", sent: len(results), achieved: float64(len(results)) / took.Seconds()}
	for _, r := range results {
		x, ok := match(byPort, r.Port, time.Unix(0, r.SentUnixNano), time.Unix(0, r.SentUnixNano).Add(r.SYNACK+time.Millisecond))
		if !r.Open || !ok {
			row.failed++
			continue
		}
		row.samples = append(row.samples, sample{r.SYNACK, r.RTT, x.actual()})
	}
	return row
}

func seconds(v float64) time.Duration { return time.Duration(v * float64(time.Second)) }

// errorSummary is the error of reported latencies against the peer's.
type errorSummary struct {
	synackP50, synackP99 time.Duration
	rttP50, rttP99       time.Duration
	rttAbsP99            time.Duration
	actualP50, actualP99 time.Duration
}

func summarize(samples []sample) errorSummary {
	var se, re, ra, act []time.Duration
	for _, s := range samples {
		se = append(se, s.synack-s.actual)
		re = append(re, s.rtt-s.actual)
		ra = append(ra, absDur(s.rtt-s.actual))
		act = append(act, s.actual)
	}
	return errorSummary{
		synackP50: percentile(se, 0.5), synackP99: percentile(se, 0.99),
		rttP50: percentile(re, 0.5), rttP99: percentile(re, 0.99), rttAbsP99: percentile(ra, 0.99),
		actualP50: percentile(act, 0.5), actualP99: percentile(act, 0.99),
	}
}

func absDur(d time.Duration) time.Duration { return max(d, -d) }

// bareResult is one probe of the bare-syscall child.
type bareResult struct {
	Port         uint16
	SentUnixNano int64 // wall clock: the child is another process
	SYNACK, RTT  time.Duration
	Open         bool
}
