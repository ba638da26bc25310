package collector

import (
	"fmt"
	"hash/fnv"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/seed-5ff58b3a/synack_exporter/prober"
)

// gauge is one per-probe gauge, with its HELP and TYPE lines rendered
// once for every answer that carries it.
type gauge struct {
	name   string
	header string // "# HELP ...\n# TYPE ... gauge\n"
}

func newGauge(name, help string) gauge {
	// Text format 0.0.4 escapes backslash and newline in HELP.
	help = strings.NewReplacer(`\`, `\\`, "\n", `\n`).Replace(help)
	return gauge{name: name, header: "# HELP " + name + " " + help + "\n# TYPE " + name + " gauge\n"}
}

// The per-probe gauges. The first six keep blackbox_exporter's names and
// meanings so that its dashboards work unchanged. Each HELP is one short
// sentence, what and unit, and docs/metrics.md has the rest: every answer
// carries them, and net/http sends an answer whose status line, headers
// and body fit in its 4,096-byte buffer in one write
// (TestProbeAnswerOneWrite).
var (
	probeSuccessGauge = newGauge("probe_success",
		"1 if the check met the module's expect (by default: a SYN-ACK came), else 0.")
	probeDurationGauge = newGauge("probe_duration_seconds",
		"How long the probe took, name resolution included, in seconds.")
	probeTimeoutGauge = newGauge("probe_timeout_seconds",
		"The time budget this probe had, in seconds.")
	probeDNSGauge = newGauge("probe_dns_lookup_time_seconds",
		"Time spent resolving the target's host name, in seconds.")
	probeIPProtocolGauge = newGauge("probe_ip_protocol",
		"IP version of the address probed: 4 or 6, 0 if none.")
	probeIPAddrHashGauge = newGauge("probe_ip_addr_hash",
		"FNV-32a hash of the IP address probed.")
	synackGauge = newGauge("probe_tcp_synack_seconds",
		"Time from sending the SYN to seeing the SYN-ACK, in seconds.")
	rttGauge = newGauge("probe_tcp_rtt_seconds",
		"The kernel's round-trip time sample of the handshake (tcpi_rtt), in seconds.")
	synRetransmitsGauge = newGauge("probe_tcp_syn_retransmits",
		"Number of SYNs re-sent.")
	ackSentGauge = newGauge("probe_tcp_ack_sent",
		"1 if an ACK left before the RST; should always be 0.")
	errnoGauge = newGauge("probe_tcp_errno",
		"The check's errno, 0 when a SYN-ACK came.")
	errorClassGauge = newGauge("probe_tcp_error_class",
		"1 for the class of failure that happened, else 0.")
)

// errorClassSeries are the series of probe_tcp_error_class.
var errorClassSeries = seriesByLabel(errorClassGauge, "class", prober.FailureClasses)

// labelSeries is one series of a gauge with one label, rendered up to its
// value, and the key its label value names.
type labelSeries[K fmt.Stringer] struct {
	key    K
	prefix string
}

// seriesByLabel renders one series of g per key, in the order of their
// label values, as a registry sorts them.
func seriesByLabel[K fmt.Stringer](g gauge, label string, keys []K) []labelSeries[K] {
	keys = slices.SortedFunc(slices.Values(keys), func(a, b K) int {
		return strings.Compare(a.String(), b.String())
	})
	series := make([]labelSeries[K], len(keys))
	for i, k := range keys {
		series[i] = labelSeries[K]{k, g.name + "{" + label + `="` + k.String() + `"} `}
	}
	return series
}

// metricsContentType is what a registry behind promhttp answers a
// Prometheus scrape with; the names here need no escaping.
var metricsContentType = string(expfmt.NewFormat(expfmt.TypeTextPlain).WithEscapingScheme(model.UnderscoreEscaping))

// appendMetrics appends the probe's answer in the text exposition format,
// byte for byte what a registry holding these gauges would write: HELP,
// TYPE, families sorted by name. Writing it directly spares each probe a
// registry, its consistency checks and the generic encoder, which cost
// several times the check itself (see collector/bench_test.go).
func (rec *probeRecord) appendMetrics(b []byte) []byte {
	if rec.Summary != nil {
		return rec.appendSummaryMetrics(b)
	}
	r := rec.Result
	b = appendSample(b, probeDNSGauge, r.DNS.Seconds())
	b = appendSample(b, probeDurationGauge, rec.Duration.Seconds())
	if r.Addr.IsValid() {
		b = appendSample(b, probeIPAddrHashGauge, ipAddrHash(r.Addr.Addr()))
	}
	b = appendSample(b, probeIPProtocolGauge, ipProtocol(r.Addr))
	b = appendSample(b, probeSuccessGauge, boolFloat(rec.Succeeded()))
	b = appendSample(b, ackSentGauge, boolFloat(r.ACKSent))
	b = appendSample(b, errnoGauge, float64(r.Errno))
	b = append(b, errorClassGauge.header...)
	for _, s := range errorClassSeries {
		b = appendValue(append(b, s.prefix...), boolFloat(r.Class == s.key))
	}
	b = appendPeerMetrics(b, r.Peer)
	if r.Success() {
		b = appendSample(b, rttGauge, r.RTT.Seconds())
	}
	b = appendSample(b, synRetransmitsGauge, float64(r.SYNRetransmits))
	if r.Success() {
		b = appendSample(b, synackGauge, r.SYNACK.Seconds())
	}
	return appendSample(b, probeTimeoutGauge, rec.Timeout.Seconds())
}

// appendSample appends a gauge's HELP, TYPE and only sample.
func appendSample(b []byte, g gauge, v float64) []byte {
	b = append(b, g.header...)
	b = append(b, g.name...)
	return appendValue(append(b, ' '), v)
}

// appendValue ends a sample line with v formatted as expfmt does: the
// shortest 'g' form, which also gives "+Inf", "-Inf" and "NaN".
func appendValue(b []byte, v float64) []byte {
	return append(strconv.AppendFloat(b, v, 'g', -1, 64), '\n')
}

func ipProtocol(addr netip.AddrPort) float64 {
	switch {
	case !addr.IsValid():
		return 0
	case addr.Addr().Unmap().Is4():
		return 4
	}
	return 6
}

// ipAddrHash is blackbox_exporter's probe_ip_addr_hash: FNV-32a over the
// address's bytes, 4 of them for an IPv4 address (mapped into IPv6 or
// not), 16 for IPv6, so the two exporters give the same value.
func ipAddrHash(ip netip.Addr) float64 {
	h := fnv.New32a()
	h.Write(ip.Unmap().AsSlice())
	return float64(h.Sum32())
}

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
