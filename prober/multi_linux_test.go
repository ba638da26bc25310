package prober

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/seed-5ff58b3a/synack_exporter/internal/fakepeer"
	"github.com/seed-5ff58b3a/synack_exporter/internal/loopback"
	"github.com/seed-5ff58b3a/synack_exporter/internal/netns"
)

// checkManyIn runs CheckMany from inside ns, so that its sockets route
// through the namespace's TUN device to the fake peer.
func checkManyIn(t *testing.T, ns *netns.NS, c *Checker, target string, plan Plan, budget time.Duration) Summary {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), budget)
	defer cancel()
	var s Summary
	if err := ns.Do(func() error { s = c.CheckMany(ctx, target, DefaultOptions(), plan); return nil }); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestCheckManyLoopback(t *testing.T) {
	c := newChecker(t)
	ln := listen(t, "tcp4", "127.0.0.1:0")
	s := c.CheckMany(context.Background(), ln.Addr().String(), DefaultOptions(), Plan{SYNCount: 5})
	if len(s.Results) != 5 || s.Classes[ClassOpen] != 5 || !s.Success || s.ACKSent {
		t.Fatalf("summary %+v", s)
	}
	if len(s.Addresses) != 1 || s.Addresses[0].Checks != 5 || s.Addresses[0].Open != 5 {
		t.Errorf("addresses %+v", s.Addresses)
	}
	// Five half-open checks, no connection.
	ln.SetDeadline(time.Now().Add(100 * time.Millisecond))
	if conn, err := ln.Accept(); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("accept returned %v, %v: a check completed a connection", conn, err)
	}
}

// TestCheckManyRoundsWithinBudget: a round is not started after half of
// the budget, and the checks started all end at the deadline.
func TestCheckManyRoundsWithinBudget(t *testing.T) {
	c := newChecker(t)
	silent := loopback.Silent(t)
	budget := 600 * time.Millisecond
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), budget)
	defer cancel()
	// Rounds at 0, 200 ms (within half of 600 ms), 400 ms (not).
	s := c.CheckMany(ctx, silent.String(), DefaultOptions(), Plan{SYNCount: 5, SYNInterval: 200 * time.Millisecond})
	took := time.Since(start)
	if len(s.Results) != 2 || s.Classes[ClassTimeout] != 2 || s.Lost != 2 || s.Success {
		t.Fatalf("summary %+v", s)
	}
	if took < budget || took > budget+time.Second {
		t.Errorf("took %v for a %v budget", took, budget)
	}
}

func TestCheckManyAllAddressesLoopback(t *testing.T) {
	c := newChecker(t)
	ln := listen(t, "tcp4", "127.0.0.1:0")
	s := c.CheckMany(context.Background(), ln.Addr().String(), DefaultOptions(), Plan{SYNCount: 2, AllAddresses: true})
	if s.Resolved != 1 || len(s.Results) != 2 || !s.Success || len(s.Addresses) != 1 {
		t.Fatalf("summary %+v", s)
	}
}

func TestCheckManyFailsBeforeChecking(t *testing.T) {
	c := newChecker(t)
	s := c.CheckMany(context.Background(), "no-port", DefaultOptions(), Plan{SYNCount: 3})
	if len(s.Results) != 0 || s.Worst.Class != ClassResolve || s.Success {
		t.Fatalf("summary %+v", s)
	}
}

// TestCheckManyConcurrent: N checks of a peer that answers each after
// 300 ms take about 300 ms together, not N times that, each from its own
// source port, and the peer never sees an ACK.
func TestCheckManyConcurrent(t *testing.T) {
	ns := netns.New(t)
	peer := fakepeer.Start(t, ns, fakepeer.Config{OpenPorts: []uint16{80}, Delay: 300 * time.Millisecond})
	c := newChecker(t)
	start := time.Now()
	s := checkManyIn(t, ns, c, netip.AddrPortFrom(peer.Addr(), 80).String(), Plan{SYNCount: 5}, 5*time.Second)
	took := time.Since(start)
	if s.Classes[ClassOpen] != 5 || s.ACKSent {
		t.Fatalf("summary %+v\n%s", s, peer.Transcript())
	}
	if took > 1200*time.Millisecond {
		t.Errorf("5 checks answered after 300 ms each took %v together: not concurrent", took)
	}
	ports := map[uint16]bool{}
	for _, p := range peer.SentTCP() {
		if p.IsSYN() {
			ports[p.Src.Port()] = true
		}
	}
	if len(ports) != 5 {
		t.Errorf("%d source ports, want 5:\n%s", len(ports), peer.Transcript())
	}
	assertNoACK(t, peer, 5)
}

