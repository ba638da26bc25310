package main

// The continuous-accuracy scenario: do the quantiles a real Prometheus
// computes from synack_response_duration_seconds match what crossed the
// wire? Fake peers answer SYNs after known delays (one jittered); the
// exporter checks them in continuous mode; one Prometheus stores the
// native histogram, another the classic buckets; both are asked for
// p50 and p99 per delay over the window, and each is compared with the
// peers' own log of SYN read to SYN-ACK written over the same scrapes.

import (
	"context"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/seed-5ff58b3a/synack_exporter/internal/fakepeer"
	"github.com/seed-5ff58b3a/synack_exporter/internal/netns"
)

// contAccPorts is the first port of the peers; peer i answers on
// contAccPorts+100*i and up, so a port names its peer.
const contAccPorts = 21000

// contAccGoal is the largest error allowed between a quantile and the
// truth.
const contAccGoal = 500 * time.Microsecond

// contAccOptions are the knobs of the continuous-accuracy scenario.
type contAccOptions struct {
	synack, prometheus string // binaries
	targets            int    // per delay
	interval           time.Duration
	warmup, duration   time.Duration
	dir                string
}

// contAccDelay is how one peer answers: after base, plus a uniform
// jitter in [0, jitter).
type contAccDelay struct {
	base, jitter time.Duration
}

func (d contAccDelay) String() string {
	if d.jitter == 0 {
		return d.base.String()
	}
	return fmt.Sprintf("%v+U(0,%v)", d.base, d.jitter)
}

// contAccDelays are the peers: three fixed delays and a spread one,
// whose p99 is far from its p50.
var contAccDelays = []contAccDelay{
	{base: 2 * time.Millisecond},
	{base: 10 * time.Millisecond},
	{base: 25 * time.Millisecond},
	{base: 5 * time.Millisecond, jitter: 30 * time.Millisecond},
}

// contAccForm is one Prometheus: the histogram form it stores and the
// query of a quantile per delay.
type contAccForm struct {
	name, listen string
	native       bool
	quantile     string // format: quantile, window
}

var contAccForms = []contAccForm{
	{name: "native (schema 4)", listen: "127.0.0.1:9090", native: true,
		quantile: `histogram_quantile(%v, sum by (delay) (rate(synack_response_duration_seconds[%s])))`},
	{name: "classic buckets", listen: "127.0.0.1:9091",
		quantile: `histogram_quantile(%v, sum by (delay, le) (rate(synack_response_duration_seconds_bucket[%s])))`},
}

// contAccDirect is the form of the rows read by the bench itself.
const contAccDirect = "exporter's native buckets, no Prometheus"

// contAccRow is one delay as one Prometheus saw it, against the truth
// over its own scrapes.
type contAccRow struct {
	delay, form        string
	exchanges          int           // clean SYN/SYN-ACK pairs in the window
	truthP50, truthP99 time.Duration // the peer's log
	wireP50, wireP99   time.Duration // the kernel's time stamps on the peer's device
	promP50, promP99   float64       // seconds; NaN when Prometheus had none
}

// contAccMean is one delay's mean over the bench's own window: the
// peers' and the device's against the exporter's (_sum / _count). Their gap is the
// exporter's own offset, which no histogram removes.
type contAccMean struct {
	delay                 string
	truth, wire, exporter time.Duration
	observed              uint64
}

func mean(xs []time.Duration) time.Duration {
	if len(xs) == 0 {
		return 0
	}
	var sum time.Duration
	for _, x := range xs {
		sum += x
	}
	return sum / time.Duration(len(xs))
}

// contAccWire is what the peers saw of the prober beyond the exchanges.
type contAccWire struct {
	syns, retransmits, acks, rsts int
}

