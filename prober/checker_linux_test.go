package prober

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/seed-5ff58b3a/synack_exporter/internal/netns"
)

// listen opens a loopback listener that never accepts on its own; tests
// poll Accept with a deadline to prove nothing completed.
func listen(t testing.TB, network, addr string) *net.TCPListener {
	t.Helper()
	ln, err := net.Listen(network, addr)
	if err != nil {
		t.Skipf("cannot listen on %s %s: %v", network, addr, err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln.(*net.TCPListener)
}

func newChecker(t testing.TB) *Checker {
	t.Helper()
	c, err := NewChecker()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// newCheckerIn returns a Checker made inside ns, whose resets (with
// SOCK_DESTROY, as root) find the sockets its checks open there.
func newCheckerIn(t testing.TB, ns *netns.NS) *Checker {
	t.Helper()
	var c *Checker
	if err := ns.Do(func() error { c = newChecker(t); return nil }); err != nil {
		t.Fatal(err)
	}
	return c
}

// closedPort returns a loopback address nothing listens on: a listener is
// opened and closed, and the kernel will not hand the port out again to a
// listener soon, so a SYN to it gets a RST.
func closedPort(t testing.TB, network, addr string) netip.AddrPort {
	t.Helper()
	ln := listen(t, network, addr)
	ap := ln.Addr().(*net.TCPAddr).AddrPort()
	ln.Close()
	return ap
}

func assertNoAccept(t *testing.T, ln *net.TCPListener) {
	t.Helper()
	ln.SetDeadline(time.Now().Add(50 * time.Millisecond))
	if c, err := ln.Accept(); err == nil {
		c.Close()
		t.Fatal("listener accepted a connection: the handshake completed")
	} else if !errors.Is(err, syscall.EAGAIN) && !isTimeout(err) {
		t.Fatalf("accept: %v", err)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func TestCheckLoopback(t *testing.T) {
	c := newChecker(t)
	for _, tc := range []struct{ network, addr string }{
		{"tcp4", "127.0.0.1:0"},
		{"tcp6", "[::1]:0"},
	} {
		t.Run(tc.network, func(t *testing.T) {
			ln := listen(t, tc.network, tc.addr)
			open := ln.Addr().(*net.TCPAddr).AddrPort()
			closed := closedPort(t, tc.network, tc.addr)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()

			r := c.CheckAddr(ctx, open, DefaultOptions())
			if r.Class != ClassOpen || r.Errno != 0 || r.Err != nil {
				t.Fatalf("open port: got %v errno %d err %v", r.Class, r.Errno, r.Err)
			}
			if r.ACKSent() {
				t.Error("ACK sent before the RST")
			}
			if r.SYNACK <= 0 || r.SYNACK > time.Second || r.Addr != open || r.Mode != ModeHalfOpen {
				t.Errorf("open result: %+v", r)
			}
			r = c.CheckAddr(ctx, closed, DefaultOptions())
			if r.Class != ClassRefused || r.Errno != syscall.ECONNREFUSED {
				t.Fatalf("closed port: got %v errno %d err %v", r.Class, r.Errno, r.Err)
			}
			assertNoAccept(t, ln)
		})
	}
}

func TestThousandChecksNeverAccept(t *testing.T) {
	c := newChecker(t)
	ln := listen(t, "tcp4", "127.0.0.1:0")
	target := ln.Addr().(*net.TCPAddr).AddrPort()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := range 1000 {
		r := c.CheckAddr(ctx, target, DefaultOptions())
		if r.Class != ClassOpen || r.ACKSent() {
			t.Fatalf("check %d: class %v ack %v err %v", i, r.Class, r.ACKSent(), r.Err)
		}
	}
	assertNoAccept(t, ln)
}
