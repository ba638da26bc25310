package collector

import (
	"github.com/seed-5ff58b3a/synack_exporter/prober"
)

// probeFamilies are the families of the /probe answer, one entry each,
// sorted by name at init as a registry would write them. The first six
// keep blackbox_exporter's names and meanings so that its dashboards
// work unchanged. Each HELP is one short sentence, what and unit, and
// docs/metrics.md has the rest: every answer carries them, and net/http
// sends an answer whose status line, headers and body fit in its
// 4,096-byte buffer in one write (TestProbeAnswerOneWrite).
//
// help is the HELP of a probe of one check and helpMany that of a probe
// of several (syn_count, addresses: all; docs/several-checks.md); a
// family with either empty is not in that kind of answer. write appends
// the family's samples, or none when the probe has no value for it.
var probeFamilies = sortFamilies([]probeFamily{
	{name: "probe_success",
		help:     "1 if the check met the module's expect (by default: a SYN-ACK came), else 0.",
		helpMany: "1 if the checks met the module's expect and min_open_ratio, else 0.",
		write:    func(b []byte, v probeView) []byte { return sample(b, "probe_success", boolFloat(v.success)) }},
	{name: "probe_duration_seconds", help: "How long the probe took, name resolution included, in seconds.",
		write: func(b []byte, v probeView) []byte {
			return sample(b, "probe_duration_seconds", v.rec.Duration.Seconds())
		}},
	{name: "probe_timeout_seconds", help: "The time budget this probe had, in seconds.",
		write: func(b []byte, v probeView) []byte {
			return sample(b, "probe_timeout_seconds", v.rec.Timeout.Seconds())
		}},
	{name: "probe_dns_lookup_time_seconds", help: "Time spent resolving the target's host name, in seconds.",
		write: func(b []byte, v probeView) []byte {
			return sample(b, "probe_dns_lookup_time_seconds", v.dns.Seconds())
		}},
	{name: "probe_ip_protocol", help: "IP version of the address probed: 4 or 6, 0 if none.",
		write: func(b []byte, v probeView) []byte { return sample(b, "probe_ip_protocol", ipProtocol(v.addr)) }},
	{name: "probe_ip_addr_hash", help: "FNV-32a hash of the IP address probed.",
		write: func(b []byte, v probeView) []byte {
			if !v.addr.IsValid() {
				return b
			}
			return sample(b, "probe_ip_addr_hash", ipAddrHash(v.addr.Addr()))
		}},
	{name: "probe_tcp_synack_seconds",
		help:     "Time from sending the SYN to seeing the SYN-ACK, in seconds.",
		helpMany: "Median SYN to SYN-ACK time of the open checks, in seconds.",
		write: func(b []byte, v probeView) []byte {
			return sampleIf(b, v.open, "probe_tcp_synack_seconds", v.synack.Seconds())
		}},
	{name: "probe_tcp_rtt_seconds",
		help:     "The kernel's round-trip time sample of the handshake (tcpi_rtt), in seconds.",
		helpMany: "Median of the open checks' kernel round-trip time samples (tcpi_rtt), in seconds.",
		write: func(b []byte, v probeView) []byte {
			return sampleIf(b, v.open, "probe_tcp_rtt_seconds", v.rtt.Seconds())
		}},
	{name: "probe_tcp_syn_retransmits",
		help:     "Number of SYNs re-sent.",
		helpMany: "Number of SYNs re-sent, summed over this probe's checks.",
		write: func(b []byte, v probeView) []byte {
			return sample(b, "probe_tcp_syn_retransmits", float64(v.retransmits))
		}},
	{name: "probe_tcp_ack_sent",
		help:     "1 if an ACK left before the RST; should always be 0.",
		helpMany: "1 if any check let an ACK out before its RST; should always be 0.",
		write:    func(b []byte, v probeView) []byte { return sample(b, "probe_tcp_ack_sent", boolFloat(v.ackSent)) }},
	{name: "probe_tcp_errno",
		help:     "The check's errno, 0 when a SYN-ACK came.",
		helpMany: "The errno of the first check that did not find the port open, else 0.",
		write:    func(b []byte, v probeView) []byte { return sample(b, "probe_tcp_errno", float64(v.worst.Errno)) }},
	{name: "probe_tcp_error_class",
		help:     "1 for the class of failure that happened, else 0.",
		helpMany: "1 for the class of the first check that did not find the port open, else 0.",
		write: func(b []byte, v probeView) []byte {
			return samplesByLabel(b, errorClassSeries, func(c prober.Class) float64 {
				return boolFloat(!v.worst.Success() && v.worst.Class == c)
			})
		}},

	// What answered: the (first) SYN-ACK's fingerprint, as the kernel
	// kept it (docs/fingerprint.md); none without a SYN-ACK, or from a
	// full connect on a system other than Linux.
	{name: "probe_tcp_handshake_hash", help: "FNV-1a 32 hash of the SYN-ACK's MSS (capped by this host's path MTU), window, window scale and options.",
		write: func(b []byte, v probeView) []byte {
			return sampleIf(b, v.peer.Known(), "probe_tcp_handshake_hash", float64(v.peer.Hash()))
		}},
	{name: "probe_tcp_peer_mss_bytes", help: "The MSS of the target's SYN-ACK as the kernel kept it, capped by this host's path MTU, in bytes.",
		write: func(b []byte, v probeView) []byte {
			return sampleIf(b, v.peer.Known(), "probe_tcp_peer_mss_bytes", float64(v.peer.MSS))
		}},
	{name: "probe_tcp_peer_option", help: "1 for each TCP option the handshake agreed on (tcpi_options), else 0.",
		write: func(b []byte, v probeView) []byte {
			if !v.peer.Known() {
				return b
			}
			return samplesByLabel(b, peerOptionSeries, func(o prober.PeerOption) float64 { return boolFloat(v.peer.Has(o)) })
		}},
	{name: "probe_tcp_peer_window_bytes", help: "The unscaled window of the target's SYN-ACK (tcpi_snd_wnd), in bytes.",
		write: func(b []byte, v probeView) []byte {
			return sampleIf(b, v.peer.Known() && v.peer.HasWindow, "probe_tcp_peer_window_bytes", float64(v.peer.Window))
		}},
	{name: "probe_tcp_peer_window_scale", help: "The target's window scale shift (tcpi_snd_wscale).",
		write: func(b []byte, v probeView) []byte {
			return sampleIf(b, v.peer.Known() && v.peer.Has(prober.OptionWindowScale),
				"probe_tcp_peer_window_scale", float64(v.peer.WindowScale))
		}},

	// Only with several checks.
	{name: "probe_tcp_syns_sent", helpMany: "Half-open checks this probe made.",
		write: func(b []byte, v probeView) []byte {
			return sample(b, "probe_tcp_syns_sent", float64(v.many.Checks))
		}},
	{name: "probe_tcp_syn_results", helpMany: "Checks of this probe that ended in each class.",
		write: func(b []byte, v probeView) []byte {
			return samplesByLabel(b, synResultSeries, func(c prober.Class) float64 { return float64(v.many.Classes[c]) })
		}},
	{name: "probe_tcp_loss_ratio", helpMany: "Share of this probe's checks whose first SYN got no answer.",
		write: func(b []byte, v probeView) []byte {
			return sampleIf(b, v.checked(), "probe_tcp_loss_ratio", v.many.LossRatio())
		}},
	{name: "probe_tcp_synack_min_seconds", helpMany: "Shortest SYN to SYN-ACK time of the open checks, in seconds.",
		write: func(b []byte, v probeView) []byte {
			return sampleIf(b, v.open, "probe_tcp_synack_min_seconds", v.many.SYNACK.Min.Seconds())
		}},
	{name: "probe_tcp_synack_max_seconds", helpMany: "Longest SYN to SYN-ACK time of the open checks, in seconds.",
		write: func(b []byte, v probeView) []byte {
			return sampleIf(b, v.open, "probe_tcp_synack_max_seconds", v.many.SYNACK.Max.Seconds())
		}},
	{name: "probe_tcp_synack_stddev_seconds", helpMany: "Standard deviation of the open checks' SYN to SYN-ACK time, in seconds.",
		write: func(b []byte, v probeView) []byte {
			return sampleIf(b, v.open, "probe_tcp_synack_stddev_seconds", v.many.SYNACK.Stddev.Seconds())
		}},

	// Only with addresses: all.
	{name: "probe_tcp_addresses", helpMany: "Addresses the target's name resolved to, of the families allowed.",
		write: func(b []byte, v probeView) []byte {
			return sampleIf(b, v.addresses(), "probe_tcp_addresses", float64(v.many.Resolved))
		}},
	{name: "probe_tcp_addresses_checked", helpMany: "Addresses checked: those resolved less those denied or cut.",
		write: func(b []byte, v probeView) []byte {
			return sampleIf(b, v.addresses(), "probe_tcp_addresses_checked", float64(len(v.many.Addresses)))
		}},
	{name: "probe_tcp_addresses_open", helpMany: "Addresses where at least one check found the port open.",
		write: func(b []byte, v probeView) []byte {
			return sampleIf(b, v.addresses(), "probe_tcp_addresses_open", float64(v.many.AddressesOpen()))
		}},
	{name: "probe_tcp_addresses_denied", helpMany: "Addresses refused by the module's target lists.",
		write: func(b []byte, v probeView) []byte {
			return sampleIf(b, v.addresses(), "probe_tcp_addresses_denied", float64(len(v.many.Denied)))
		}},
	{name: "probe_tcp_addresses_cut", helpMany: "Addresses not checked for being beyond address_limit.",
		write: func(b []byte, v probeView) []byte {
			return sampleIf(b, v.addresses(), "probe_tcp_addresses_cut", float64(v.many.Cut))
		}},
	{name: "probe_tcp_address_success", helpMany: "1 if this address's checks alone met expect and min_open_ratio, else 0.",
		write: func(b []byte, v probeView) []byte {
			if !v.addresses() {
				return b
			}
			for _, a := range v.many.Addresses {
				b = append(b, `probe_tcp_address_success{address="`...)
				b = a.Addr.Addr().AppendTo(b)
				b = appendValue(append(b, `"} `...), boolFloat(a.Success))
			}
			return b
		}},
})

// errorClassSeries, synResultSeries and peerOptionSeries are the series
// of the families with a label.
var (
	errorClassSeries = seriesByLabel("probe_tcp_error_class", "class", prober.FailureClasses)
	synResultSeries  = seriesByLabel("probe_tcp_syn_results", "class", allClasses)
	peerOptionSeries = seriesByLabel("probe_tcp_peer_option", "option", prober.PeerOptions)
)
