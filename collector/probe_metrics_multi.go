package collector

import (
	"github.com/seed-5ff58b3a/synack_exporter/prober"
)

// The gauges of a probe that makes several checks (syn_count > 1 or
// addresses: all); see docs/several-checks.md.
var (
	synsSentGauge = newGauge("probe_tcp_syns_sent",
		"Half-open checks this probe made.")
	synResultsGauge = newGauge("probe_tcp_syn_results",
		"Checks of this probe that ended in each class.")
	lossRatioGauge = newGauge("probe_tcp_loss_ratio",
		"Share of this probe's checks whose first SYN got no answer.")
	synackMinGauge = newGauge("probe_tcp_synack_min_seconds",
		"Shortest SYN to SYN-ACK time of the open checks, in seconds.")
	synackMaxGauge = newGauge("probe_tcp_synack_max_seconds",
		"Longest SYN to SYN-ACK time of the open checks, in seconds.")
	synackStddevGauge = newGauge("probe_tcp_synack_stddev_seconds",
		"Standard deviation of the open checks' SYN to SYN-ACK time, in seconds.")
	medianSYNACKGauge = newGauge(synackGauge.name,
		"Median SYN to SYN-ACK time of the open checks, in seconds.")
	medianRTTGauge = newGauge(rttGauge.name,
		"Median of the open checks' kernel round-trip time samples (tcpi_rtt), in seconds.")
	sumRetransmitsGauge = newGauge(synRetransmitsGauge.name,
		"Number of SYNs re-sent, summed over this probe's checks.")
	anyACKSentGauge = newGauge(ackSentGauge.name,
		"1 if any check let an ACK out before its RST; should always be 0.")
	worstErrnoGauge = newGauge(errnoGauge.name,
		"The errno of the first check that did not find the port open, else 0.")
	worstClassGauge = newGauge(errorClassGauge.name,
		"1 for the class of the first check that did not find the port open, else 0.")
	manySuccessGauge = newGauge(probeSuccessGauge.name,
		"1 if the checks met the module's expect and min_open_ratio, else 0.")
	addressesGauge = newGauge("probe_tcp_addresses",
		"Addresses the target's name resolved to, of the families allowed.")
	addressesCheckedGauge = newGauge("probe_tcp_addresses_checked",
		"Addresses checked: those resolved less those denied or cut.")
	addressesOpenGauge = newGauge("probe_tcp_addresses_open",
		"Addresses where at least one check found the port open.")
	addressesDeniedGauge = newGauge("probe_tcp_addresses_denied",
		"Addresses refused by the module's target lists.")
	addressesCutGauge = newGauge("probe_tcp_addresses_cut",
		"Addresses not checked for being beyond address_limit.")
	addressSuccessGauge = newGauge("probe_tcp_address_success",
		"1 if this address's checks alone met expect and min_open_ratio, else 0.")
)

// synResultSeries are the series of probe_tcp_syn_results: every class.
var synResultSeries = seriesByLabel(synResultsGauge, "class", allClasses)

// appendSummaryMetrics is appendMetrics for a probe of several checks:
// the same families, with the values that sum the checks up, and those
// that only several checks have, all sorted by name.
func (rec *probeRecord) appendSummaryMetrics(b []byte) []byte {
	s := rec.Summary
	all := s.Plan.AllAddresses
	addr := s.FirstAddr
	open := s.Classes[prober.ClassOpen] > 0
	b = appendSample(b, probeDNSGauge, s.DNS.Seconds())
	b = appendSample(b, probeDurationGauge, rec.Duration.Seconds())
	if addr.IsValid() {
		b = appendSample(b, probeIPAddrHashGauge, ipAddrHash(addr.Addr()))
	}
	b = appendSample(b, probeIPProtocolGauge, ipProtocol(addr))
	b = appendSample(b, manySuccessGauge, boolFloat(s.Success))
	b = appendSample(b, anyACKSentGauge, boolFloat(s.ACKSent))
	if all && len(s.Addresses) > 0 {
		b = append(b, addressSuccessGauge.header...)
		for _, a := range s.Addresses {
			b = append(b, addressSuccessGauge.name+`{address="`...)
			b = a.Addr.Addr().AppendTo(b)
			b = appendValue(append(b, `"} `...), boolFloat(a.Success))
		}
	}
	if all {
		b = appendSample(b, addressesGauge, float64(s.Resolved))
		b = appendSample(b, addressesCheckedGauge, float64(len(s.Addresses)))
		b = appendSample(b, addressesCutGauge, float64(s.Cut))
		b = appendSample(b, addressesDeniedGauge, float64(s.Denied))
		b = appendSample(b, addressesOpenGauge, float64(s.addressesOpen()))
	}
	b = appendSample(b, worstErrnoGauge, float64(s.Worst.Errno))
	b = append(b, worstClassGauge.header...)
	for _, c := range errorClassSeries {
		b = appendValue(append(b, c.prefix...), boolFloat(!s.Worst.Success() && s.Worst.Class == c.key))
	}
	// What answered: the first open answer's fingerprint.
	first, _ := s.FirstOpenResult()
	b = appendHandshakeHash(b, first.Peer)
	if s.Checks > 0 {
		b = appendSample(b, lossRatioGauge, s.LossRatio())
	}
	b = appendPeerGauges(b, first.Peer)
	if open {
		b = appendSample(b, medianRTTGauge, s.RTT.Seconds())
	}
	b = append(b, synResultsGauge.header...)
	for _, c := range synResultSeries {
		b = appendValue(append(b, c.prefix...), float64(s.Classes[c.key]))
	}
	b = appendSample(b, sumRetransmitsGauge, float64(s.SYNRetransmits))
	if open {
		b = appendSample(b, synackMaxGauge, s.SYNACK.Max.Seconds())
		b = appendSample(b, synackMinGauge, s.SYNACK.Min.Seconds())
		b = appendSample(b, medianSYNACKGauge, s.SYNACK.Median.Seconds())
		b = appendSample(b, synackStddevGauge, s.SYNACK.Stddev.Seconds())
	}
	b = appendSample(b, synsSentGauge, float64(s.Checks))
	return appendSample(b, probeTimeoutGauge, rec.Timeout.Seconds())
}
