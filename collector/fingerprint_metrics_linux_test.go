package collector

import (
	"testing"

	"github.com/seed-5ff58b3a/synack_exporter/prober"
)

// TestProbeFingerprintLoopback probes a loopback listener through /probe:
// its SYN-ACK's fingerprint is Linux's own on lo (MTU 65536), and the
// handshake hash is the one of the values beside it.
func TestProbeFingerprintLoopback(t *testing.T) {
	s := newTestServer(t, Options{})
	open := openPort(t, "tcp4", "127.0.0.1:0")
	status, _, body := s.get(t, "/probe?target="+open)
	if status != 200 {
		t.Fatalf("status %d\n%s", status, body)
	}
	mfs := parseMetrics(t, body)
	// lo's listener announces MSS 65495 (65535 less 40 bytes of
	// headers) and a window of 65483 (65535 rounded down to its MSS less
	// the 12-byte timestamp option). The kernel sends no segment above
	// half the window seen, so what it reports is 65483/2, plus the 12
	// bytes added back: on lo the MSS cannot be recovered.
	const loWindow = 65483
	const loMSS = loWindow/2 + 12
	if got := gaugeValue(t, mfs, "probe_tcp_peer_mss_bytes"); got != loMSS {
		t.Errorf("probe_tcp_peer_mss_bytes %g, want %d", got, loMSS)
	}
	if got := gaugeValue(t, mfs, "probe_tcp_peer_window_bytes"); got != loWindow {
		t.Errorf("probe_tcp_peer_window_bytes %g, want %d", got, loWindow)
	}
	err := compareMetrics(mfs, `# HELP probe_tcp_peer_option 1 for each TCP option the handshake agreed on (tcpi_options), else 0.
# TYPE probe_tcp_peer_option gauge
probe_tcp_peer_option{option="ecn"} 0
probe_tcp_peer_option{option="sack"} 1
probe_tcp_peer_option{option="timestamps"} 1
probe_tcp_peer_option{option="window_scale"} 1
`, "probe_tcp_peer_option")
	if err != nil {
		t.Error(err)
	}
	peer := prober.Peer{
		MSS:     loMSS,
		Options: prober.OptionTimestamps | prober.OptionSACK | prober.OptionWindowScale,
		Window:  uint32(gaugeValue(t, mfs, "probe_tcp_peer_window_bytes")), HasWindow: true,
		WindowScale: uint8(gaugeValue(t, mfs, "probe_tcp_peer_window_scale")),
	}
	if got := gaugeValue(t, mfs, "probe_tcp_handshake_hash"); got != float64(peer.Hash()) {
		t.Errorf("probe_tcp_handshake_hash %g, want %d, the hash of %+v", got, peer.Hash(), peer)
	}
}

// TestProbeFingerprintOnlyWhenOpen: a refused probe has none of the
// fingerprint's families.
func TestProbeFingerprintOnlyWhenOpen(t *testing.T) {
	s := newTestServer(t, Options{})
	_, _, body := s.get(t, "/probe?target="+closedPort(t))
	mfs := parseMetrics(t, body)
	for _, name := range []string{"probe_tcp_handshake_hash", "probe_tcp_peer_mss_bytes", "probe_tcp_peer_option", "probe_tcp_peer_window_bytes", "probe_tcp_peer_window_scale"} {
		if mf, ok := mfs[name]; ok {
			t.Errorf("refused probe has %s: %v", name, mf)
		}
	}
	if _, ok := mfs["probe_tcp_errno"]; !ok {
		t.Errorf("no probe_tcp_errno: not a probe answer?\n%s", body)
	}
}