// TestCheckManyLatencySpread: a peer answering 1, 5 and 9 ms in turn.
// The truth is what happened on the wire, the time from the peer reading
// each SYN to its writing the SYN-ACK (a busy machine makes the peer's
// own timer late by milliseconds now and then); min, median, max and
// stddev of what the prober reports must be within 1 ms of the truth's.
func TestCheckManyLatencySpread(t *testing.T) {
	ns := netns.New(t)
	ms := time.Millisecond
	c := newChecker(t)
	// As in TestWireSYNThenRST, judged on the best of three probes: a
	// prober that is off would be off every time.
	var worst time.Duration
	for attempt := range 3 {
		peer := fakepeer.Start(t, ns, fakepeer.Config{
			OpenPorts: []uint16{80},
			Answer:    fakepeer.Delays(1*ms, 5*ms, 9*ms),
			// A peer per attempt: a distinct subnet each.
			Local4: netip.MustParsePrefix(fmt.Sprintf("198.18.%d.1/24", attempt+1)),
			Local6: netip.MustParsePrefix(fmt.Sprintf("fd00:198:18:%d::1/64", attempt+1)),
		})
		// The interval keeps the SYNs in order on the wire, so the
		// peer's delays go to checks 1, 2, 3 in turn.
		s := checkManyIn(t, ns, c, netip.AddrPortFrom(peer.Addr(), 80).String(), Plan{SYNCount: 3, SYNInterval: 20 * ms}, 5*time.Second)
		if s.Classes[ClassOpen] != 3 {
			t.Fatalf("summary %+v\n%s", s, peer.Transcript())
		}
		truth := spread(wireDelays(t, peer))
		worst = max((s.SYNACK.Median - truth.Median).Abs(), (s.SYNACK.Min - truth.Min).Abs(),
			(s.SYNACK.Max - truth.Max).Abs(), (s.SYNACK.Stddev - truth.Stddev).Abs(), (s.RTT - truth.Median).Abs())
		t.Logf("attempt %d: wire %+v; synack %+v, rtt median %v; worst error %v", attempt, truth, s.SYNACK, s.RTT, worst)
		if worst <= ms {
			break
		}
	}
	if worst > ms {
		t.Errorf("spread off the wire's by %v in each of 3 probes", worst)
	}
}

// wireDelays returns, for each connection the peer answered, the time
// from reading its SYN to writing the SYN-ACK.
func wireDelays(t *testing.T, peer *fakepeer.Peer) []time.Duration {
	t.Helper()
	syns := map[uint16]time.Time{}
	for _, p := range peer.SentTCP() {
		if _, seen := syns[p.Src.Port()]; p.IsSYN() && !seen {
			syns[p.Src.Port()] = p.Time
		}
	}
	var delays []time.Duration
	for _, a := range peer.Answers() {
		if sent, ok := syns[a.Dst.Port()]; ok && a.Flags.Has(fakepeer.SYN|fakepeer.ACK) {
			delays = append(delays, a.Time.Sub(sent))
		}
	}
	if len(delays) != len(syns) {
		t.Fatalf("%d SYN-ACKs for %d SYNs\n%s", len(delays), len(syns), peer.Transcript())
	}
	return delays
}

// assertNoACK waits for rsts RSTs at peer, then a while more, and fails
// if any segment but a SYN or an RST came from the prober.
func assertNoACK(t *testing.T, peer *fakepeer.Peer, rsts int) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for {
		n := 0
		for _, p := range peer.SentTCP() {
			if p.IsRST() {
				n++
			}
		}
		if n >= rsts {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d RSTs, want %d\n%s", n, rsts, peer.Transcript())
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Past the 200 ms the kernel's delayed ACK would take.
	quiet, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if p, err := peer.WaitFor(quiet, func(p fakepeer.Packet) bool { return p.Proto == 6 && !p.IsSYN() && !p.IsRST() }); err == nil {
		t.Errorf("prober sent %v\n%s", p, peer.Transcript())
	}
}
