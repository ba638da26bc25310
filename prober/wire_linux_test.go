package prober

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/seed-5ff58b3a/synack_exporter/internal/fakepeer"
	"github.com/seed-5ff58b3a/synack_exporter/internal/netns"
)

// checkIn runs one check from inside ns, so that its socket routes through
// the namespace's TUN device to the fake peer.
func checkIn(t *testing.T, ns *netns.NS, c *Checker, addr netip.AddrPort, budget time.Duration) Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), budget)
	defer cancel()
	var r Result
	if err := ns.Do(func() error { r = c.CheckAddr(ctx, addr, DefaultOptions()); return nil }); err != nil {
		t.Fatal(err)
	}
	return r
}

// conversation returns what the peer saw of the connection from srcPort,
// both directions, in order.
func conversation(peer *fakepeer.Peer, port uint16) (sent, answers []fakepeer.Packet) {
	for _, p := range peer.Packets() {
		if p.Src.Port() == port {
			sent = append(sent, p)
		}
	}
	for _, p := range peer.Answers() {
		if p.Dst.Port() == port {
			answers = append(answers, p)
		}
	}
	return sent, answers
}

func TestWireSYNThenRST(t *testing.T) {
	ns := netns.New(t)
	for _, delay := range []time.Duration{10 * time.Millisecond, 50 * time.Millisecond, 200 * time.Millisecond} {
		t.Run(delay.String(), func(t *testing.T) {
			peer := fakepeer.Start(t, ns, fakepeer.Config{
				OpenPorts: []uint16{80},
				Delay:     delay,
				// One peer per delay in the same namespace: distinct subnets.
				Local4: netip.MustParsePrefix(fmt.Sprintf("198.18.%d.1/24", delay/time.Millisecond)),
				Local6: netip.MustParsePrefix(fmt.Sprintf("fd00:198:18:%d::1/64", delay/time.Millisecond)),
			})
			// Made in ns, the Checker resets with SOCK_DESTROY as root:
			// the RST on the wire is tcp_abort's.
			c := newCheckerIn(t, ns)
			if !c.ExactACKs() {
				t.Error("as root the Checker should reset with SOCK_DESTROY")
			}
			// The latency is judged on the best of three checks: on a
			// shared machine the peer's write or the kernel's delivery
			// of the SYN-ACK can itself be late by milliseconds (then
			// the kernel's RTT is late too); a prober that is off would
			// be off every time. The wire is checked on every attempt.
			best := time.Duration(1<<63 - 1)
			for attempt := range 3 {
				peer.Reset()
				wire, r := wireCheck(t, ns, c, peer)
				off := max((r.SYNACK - wire).Abs(), (r.RTT - wire).Abs())
				t.Logf("delay %v, attempt %d: wire %v, synack %v, rtt %v", delay, attempt, wire, r.SYNACK, r.RTT)
				if best = min(best, off); best <= 2*time.Millisecond {
					break
				}
			}
			if best > 2*time.Millisecond {
				t.Errorf("synack or rtt off the peer's answer by %v in each of 3 checks (delay %v)", best, delay)
			}
		})
	}
}

// wireCheck makes one check of the peer and asserts what crossed the
// wire: SYN, SYN-ACK, RST, then nothing, even past the 200 ms the delayed
// ACK would have taken. It returns when the peer really answered, after
// the SYN, and the result.
func wireCheck(t *testing.T, ns *netns.NS, c *Checker, peer *fakepeer.Peer) (time.Duration, Result) {
	t.Helper()
	r := checkIn(t, ns, c, netip.AddrPortFrom(peer.Addr(), 80), 2*time.Second)
	if r.Class != ClassOpen || r.ACKSent() || r.SYNRetransmits != 0 {
		t.Fatalf("result %+v\n%s", r, peer.Transcript())
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	rst, err := peer.WaitFor(ctx, fakepeer.Packet.IsRST)
	if err != nil {
		t.Fatalf("no RST: %v\n%s", err, peer.Transcript())
	}
	quiet, cancelQuiet := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancelQuiet()
	if p, err := peer.WaitFor(quiet, func(p fakepeer.Packet) bool { return !p.IsSYN() && !p.IsRST() }); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("prober sent %v after the SYN-ACK\n%s", p, peer.Transcript())
	}
	sent, answers := conversation(peer, rst.Src.Port())
	if len(sent) != 2 || !sent[0].IsSYN() || !sent[1].IsRST() || len(answers) != 1 {
		t.Fatalf("want SYN, SYN-ACK, RST; got\n%s", peer.Transcript())
	}
	// Compared with when the peer really answered: a busy machine makes
	// the peer's own timer a few ms late.
	return answers[0].Time.Sub(sent[0].Time), r
}

func TestWireDroppedFirstSYN(t *testing.T) {
	ns := netns.New(t)
	peer := fakepeer.Start(t, ns, fakepeer.Config{
		OpenPorts: []uint16{80},
		Answer: func(synIndex int, _ fakepeer.Packet) (time.Duration, bool) {
			return 0, synIndex > 0
		},
	})
	c := newChecker(t)
	r := checkIn(t, ns, c, netip.AddrPortFrom(peer.Addr(), 80), 5*time.Second)
	if r.Class != ClassOpen || r.SYNRetransmits != 1 || r.ACKSent() {
		t.Fatalf("result %+v\n%s", r, peer.Transcript())
	}
	// The first retransmission comes after the initial RTO of 1 s.
	if r.SYNACK < 900*time.Millisecond {
		t.Errorf("synack %v: the retransmitted SYN cannot have been answered that early", r.SYNACK)
	}
}
