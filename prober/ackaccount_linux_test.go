package prober

import (
	"context"
	"net"
	"testing"
	"time"
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
			c := newChecker(t)
			ln := listen(t, "tcp4", "127.0.0.1:0")
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			r := tc.check(c, ctx, ln.Addr())
			if r.Class != ClassOpen || !r.ACKSent {
				t.Errorf("got %v ack %v (%v), want open with the ACK sent", r.Class, r.ACKSent, r.Err)
			}
			ln.SetDeadline(time.Now().Add(time.Second))
			conn, err := ln.Accept()
			if err != nil {
				t.Fatalf("the ACK should have completed a connection: %v", err)
			}
			conn.Close()
		})
	}
}

// TestPromptCloseReportsNoACK: a socket closed well before its delayed
// ACK falls due is not reported as having let one out.
func TestPromptCloseReportsNoACK(t *testing.T) {
	testHookJudged = func() { time.Sleep(delayedACK / 4) }
	t.Cleanup(func() { testHookJudged = func() {} })
	c := newChecker(t)
	ln := listen(t, "tcp4", "127.0.0.1:0")
	r := c.CheckAddr(context.Background(), ln.Addr().(*net.TCPAddr).AddrPort(), DefaultOptions())
	if r.Class != ClassOpen || r.ACKSent {
		t.Errorf("got %v ack %v (%v), want open without an ACK", r.Class, r.ACKSent, r.Err)
	}
	assertNoAccept(t, ln)
}
