package prober

import (
	"context"
	"net"
	"testing"
	"time"
)

// stallLoop makes the loop sleep after every epoll_pwait, as if the process
// got no CPU, for the duration of one test. Tests using it do not run in
// parallel.
func stallLoop(t *testing.T, d time.Duration) {
	t.Helper()
	throughLoop(t)
	testHookTaking = func() { time.Sleep(d) }
	t.Cleanup(func() { testHookTaking = func() {} })
}

// throughLoop sends every check of one test through the loop, even those
// a loopback target answers while connect() runs.
func throughLoop(t *testing.T) {
	t.Helper()
	answerEarly = func(socket) (Result, bool) { return Result{}, false }
	t.Cleanup(func() { answerEarly = answeredEarly })
}

// TestStarvedLoopReportsTheACK is the engine's canary: when the loop is
// held past the kernel's 200 ms delayed ACK, the ACK does leave, the
// listener gets a connection, and the result says so. It proves that
// ACKSent and the no-accept assertions elsewhere can fail.
func TestStarvedLoopReportsTheACK(t *testing.T) {
	stallLoop(t, 400*time.Millisecond)
	c := newChecker(t)
	ln := listen(t, "tcp4", "127.0.0.1:0")
	target := ln.Addr().(*net.TCPAddr).AddrPort()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	r := c.CheckAddr(ctx, target, DefaultOptions())
	if r.Class != ClassOpen || !r.ACKSent {
		t.Fatalf("got %v ack %v (%v), want open with the ACK sent", r.Class, r.ACKSent, r.Err)
	}
	ln.SetDeadline(time.Now().Add(time.Second))
	conn, err := ln.Accept()
	if err != nil {
		t.Fatalf("the leaked ACK should have completed a connection: %v", err)
	}
	conn.Close()
}

// TestAbandonedCheckReportsTheACK: a caller whose deadline passes while
// the loop is stalled still learns that the SYN-ACK came and the ACK
// left: the check is open, as the loop would have said.
func TestAbandonedCheckReportsTheACK(t *testing.T) {
	stallLoop(t, 600*time.Millisecond)
	c := newChecker(t)
	ln := listen(t, "tcp4", "127.0.0.1:0")
	target := ln.Addr().(*net.TCPAddr).AddrPort()
	ctx, cancel := context.WithTimeout(context.Background(), 350*time.Millisecond)
	defer cancel()
	r := c.CheckAddr(ctx, target, DefaultOptions())
	if r.Class != ClassOpen || !r.ACKSent {
		t.Fatalf("got %v ack %v (%v), want open with the ACK sent", r.Class, r.ACKSent, r.Err)
	}
}

// TestSweeperRescuesAStarvedLoop holds only the loop, as the Go scheduler
// does when the netpoller has made the loop runnable but no P runs it: the
// timer-driven sweeper takes the event and sends the RST in time.
func TestSweeperRescuesAStarvedLoop(t *testing.T) {
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
		if r.Class != ClassOpen || r.ACKSent {
			t.Fatalf("check %d: got %v ack %v (%v), want open without an ACK", i, r.Class, r.ACKSent, r.Err)
		}
		if r.SYNACK > 150*time.Millisecond {
			t.Errorf("check %d: synack %v: the sweeper should have answered within a few sweeps", i, r.SYNACK)
		}
	}
	assertNoAccept(t, ln)
}