func runContinuousAccuracy(o contAccOptions, out io.Writer) error {
	switch {
	case o.prometheus == "":
		return fmt.Errorf("needs Prometheus (-prometheus)")
	case o.targets < 1 || o.targets > 100:
		return fmt.Errorf("-contacc-targets %d: want 1 to 100 (ports of one peer)", o.targets)
	case o.duration < 10*time.Second || o.duration%time.Second != 0:
		return fmt.Errorf("-contacc-duration %v: want whole seconds, at least 10s", o.duration)
	case o.interval < 10*time.Millisecond:
		return fmt.Errorf("-contacc-interval %v: want at least 10ms", o.interval)
	}
	ns, err := netns.Create("synack-bench-contacc")
	if err != nil {
		return err
	}
	defer ns.Close()
	env := &continuousEnv{ns: ns, client: newClient(ns, 4)}
	peers := make([]*fakepeer.Peer, len(contAccDelays))
	var captures []*capture // the kernel's time stamps on each peer's device
	for i, d := range contAccDelays {
		var open []uint16
		for j := range o.targets {
			open = append(open, uint16(contAccPorts+100*i+j))
		}
		peer, err := fakepeer.New(ns, fakepeer.Config{
			OpenPorts: open,
			Answer: func(int, fakepeer.Packet) (time.Duration, bool) {
				if d.jitter == 0 {
					return d.base, true
				}
				return d.base + rand.N(d.jitter), true
			},
			// One peer per delay in the same namespace: distinct subnets.
			Local4: netip.MustParsePrefix(fmt.Sprintf("198.18.%d.1/24", i+1)),
			Local6: netip.MustParsePrefix(fmt.Sprintf("fd00:198:18:%d::1/64", i+1)),
		})
		if err != nil {
			return err
		}
		defer peer.Close()
		peers[i] = peer
		c, err := startCapture(ns, peer.Device())
		if err != nil {
			return err
		}
		defer c.stop()
		captures = append(captures, c)
	}

	const listen = "127.0.0.1:9847"
	file := filepath.Join(o.dir, "continuous-accuracy.yml")
	if err := os.WriteFile(file, []byte(contAccConfig(peers, o)), 0o644); err != nil {
		return err
	}
	checks := len(peers) * o.targets * int(time.Second/o.interval)
	p, err := startIn(ns, synackName, o.synack, "--web.listen-address="+listen, "--log.level=warn", "--config.file="+file,
		// The rate limit is not what is measured: room for every target.
		fmt.Sprintf("--continuous.max-rate=%d", 2*checks+1000))
	if err != nil {
		return err
	}
	defer p.stop(10 * time.Second)
	if err := env.waitMetrics(p, "http://"+listen+"/metrics"); err != nil {
		return err
	}
	var proms []*proc
	for _, f := range contAccForms {
		prom, stop, err := env.startPrometheus(o.prometheus, o.dir, "prometheus-"+f.listen[len(f.listen)-4:], f.listen, listen, time.Second, f.native)
		if err != nil {
			return err
		}
		defer stop()
		proms = append(proms, prom)
	}
	logf("continuous-accuracy: %d targets every %v against %d peers; %v of warm-up, %v measured",
		len(peers)*o.targets, o.interval, len(peers), o.warmup, o.duration)
	time.Sleep(o.warmup)
	for i, peer := range peers {
		peer.Reset() // the window's exchanges, and a little before
		if _, err := captures[i].take(); err != nil {
			return err
		}
	}
	// The bench's own two scrapes around the window: the exporter's
	// histogram as it was, before any Prometheus arithmetic.
	direct := func() (families, time.Time, error) {
		t := time.Now()
		f, err := scrapeFamilies(context.Background(), env.client, "http://"+listen+"/metrics")
		return f, t.Add(time.Since(t) / 2), err
	}
	before, at0, err := direct()
	if err != nil {
		return err
	}
	time.Sleep(o.duration + 2*time.Second)
	after, at1, err := direct()
	if err != nil {
		return err
	}
	end := time.Now().Add(-time.Second)
	// The last scrape before end has been stored once the next is due.
	time.Sleep(2 * time.Second)
	for _, x := range append(proms, p) {
		if err := x.alive(); err != nil {
			return err
		}
	}
	leaks, _ := env.promValue(contAccForms[0].listen, "sum(synack_exporter_ack_leaks_total)")

	logs := make([][]exchange, len(peers))
	wires := make([][]exchange, len(peers))
	var wire contAccWire
	for i, peer := range peers {
		var w contAccWire
		logs[i], w = peerExchanges(peer.Packets(), peer.Answers())
		packets, err := captures[i].take()
		if err != nil {
			return err
		}
		wires[i], _ = cleanExchanges(packets)
		wire.syns, wire.retransmits, wire.acks, wire.rsts = wire.syns+w.syns, wire.retransmits+w.retransmits, wire.acks+w.acks, wire.rsts+w.rsts
	}
	window := fmt.Sprintf("%ds", int(o.duration/time.Second))
	var rows []contAccRow
	var means []contAccMean
	for i, d := range contAccDelays {
		h := after.histogram("synack_response_duration_seconds", "delay", d.String()).
			since(before.histogram("synack_response_duration_seconds", "delay", d.String()))
		truth, onWire := answeredWithin(logs[i], at0, at1), answeredWithin(wires[i], at0, at1)
		means = append(means, contAccMean{delay: d.String(), truth: mean(truth), wire: mean(onWire), exporter: seconds(h.sum / float64(h.count)), observed: h.count})
		rows = append(rows, contAccRow{delay: d.String(), form: contAccDirect, exchanges: len(truth),
			truthP50: percentile(truth, 0.5), truthP99: percentile(truth, 0.99),
			wireP50: percentile(onWire, 0.5), wireP99: percentile(onWire, 0.99),
			promP50: nativeQuantile(0.5, h.schema, h.zero, h.native), promP99: nativeQuantile(0.99, h.schema, h.zero, h.native)})
	}
	for _, f := range contAccForms {
		from, to, err := env.scrapeSpan(f.listen, window, end)
		if err != nil {
			return fmt.Errorf("%s: %w", f.name, err)
		}
		q := make(map[float64]map[string]float64)
		for _, quantile := range []float64{0.5, 0.99} {
			series, err := env.promQuery(f.listen, fmt.Sprintf(f.quantile, quantile, window), end)
			if err != nil {
				return fmt.Errorf("%s: %w", f.name, err)
			}
			q[quantile] = make(map[string]float64)
			for _, s := range series {
				if len(s.values) == 1 {
					q[quantile][s.labels["delay"]] = s.values[0].v
				}
			}
		}
		for i, d := range contAccDelays {
			truth, onWire := answeredWithin(logs[i], from, to), answeredWithin(wires[i], from, to)
			row := contAccRow{delay: d.String(), form: f.name, exchanges: len(truth),
				truthP50: percentile(truth, 0.5), truthP99: percentile(truth, 0.99),
				wireP50: percentile(onWire, 0.5), wireP99: percentile(onWire, 0.99),
				promP50: nanIfMissing(q[0.5], d.String()), promP99: nanIfMissing(q[0.99], d.String())}
			logf("continuous-accuracy %s, %s: %d exchanges; p50 peer %v, wire %v, Prometheus %.6f s; p99 peer %v, wire %v, Prometheus %.6f s",
				row.delay, row.form, row.exchanges, row.truthP50, row.wireP50, row.promP50, row.truthP99, row.wireP99, row.promP99)
			rows = append(rows, row)
		}
	}
	logf("continuous-accuracy: %d SYNs (%d retransmitted), %d bare ACKs, %d RSTs; exporter's ACK-leak count %.0f",
		wire.syns, wire.retransmits, wire.acks, wire.rsts, leaks)
	writeContinuousAccuracy(out, o, rows, means, wire, leaks, firstLine(o.prometheus, "--version"))
	return nil
}

