package collector

import (
	"hash/fnv"
	"net/netip"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/seed-5ff58b3a/synack_exporter/prober"
)

// The per-probe gauges. The first six keep blackbox_exporter's names and
// meanings so that its dashboards work unchanged.
var (
	probeSuccessDesc = prometheus.NewDesc("probe_success",
		"Whether the probe succeeded: 1 if the target answered the SYN with a SYN-ACK, else 0.", nil, nil)
	probeDurationDesc = prometheus.NewDesc("probe_duration_seconds",
		"How long the whole probe took, in seconds, name resolution included.", nil, nil)
	probeTimeoutDesc = prometheus.NewDesc("probe_timeout_seconds",
		"The time budget this probe had, in seconds: the scrape timeout minus the offset, capped by the module's timeout.", nil, nil)
	probeDNSDesc = prometheus.NewDesc("probe_dns_lookup_time_seconds",
		"Time spent resolving the target's host name, in seconds; 0 for IP address targets.", nil, nil)
	probeIPProtocolDesc = prometheus.NewDesc("probe_ip_protocol",
		"IP version of the address probed: 4 or 6; 0 when no address was resolved.", nil, nil)
	probeIPAddrHashDesc = prometheus.NewDesc("probe_ip_addr_hash",
		"FNV-32a hash of the IP address probed, to detect when the address changes; absent when no address was resolved.", nil, nil)
	synackDesc = prometheus.NewDesc("probe_tcp_synack_seconds",
		"Time from sending the SYN to seeing the SYN-ACK, in seconds, on the exporter's clock; present only when a SYN-ACK came.", nil, nil)
	rttDesc = prometheus.NewDesc("probe_tcp_rtt_seconds",
		"The kernel's round-trip time sample for the handshake (tcpi_rtt), in seconds; present only when a SYN-ACK came. Unreliable when SYNs were re-sent.", nil, nil)
	synRetransmitsDesc = prometheus.NewDesc("probe_tcp_syn_retransmits",
		"Number of SYNs re-sent before the target answered or the probe gave up.", nil, nil)
	ackSentDesc = prometheus.NewDesc("probe_tcp_ack_sent",
		"1 if an ACK left before the RST, so the target saw a completed connection; should always be 0.", nil, nil)
	errnoDesc = prometheus.NewDesc("probe_tcp_errno",
		"The error number (errno) behind a failed probe, 0 on success; ETIMEDOUT when the probe ran out of time.", nil, nil)
	errorClassDesc = prometheus.NewDesc("probe_tcp_error_class",
		"1 for the class of failure that happened (refused, timeout, unreachable, prohibited, resolve, local, other), 0 for the others; all 0 on success.",
		[]string{"class"}, nil)
)

// resultCollector exposes one finished probe. It builds constant metrics,
// so a registry holding it answers with exactly this probe's values.
type resultCollector struct{ rec *probeRecord }

var _ prometheus.Collector = resultCollector{}

func (resultCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		probeSuccessDesc, probeDurationDesc, probeTimeoutDesc, probeDNSDesc,
		probeIPProtocolDesc, probeIPAddrHashDesc, synackDesc, rttDesc,
		synRetransmitsDesc, ackSentDesc, errnoDesc, errorClassDesc,
	} {
		ch <- d
	}
}

func (c resultCollector) Collect(ch chan<- prometheus.Metric) {
	r := c.rec.Result
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	gauge(probeSuccessDesc, boolFloat(r.Success()))
	gauge(probeDurationDesc, c.rec.Duration.Seconds())
	gauge(probeTimeoutDesc, c.rec.Timeout.Seconds())
	gauge(probeDNSDesc, r.DNS.Seconds())
	gauge(probeIPProtocolDesc, ipProtocol(r.Addr))
	if r.Addr.IsValid() {
		gauge(probeIPAddrHashDesc, ipAddrHash(r.Addr.Addr()))
	}
	if r.Success() {
		gauge(synackDesc, r.SYNACK.Seconds())
		gauge(rttDesc, r.RTT.Seconds())
	}
	gauge(synRetransmitsDesc, float64(r.SYNRetransmits))
	gauge(ackSentDesc, boolFloat(r.ACKSent))
	gauge(errnoDesc, float64(r.Errno))
	for _, class := range prober.FailureClasses {
		gauge(errorClassDesc, boolFloat(r.Class == class), class.String())
	}
}

// registry returns a registry that serves this probe's metrics only.
func (rec *probeRecord) registry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(resultCollector{rec})
	return reg
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

// ipAddrHash hashes the address's text form (FNV-32a, as blackbox_exporter
// does), so the value stays the same across restarts and versions.
func ipAddrHash(ip netip.Addr) float64 {
	h := fnv.New32a()
	h.Write([]byte(ip.String()))
	return float64(h.Sum32())
}

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
