package collector

import "github.com/seed-5ff58b3a/synack_exporter/prober"

// The gauges of what answered: the SYN-ACK's fingerprint, as the kernel
// kept it (docs/fingerprint.md).
var (
	handshakeHashGauge = newGauge("probe_tcp_handshake_hash",
		"FNV-1a 32 hash of the SYN-ACK's MSS (capped by this host's path MTU), window, window scale and options.")
	peerMSSGauge = newGauge("probe_tcp_peer_mss_bytes",
		"The MSS of the target's SYN-ACK as the kernel kept it, capped by this host's path MTU, in bytes.")
	peerOptionGauge = newGauge("probe_tcp_peer_option",
		"1 for each TCP option the handshake agreed on (tcpi_options), else 0.")
	peerWindowGauge = newGauge("probe_tcp_peer_window_bytes",
		"The unscaled window of the target's SYN-ACK (tcpi_snd_wnd), in bytes.")
	peerWindowScaleGauge = newGauge("probe_tcp_peer_window_scale",
		"The target's window scale shift (tcpi_snd_wscale).")
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
