package main

import (
	"math"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/seed-5ff58b3a/synack_exporter/internal/fakepeer"
)

// TestPeerExchanges checks the truth of the continuous-accuracy
// scenario: a SYN paired with its SYN-ACK, a retransmitted SYN left
// out, bare ACKs and RSTs counted, and the window keeping the exchanges
// answered after its first scrape and up to its last.
func TestPeerExchanges(t *testing.T) {
	t0 := time.Now()
	at := func(ms float64) time.Time { return t0.Add(time.Duration(ms * float64(time.Millisecond))) }
	peer := netip.MustParseAddrPort("198.18.1.2:21000")
	from := func(port uint16) netip.AddrPort { return netip.AddrPortFrom(netip.MustParseAddr("198.18.1.1"), port) }
	tcp := func(ms float64, src, dst netip.AddrPort, flags fakepeer.Flags, fromPeer bool) fakepeer.Packet {
		return fakepeer.Packet{Time: at(ms), Proto: 6, Src: src, Dst: dst, Flags: flags, FromPeer: fromPeer}
	}
	sent := []fakepeer.Packet{
		tcp(0, from(40000), peer, fakepeer.SYN, false),
		tcp(2.5, from(40000), peer, fakepeer.RST, false),
		tcp(10, from(40001), peer, fakepeer.SYN, false),
		tcp(20, from(40002), peer, fakepeer.SYN, false),
		tcp(21, from(40002), peer, fakepeer.SYN, false), // retransmitted: no clean sample
		tcp(30, from(40003), peer, fakepeer.SYN, false),
		tcp(34, from(40003), peer, fakepeer.ACK, false), // a handshake completed
	}
	answers := []fakepeer.Packet{
		tcp(2, peer, from(40000), fakepeer.SYN|fakepeer.ACK, true),
		tcp(13, peer, from(40001), fakepeer.SYN|fakepeer.ACK, true),
		tcp(23, peer, from(40002), fakepeer.SYN|fakepeer.ACK, true),
		tcp(33, peer, from(40003), fakepeer.SYN|fakepeer.ACK, true),
	}
	xs, wire := peerExchanges(sent, answers)
	if want := (contAccWire{syns: 5, retransmits: 1, acks: 1, rsts: 1}); wire != want {
		t.Errorf("wire = %+v, want %+v", wire, want)
	}
	for _, tc := range []struct {
		name     string
		from, to time.Time
		want     []time.Duration
	}{
		{"all", at(-1), at(40), []time.Duration{2 * time.Millisecond, 3 * time.Millisecond, 3 * time.Millisecond}},
		{"from is out, to is in", at(2), at(13), []time.Duration{3 * time.Millisecond}},
		{"none", at(40), at(50), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := answeredWithin(xs, tc.from, tc.to)
			slices.Sort(got)
			if !slices.Equal(got, tc.want) {
				t.Errorf("answeredWithin = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestQuantileError checks that a missing Prometheus value is not
// taken for a small error.
func TestQuantileError(t *testing.T) {
	for _, tc := range []struct {
		prom  float64
		truth time.Duration
		want  time.Duration
		ok    bool
	}{
		{0.0102, 10 * time.Millisecond, 200 * time.Microsecond, true},
		{0.0098, 10 * time.Millisecond, 200 * time.Microsecond, true},
		{math.NaN(), 10 * time.Millisecond, 0, false},
	} {
		got, ok := quantileError(tc.prom, tc.truth)
		if ok != tc.ok || (got-tc.want).Abs() > time.Microsecond {
			t.Errorf("quantileError(%v, %v) = %v, %v; want %v, %v", tc.prom, tc.truth, got, ok, tc.want, tc.ok)
		}
	}
}

func TestWithinGoal(t *testing.T) {
	for _, tc := range []struct {
		e50, e99 time.Duration
		want     string
	}{
		{contAccGoal, contAccGoal, "yes"},
		{contAccGoal + 1, 0, "no (p50)"},
		{0, contAccGoal + 1, "no (p99)"},
		{time.Millisecond, time.Millisecond, "no (both)"},
	} {
		if got := withinGoal(tc.e50, tc.e99); got != tc.want {
			t.Errorf("withinGoal(%v, %v) = %q, want %q", tc.e50, tc.e99, got, tc.want)
		}
	}
}
