package prober

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/seed-5ff58b3a/synack_exporter/internal/fakepeer"
	"github.com/seed-5ff58b3a/synack_exporter/internal/netns"
)

// TestACKAfterTheVerdictIsReported holds the goroutine that judged an
// open socket before it closes it, past the kernel's delayed ACK, as a
// preempted thread is held on a starved machine: the ACK leaves after
// tcpi_segs_out was read. The result must still say so, on each path
// that closes a socket, and the listener proves that the ACK left.
func TestACKAfterTheVerdictIsReported(t *testing.T) {
	for _, tc := range []struct {
		name  string
		check func(c *Checker, ctx context.Context, target net.Addr) Result
		wait  bool // the check must not end while connect() runs
	}{
		{"answered early", func(c *Checker, ctx context.Context, target net.Addr) Result {
			return c.CheckAddr(ctx, target.(*net.TCPAddr).AddrPort(), DefaultOptions())
		}, false},
		{"wait", func(c *Checker, ctx context.Context, target net.Addr) Result {
			return c.CheckAddr(ctx, target.(*net.TCPAddr).AddrPort(), DefaultOptions())
		}, true},
		{"loop", func(c *Checker, ctx context.Context, target net.Addr) Result {
			s := c.CheckMany(ctx, target.String(), DefaultOptions(), Plan{SYNCount: 1})
			if len(s.Results) != 1 {
				t.Fatalf("%d results, want 1", len(s.Results))
			}
			return s.Results[0]
		}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.wait {
				throughLoop(t)
			}
			testHookJudged = func() { time.Sleep(delayedACK + 100*time.Millisecond) }
			t.Cleanup(func() { testHookJudged = func() {} })
			eachReset(t, func(t *testing.T, c *Checker) {
				ln := listen(t, "tcp4", "127.0.0.1:0")
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				defer cancel()
				r := tc.check(c, ctx, ln.Addr())
				if r.Class != ClassOpen || !r.ACKSent() || r.ACKs != 1 {
					t.Errorf("got %v ack %v %d (%v), want open with one ACK sent", r.Class, r.ACKSent(), r.ACKs, r.Err)
				}
				ln.SetDeadline(time.Now().Add(time.Second))
				conn, err := ln.Accept()
				if err != nil {
					t.Fatalf("the ACK should have completed a connection: %v", err)
				}
				conn.Close()
			})
		})
	}
}

// TestPromptCloseReportsNoACK: a socket closed well before its delayed
// ACK falls due is not reported as having let one out.
func TestPromptCloseReportsNoACK(t *testing.T) {
	testHookJudged = func() { time.Sleep(delayedACK / 4) }
	t.Cleanup(func() { testHookJudged = func() {} })
	eachReset(t, func(t *testing.T, c *Checker) {
		ln := listen(t, "tcp4", "127.0.0.1:0")
		r := c.CheckAddr(context.Background(), ln.Addr().(*net.TCPAddr).AddrPort(), DefaultOptions())
		if r.Class != ClassOpen || r.ACKSent() || r.ACKs != 0 {
			t.Errorf("got %v ack %v %d (%v), want open without an ACK", r.Class, r.ACKSent(), r.ACKs, r.Err)
		}
		assertNoAccept(t, ln)
	})
}

// eachReset runs f with a Checker that resets with SOCK_DESTROY (as
// root) and with one that closes and estimates the delayed ACK.
func eachReset(t *testing.T, f func(t *testing.T, c *Checker)) {
	t.Run("exact", func(t *testing.T) {
		c := newChecker(t)
		if !c.ExactACKs() {
			t.Skip("SOCK_DESTROY needs CAP_NET_ADMIN")
		}
		f(t, c)
	})
	t.Run("estimated", func(t *testing.T) {
		c := newChecker(t)
		c.estimateACKs()
		f(t, c)
	})
}

