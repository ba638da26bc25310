package prober

import (
	"context"
	"net"
	"testing"
	"time"
)

// stallTakers makes whoever is about to take an answer (a waiter, the
// loop, the sweeper) sleep first, as if the process got no CPU, for the
// duration of one test. Tests using it do not run in parallel.
func stallTakers(t *testing.T, d time.Duration) {
	t.Helper()
	throughLoop(t)
	testHookTaking = func() { time.Sleep(d) }
	t.Cleanup(func() { testHookTaking = func() {} })
}

// throughLoop makes every check of one test wait (in the netpoller, or
// in the loop), even those a loopback target answers while connect()
// runs.
func throughLoop(t *testing.T) {
	t.Helper()
	answerEarly = func(socket) (Result, bool) { return Result{}, false }
	t.Cleanup(func() { answerEarly = answeredEarly })
}

// TestStarvedWaiterReportsTheACK is the engine's canary: when a waiting
// check (and the sweeper) is held past the kernel's 200 ms delayed ACK, the ACK does leave, the
// listener gets a connection, and the result says so. It proves that
// ACKSent and the no-accept assertions elsewhere can fail.
func TestStarvedWaiterReportsTheACK(t *testing.T) {
	stallTakers(t, 400*time.Millisecond)
	c := newChecker(t)
	ln := listen(t, "tcp4", "127.0.0.1:0")
	target := ln.Addr().(*net.TCPAddr).AddrPort()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	r := c.CheckAddr(ctx, target, DefaultOptions())
	if r.Class != ClassOpen || !r.ACKSent() {
		t.Fatalf("got %v ack %v (%v), want open with the ACK sent", r.Class, r.ACKSent(), r.Err)
	}
	ln.SetDeadline(time.Now().Add(time.Second))
	conn, err := ln.Accept()
	if err != nil {
		t.Fatalf("the leaked ACK should have completed a connection: %v", err)
	}
	conn.Close()
}

// TestAbandonedCheckReportsTheACK: a caller whose deadline passes while
// every taker is stalled still learns that the SYN-ACK came and the ACK
// left: the check is open, as the loop would have said.
func TestAbandonedCheckReportsTheACK(t *testing.T) {
	stallTakers(t, 600*time.Millisecond)
	c := newChecker(t)
	ln := listen(t, "tcp4", "127.0.0.1:0")
	target := ln.Addr().(*net.TCPAddr).AddrPort()
	ctx, cancel := context.WithTimeout(context.Background(), 350*time.Millisecond)
	defer cancel()
	r := c.CheckAddr(ctx, target, DefaultOptions())
	if r.Class != ClassOpen || !r.ACKSent() {
		t.Fatalf("got %v ack %v (%v), want open with the ACK sent", r.Class, r.ACKSent(), r.Err)
	}
}

// TestSweeperRescuesAStarvedWaiter holds a waiting check after its
// wake-up, as the Go scheduler does when the netpoller has made the
// waiter runnable but no P runs it: the timer-driven sweeper takes the
// answer and sends the RST in time.
func TestSweeperRescuesAStarvedWaiter(t *testing.T) {
	throughLoop(t)
	testHookWoken = func() { time.Sleep(400 * time.Millisecond) }
	t.Cleanup(func() { testHookWoken = func() {} })
	c := newChecker(t)
	ln := listen(t, "tcp4", "127.0.0.1:0")
	target := ln.Addr().(*net.TCPAddr).AddrPort()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	for i := range 3 {
		r := c.CheckAddr(ctx, target, DefaultOptions())
		if r.Class != ClassOpen || r.ACKSent() {
			t.Fatalf("check %d: got %v ack %v (%v), want open without an ACK", i, r.Class, r.ACKSent(), r.Err)
		}
		if r.SYNACK > 150*time.Millisecond {
			t.Errorf("check %d: synack %v: the sweeper should have answered within a few sweeps", i, r.SYNACK)
		}
	}
	assertNoAccept(t, ln)
}

// TestSweeperRescuesAStarvedLoop holds the loop each time the netpoller
// wakes it: CheckMany's checks, which only the loop and the sweeper look
// at, must still be reset by the sweeper before the delayed ACK.
func TestSweeperRescuesAStarvedLoop(t *testing.T) {
	throughLoop(t)
	testHookWoken = func() { time.Sleep(400 * time.Millisecond) }
	t.Cleanup(func() { testHookWoken = func() {} })
	c := newChecker(t)
	ln := listen(t, "tcp4", "127.0.0.1:0")
	target := ln.Addr().(*net.TCPAddr).AddrPort()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	s := c.CheckMany(ctx, target.String(), DefaultOptions(), Plan{SYNCount: 10})
	if len(s.Results) != 10 {
		t.Fatalf("%d results, want 10", len(s.Results))
	}
	for i, r := range s.Results {
		if r.Class != ClassOpen || r.ACKSent() {
			t.Errorf("check %d: got %v ack %v (%v), want open without an ACK", i, r.Class, r.ACKSent(), r.Err)
		}
		if r.SYNACK > 150*time.Millisecond {
			t.Errorf("check %d: synack %v: the sweeper should have answered within a few sweeps", i, r.SYNACK)
		}
	}
	assertNoAccept(t, ln)
}
