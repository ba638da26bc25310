package prober

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/seed-5ff58b3a/synack_exporter/internal/fakepeer"
	"github.com/seed-5ff58b3a/synack_exporter/internal/netns"
	"github.com/seed-5ff58b3a/synack_exporter/internal/testenv"
)

// TestDestroyResetsAConnectedSocket opens a check's socket to a loopback
// listener, whose SYN-ACK is in before connect() returns, and resets it
// with SOCK_DESTROY, over IPv4, IPv6 and bound to a device (found only
// with its index): the reset must go through the kernel (exact), leave the
// socket in CLOSE with the RST among its counters and no ACK, and no
// connection at the listener.
func TestDestroyResetsAConnectedSocket(t *testing.T) {
	testenv.RequireRoot(t)
	c := newChecker(t)
	e := c.eng.(*epollEngine)
	if !e.resets.exact() {
		t.Fatal("as root, the engine should reset with SOCK_DESTROY")
	}
	for _, tc := range []struct {
		name, network, addr string
		opts                Options
	}{
		{"IPv4", "tcp4", "127.0.0.1:0", DefaultOptions()},
		{"IPv6", "tcp6", "[::1]:0", DefaultOptions()},
		{"IPv4 bound to lo", "tcp4", "127.0.0.1:0", Options{Interface: "lo"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ln := listen(t, tc.network, tc.addr)
			addr := ln.Addr().(*net.TCPAddr).AddrPort()
			s := connected(t, e, addr, tc.opts)
			r, answered := judge(s, time.Now(), Result{})
			if !answered || r.Class != ClassOpen || !r.live {
				t.Fatalf("judge: %+v, want open and still connected", r)
			}
			got, exact := e.resets.destroy(s, r)
			var info unix.TCPInfo
			if _, err := tcpInfo(s.fd, &info); err != nil {
				t.Fatal(err)
			}
			if !exact || got.ACKSent() || got.ACKs != 0 || got.live {
				t.Errorf("destroy: exact %v, %+v; want exact, no ACK", exact, got)
			}
			if info.State != tcpClose || info.Segs_out != 2 {
				t.Errorf("after destroy: state %d, segs_out %d; want CLOSE (7) and 2 (the SYN, the RST)", info.State, info.Segs_out)
			}
			assertNoAccept(t, ln)
		})
	}
}

// connected opens a check's socket to addr, a loopback listener that has
// answered by the time connect() returns.
func connected(t *testing.T, e *epollEngine, addr netip.AddrPort, opts Options) socket {
	t.Helper()
	family := FamilyOf(addr.Addr()).socketFamily()
	fd, err := openSocket(family, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	sa, err := sockaddr(addr, family)
	if err != nil {
		t.Fatal(err)
	}
	s := socket{fd: fd, sent: time.Now(), resets: e.resets}
	if err := unix.Connect(fd, sa); err != nil && err != unix.EINPROGRESS {
		t.Fatal(err)
	}
	return s
}

// BenchmarkReset is BenchmarkCheck with each way to send the RST: with
// SOCK_DESTROY (as root), whose counters give an exact ACK count, and
// with close(), which estimates the delayed ACK. In one run:
//
//	go test -run '^$' -bench Reset -count 6 ./prober | tee reset.txt
//	benchstat -col /reset reset.txt
func BenchmarkReset(b *testing.B) {
	target := benchTarget(b)
	for _, reset := range []string{"destroy", "close"} {
		c := newChecker(b)
		if reset == "close" {
			c.estimateACKs()
		} else if !c.ExactACKs() {
			b.Skip("SOCK_DESTROY needs CAP_NET_ADMIN")
		}
		for _, n := range []int{1, 64} {
			b.Run(fmt.Sprintf("reset=%s/inflight=%d", reset, n), func(b *testing.B) {
				runParallel(b, n, func() {
					if r := c.CheckAddr(context.Background(), target, DefaultOptions()); r.Class != ClassOpen {
						b.Errorf("check: %v %v", r.Class, r.Err)
					}
				})
			})
		}
	}
}

// TestResetterTurnsOffWhenItFindsNoSocket: a Checker made outside the
// namespace its checks run in has its netlink socket in the other one,
// where the kernel finds none of their sockets. The checks are still
// right (reset with close()), and after maxMisses of them the resetter
// stops trying.
func TestResetterTurnsOffWhenItFindsNoSocket(t *testing.T) {
	ns := netns.New(t)
	peer := fakepeer.Start(t, ns, fakepeer.Config{OpenPorts: []uint16{80}})
	c := newChecker(t)
	if !c.ExactACKs() {
		t.Fatal("as root, the engine should reset with SOCK_DESTROY")
	}
	target := netip.AddrPortFrom(peer.Addr(), 80)
	for i := range maxMisses {
		if r := checkIn(t, ns, c, target, 2*time.Second); r.Class != ClassOpen || r.ACKSent() {
			t.Fatalf("check %d: %v ack %v (%v), want open without an ACK", i, r.Class, r.ACKSent(), r.Err)
		}
		if want := i < maxMisses-1; c.ExactACKs() != want {
			t.Fatalf("after %d checks the kernel could not find, ExactACKs is %v", i+1, !want)
		}
	}
}
