package collector

import "github.com/seed-5ff58b3a/synack_exporter/prober"

// The gauges of what answered: the SYN-ACK's fingerprint, as the kernel
// kept it (docs/fingerprint.md).
var (
	handshakeHashGauge = newGauge("probe_tcp_handshake_hash",
		"FNV-1a 32 hash of the target's MSS, window, window scale and TCP options, to detect with changes() when what answers changes; present only when a SYN-ACK came.")
	peerMSSGauge = newGauge("probe_tcp_peer_mss_bytes",
		"The MSS the target announced in its SYN-ACK, in bytes (tcpi_snd_mss, plus 12 when timestamps were agreed); at most this host's own path MTU less headers and half the SYN-ACK's window; 536 (IPv4) or 1220 (IPv6) when the SYN-ACK had none.")
	peerOptionGauge = newGauge("probe_tcp_peer_option",
		"1 for each TCP option the handshake agreed on (tcpi_options), else 0; ecn only when this host asks for it (net.ipv4.tcp_ecn=1).")
	peerWindowGauge = newGauge("probe_tcp_peer_window_bytes",
		"The window of the target's SYN-ACK in bytes, which is never scaled (tcpi_snd_wnd); absent on kernels before 5.4.")
	peerWindowScaleGauge = newGauge("probe_tcp_peer_window_scale",
		"The target's window scale shift (tcpi_snd_wscale); present only when both sides agreed on window scaling.")
)

// peerOptionSeries are the series of probe_tcp_peer_option.
var peerOptionSeries = seriesByLabel(peerOptionGauge, "option", prober.PeerOptions)

// appendPeerMetrics appends the gauges of what answered, in name order,
// for one SYN-ACK's fingerprint; nothing when p is not known (no SYN-ACK,
// or a full connect on a system other than Linux). Their names sort
// between probe_tcp_error_class and probe_tcp_rtt_seconds.
func appendPeerMetrics(b []byte, p prober.Peer) []byte {
	return appendPeerGauges(appendHandshakeHash(b, p), p)
}

// appendHandshakeHash and appendPeerGauges are appendPeerMetrics in two,
// for an answer with a family that sorts between them
// (probe_tcp_loss_ratio, with several checks).
func appendHandshakeHash(b []byte, p prober.Peer) []byte {
	if !p.Known() {
		return b
	}
	return appendSample(b, handshakeHashGauge, float64(p.Hash()))
}

func appendPeerGauges(b []byte, p prober.Peer) []byte {
	if !p.Known() {
		return b
	}
	b = appendSample(b, peerMSSGauge, float64(p.MSS))
	b = append(b, peerOptionGauge.header...)
	for _, s := range peerOptionSeries {
		b = appendValue(append(b, s.prefix...), boolFloat(p.Has(s.key)))
	}
	if p.HasWindow {
		b = appendSample(b, peerWindowGauge, float64(p.Window))
	}
	if p.Has(prober.OptionWindowScale) {
		b = appendSample(b, peerWindowScaleGauge, float64(p.WindowScale))
	}
	return b
}