// TestACKsToARepeatedSYNACKAreCounted: between the verdict and the reset
// the target sends its SYN-ACK again, as one whose retransmission timer
// ran first does, and the kernel answers it at once with an ACK, long
// before its delayed ACK falls due, so that no reading of the time can
// tell. The result must count that ACK, exactly as the target saw it,
// on each path that resets a socket.
func TestACKsToARepeatedSYNACKAreCounted(t *testing.T) {
	ns, peer := escapePeer(t)
	c := newCheckerIn(t, ns)
	if !c.ExactACKs() {
		t.Fatal("with the privileges of a namespace test, the engine should reset with SOCK_DESTROY")
	}
	testHookJudged = func() {
		var synack fakepeer.Packet
		for _, a := range peer.Answers() {
			if a.Flags.Has(fakepeer.SYN | fakepeer.ACK) {
				synack = a
			}
		}
		peer.Repeat(synack)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if _, err := peer.WaitFor(ctx, func(p fakepeer.Packet) bool {
			return p.IsBareACK() && p.Src == synack.Dst
		}); err != nil {
			t.Errorf("no ACK to the repeated SYN-ACK: %v\n%s", err, peer.Transcript())
		}
	}
	t.Cleanup(func() { testHookJudged = func() {} })
	target := netip.AddrPortFrom(peer.Addr(), peerOpenPort)
	for _, tc := range []struct {
		name  string
		check func() Result
	}{
		{"wait", func() Result { return checkIn(t, ns, c, target, 2*time.Second) }},
		{"loop", func() Result {
			s := checkManyIn(t, ns, c, target.String(), Plan{SYNCount: 1}, 2*time.Second)
			if len(s.Results) != 1 {
				t.Fatalf("%d results, want 1", len(s.Results))
			}
			return s.Results[0]
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			peer.Reset()
			r := tc.check()
			var acks uint32
			for _, p := range peer.Packets() {
				if p.IsBareACK() {
					acks++
				}
			}
			if r.Class != ClassOpen || !r.ACKSent() || r.ACKs != acks || acks == 0 {
				t.Errorf("got %v ack %v, %d ACKs (%v); the target saw %d ACKs\n%s", r.Class, r.ACKSent(), r.ACKs, r.Err, acks, peer.Transcript())
			}
		})
	}
}

// TestACKAfterATimeoutIsCounted: a check times out with its SYN
// unanswered, and the SYN-ACK comes before the reset, which is held past
// the delayed ACK. The result stays a timeout, but the ACK that left is
// counted.
func TestACKAfterATimeoutIsCounted(t *testing.T) {
	ns := netns.New(t)
	// The SYN-ACK comes long after the 50 ms timeout, so that the
	// verdict is a timeout even when a busy machine wakes the check late.
	peer := fakepeer.Start(t, ns, fakepeer.Config{OpenPorts: []uint16{80}, Delay: 500 * time.Millisecond})
	c := newCheckerIn(t, ns)
	if !c.ExactACKs() {
		t.Fatal("with the privileges of a namespace test, the engine should reset with SOCK_DESTROY")
	}
	testHookJudged = func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if _, err := peer.WaitFor(ctx, fakepeer.Packet.IsBareACK); err != nil {
			t.Errorf("no delayed ACK: %v\n%s", err, peer.Transcript())
		}
	}
	t.Cleanup(func() { testHookJudged = func() {} })
	r := checkIn(t, ns, c, netip.AddrPortFrom(peer.Addr(), 80), 50*time.Millisecond)
	if r.Class != ClassTimeout || !r.ACKSent() || r.ACKs != 1 {
		t.Errorf("got %v ack %v, %d ACKs (%v), want a timeout that counts the 1 ACK on the wire\n%s", r.Class, r.ACKSent(), r.ACKs, r.Err, peer.Transcript())
	}
}

// estimateACKs makes c reset with close() and estimate the delayed ACK,
// as an engine without CAP_NET_ADMIN does; before any check.
func (c *Checker) estimateACKs() {
	if e, ok := c.eng.(*epollEngine); ok {
		e.resets.close()
		e.resets = nil
	}
}