// contAccConfig is the exporter's configuration: one continuous group
// per peer, labelled with its delay, o.targets ports each.
func contAccConfig(peers []*fakepeer.Peer, o contAccOptions) string {
	var b strings.Builder
	fmt.Fprintf(&b, "modules:\n  bench:\n    timeout: 1s\n    preferred_ip_protocol: ip4\ncontinuous:\n")
	for i, peer := range peers {
		fmt.Fprintf(&b, "  - module: bench\n    interval: %v\n    labels: {delay: %q}\n    targets:\n", o.interval, contAccDelays[i])
		for j := range o.targets {
			fmt.Fprintf(&b, "      - %v\n", netip.AddrPortFrom(peer.Addr(), uint16(contAccPorts+100*i+j)))
		}
	}
	return b.String()
}

// scrapeSpan is the first and last scrape of the exporter that a range
// of window ending at end holds: a rate over it counts the checks that
// ended between them.
func (env *continuousEnv) scrapeSpan(listen, window string, end time.Time) (from, to time.Time, err error) {
	series, err := env.promQuery(listen, fmt.Sprintf(`up{job="synack"}[%s]`, window), end)
	if err != nil {
		return from, to, err
	}
	if len(series) != 1 || len(series[0].values) < 2 {
		return from, to, fmt.Errorf("fewer than 2 scrapes of the exporter in the %s before %v", window, end.Format(time.TimeOnly))
	}
	v := series[0].values
	for _, s := range v {
		if s.v != 1 {
			return from, to, fmt.Errorf("a scrape of the exporter failed at %v", s.at.Format(time.TimeOnly))
		}
	}
	return v[0].at, v[len(v)-1].at, nil
}

// peerExchanges pairs a peer's SYNs with its SYN-ACKs, and counts what
// else the prober sent it: bare ACKs (a handshake completed) and RSTs.
func peerExchanges(sent, answers []fakepeer.Packet) ([]exchange, contAccWire) {
	var w contAccWire
	var packets []wirePacket
	for _, p := range slices.Concat(sent, answers) {
		if p.Proto != 6 {
			continue
		}
		f := byte(p.Flags)
		if !p.FromPeer {
			switch f & (tcpSYN | tcpACK | tcpRST | tcpFIN) {
			case tcpSYN:
				w.syns++
			case tcpACK:
				w.acks++
			}
			if f&tcpRST != 0 {
				w.rsts++
			}
		}
		packets = append(packets, wirePacket{at: p.Time, src: p.Src, dst: p.Dst, flags: f})
	}
	// A SYN-ACK is written after its SYN is read: time order pairs them.
	slices.SortStableFunc(packets, func(a, b wirePacket) int { return a.at.Compare(b.at) })
	all, retransmits := cleanExchanges(packets)
	w.retransmits = retransmits
	return all, w
}

// cleanExchanges pairs SYNs with SYN-ACKs and leaves out the ones whose
// SYN came more than once.
func cleanExchanges(packets []wirePacket) (all []exchange, retransmits int) {
	for _, xs := range exchanges(packets) {
		for _, x := range xs {
			if x.retransmit {
				retransmits++
				continue
			}
			all = append(all, x)
		}
	}
	return all, retransmits
}

// answeredWithin is the SYN-to-SYN-ACK time of the exchanges answered
// in (from, to]: the checks a rate between those scrapes counts.
func answeredWithin(xs []exchange, from, to time.Time) []time.Duration {
	var out []time.Duration
	for _, x := range xs {
		if x.answer.After(from) && !x.answer.After(to) {
			out = append(out, x.actual())
		}
	}
	return out
}

func nanIfMissing(m map[string]float64, key string) float64 {
	if v, ok := m[key]; ok {
		return v
	}
	return math.NaN()
}
