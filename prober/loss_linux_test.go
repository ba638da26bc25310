package prober

import (
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/seed-5ff58b3a/synack_exporter/internal/fakepeer"
	"github.com/seed-5ff58b3a/synack_exporter/internal/netns"
)

// slowPathDelay answers later than the kernel's first SYN retransmission
// (1 s after the SYN): the SYN is re-sent, though the first was not lost.
const slowPathDelay = 1200 * time.Millisecond

// TestLossOnSlowPath checks how loss is decided when the kernel re-sent
// a SYN, against what the wire shows: which SYN the SYN-ACK answered.
// docs/several-checks.md ("How loss is decided") records it.
func TestLossOnSlowPath(t *testing.T) {
	ns := netns.New(t)
	const checks = 3
	tests := []struct {
		name       string
		timestamps bool
		answer     fakepeer.AnswerFunc
		// answeredFirst is whether the SYN-ACKs answer the first SYN.
		answeredFirst bool
		lost          int
	}{
		// The SYN-ACK echoes the first SYN's TSval: the kernel's sample is
		// the whole 1.2 s, and nothing was lost.
		{"slow answer to the first SYN, timestamps", true, fakepeer.Delays(slowPathDelay), true, 0},
		// It echoes the retransmission's: the sample is the 10 ms since
		// that left, and the first SYN was lost.
		{"first SYN dropped, timestamps", true, fakepeer.DropFirstSYNs(1, 1, 10*time.Millisecond), false, checks},
		// Without timestamps Karn's rule leaves no sample after a
		// retransmission (tcpi_rtt 0): the two cannot be told apart,
		// and both count as lost.
		{"slow answer to the first SYN, no timestamps", false, fakepeer.Delays(slowPathDelay), true, checks},
		{"first SYN dropped, no timestamps", false, fakepeer.DropFirstSYNs(1, 1, 10*time.Millisecond), false, checks},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			peer := fakepeer.Start(t, ns, fakepeer.Config{
				OpenPorts:  []uint16{80},
				Answer:     tt.answer,
				Timestamps: tt.timestamps,
				Local4:     netip.MustParsePrefix(fmt.Sprintf("198.18.%d.1/24", 60+i)),
				Local6:     netip.MustParsePrefix(fmt.Sprintf("fd00:198:18:%d::1/64", 60+i)),
			})
			target := netip.AddrPortFrom(peer.Addr(), 80).String()
			s := checkManyIn(t, ns, newChecker(t), target, Plan{SYNCount: checks}, 4*time.Second)
			if s.Classes[ClassOpen] != checks {
				t.Fatalf("summary %+v\n%s", s, peer.Transcript())
			}
			var rtts []time.Duration
			for _, r := range s.Results {
				t.Logf("synack %v, rtt %v, retransmits %d", r.SYNACK, r.RTT, r.SYNRetransmits)
				if r.SYNRetransmits != 1 {
					t.Errorf("%d SYN retransmits, want 1: the kernel re-sends the SYN at 1 s\n%s", r.SYNRetransmits, peer.Transcript())
				}
				rtts = append(rtts, r.RTT)
			}
			wire := assertAnswered(t, peer, tt.timestamps, tt.answeredFirst)
			// tcpi_rtt is the time since the SYN answered, to the
			// millisecond of the timestamp clock, and later than the
			// peer's view by the time the peer took to read the SYN and
			// the kernel the SYN-ACK (milliseconds on a busy machine);
			// 0 without timestamps.
			slices.Sort(rtts)
			slices.Sort(wire)
			for i := range min(len(rtts), len(wire)) {
				want := wire[i]
				if !tt.timestamps {
					want = 0
				}
				if d := rtts[i] - want; d < -2*time.Millisecond || d > 25*time.Millisecond {
					t.Errorf("tcpi_rtt %v, want %v (the wire's %v)", rtts, wire, want)
					break
				}
			}
			if s.Lost != tt.lost {
				t.Errorf("%d of %d checks lost, want %d", s.Lost, checks, tt.lost)
			}
		})
	}
}

// assertAnswered checks on the wire which SYN each SYN-ACK answered:
// with timestamps, by the TSval it echoes; and by the time it was due: a
// slowPathDelay after the first SYN answers that one, anything earlier
// answers the retransmission (which left 1 s after the first). It
// returns, for each connection, the time from the SYN answered to the
// SYN-ACK.
func assertAnswered(t *testing.T, peer *fakepeer.Peer, timestamps, first bool) []time.Duration {
	t.Helper()
	syns := map[uint16][]fakepeer.Packet{}
	for _, p := range peer.SentTCP() {
		if p.IsSYN() {
			syns[p.Src.Port()] = append(syns[p.Src.Port()], p)
		}
	}
	answered := map[uint16]bool{}
	var rtts []time.Duration
	for _, a := range peer.Answers() {
		sent := syns[a.Dst.Port()]
		if !a.Flags.Has(fakepeer.SYN|fakepeer.ACK) || answered[a.Dst.Port()] || len(sent) < 2 {
			continue
		}
		// The first SYN-ACK of each connection is the one the prober took.
		answered[a.Dst.Port()] = true
		if a.Timestamps != timestamps {
			t.Errorf("SYN-ACK %v: timestamps %v, want %v", a, a.Timestamps, timestamps)
		}
		if timestamps && (a.TSecr == sent[0].TSval) != first {
			t.Errorf("SYN-ACK to port %d echoes %d; first SYN's TSval %d, retransmission's %d: want the first %v",
				a.Dst.Port(), a.TSecr, sent[0].TSval, sent[1].TSval, first)
		}
		if (a.Due.Sub(sent[0].Time) >= slowPathDelay) != first {
			t.Errorf("SYN-ACK to port %d was due %v after the first SYN: want an answer to the first %v",
				a.Dst.Port(), a.Due.Sub(sent[0].Time), first)
		}
		syn := sent[1]
		if first {
			syn = sent[0]
		}
		rtts = append(rtts, a.Time.Sub(syn.Time))
	}
	if len(answered) != len(syns) {
		t.Errorf("%d connections answered after a retransmission, want %d\n%s", len(answered), len(syns), peer.Transcript())
	}
	return rtts
}
