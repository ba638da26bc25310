package prober

import (
	"context"
	"net"
	"net/netip"
	"os"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/seed-5ff58b3a/synack_exporter/internal/fakepeer"
	"github.com/seed-5ff58b3a/synack_exporter/internal/netns"
)

// The escaped ACK (issue 16): when nothing closes a socket within 200 ms
// of its SYN-ACK, the kernel's delayed ACK leaves and the target sees a
// connection. These tests make that happen on purpose and check that
// every path reports it as what it is: open, ACKSent, latency from the
// kernel's record.

const (
	peerOpenPort   = 80
	peerClosedPort = 81
)

// escapePeer is a fake peer that answers SYNs to peerOpenPort after 5 ms
// and resets any stray ACK, as a host with no connection for it does.
func escapePeer(t *testing.T) (*netns.NS, *fakepeer.Peer) {
	ns := netns.New(t)
	peer := fakepeer.Start(t, ns, fakepeer.Config{
		OpenPorts:   []uint16{peerOpenPort},
		ClosedPorts: []uint16{peerClosedPort},
		Delay:       5 * time.Millisecond,
	})
	return ns, peer
}

// TestEscapedACKResetByThePeerIsOpen: the check is stalled past the
// delayed ACK, the ACK leaves, the peer resets it before the check reads
// the socket. The check is open with ACKSent, not ECONNRESET, and its
// latency is the kernel's, not the stalled waiter's.
func TestEscapedACKResetByThePeerIsOpen(t *testing.T) {
	ns, peer := escapePeer(t)
	const stall = 400 * time.Millisecond
	stallTakers(t, stall)
	c := newChecker(t)
	for _, ip := range []netip.Addr{peer.Addr(), peer.Addr6()} {
		t.Run(ip.String(), func(t *testing.T) {
			peer.Reset()
			r := checkIn(t, ns, c, netip.AddrPortFrom(ip, peerOpenPort), 2*time.Second)
			if r.Class != ClassOpen || !r.ACKSent() || r.Errno != 0 || r.Err != nil {
				t.Fatalf("got %v ack %v errno %d (%v), want open with the ACK sent\n%s", r.Class, r.ACKSent(), r.Errno, r.Err, peer.Transcript())
			}
			ack, err := peer.WaitFor(context.Background(), fakepeer.Packet.IsBareACK)
			if err != nil {
				t.Fatal(err)
			}
			sent, answers := conversation(peer, ack.Src.Port())
			if len(sent) != 2 || !sent[0].IsSYN() || !sent[1].IsBareACK() || len(answers) != 2 || !answers[1].IsRST() {
				t.Fatalf("want SYN, SYN-ACK, ACK, RST from the peer; got\n%s", peer.Transcript())
			}
			// The peer reads the SYN after the kernel sent it and logs the
			// SYN-ACK before the kernel gets it, so the kernel's RTT holds
			// the peer's time (1 ms for the clocks' rounding) plus the
			// peer's wake-up on a busy machine: a few ms there, never the
			// stalled waiter's 400.
			wire := answers[0].Time.Sub(sent[0].Time)
			if r.RTT < wire-time.Millisecond || r.RTT > wire+stall/4 {
				t.Errorf("rtt %v, the wire says %v", r.RTT, wire)
			}
			if r.SYNACK != r.RTT {
				t.Errorf("synack %v, want the kernel's rtt %v: the waiter saw the answer 400 ms late", r.SYNACK, r.RTT)
			}
		})
	}
}

// TestEscapedACKWhenTheCallerGivesUp: the deadline passes while the waiter
// is stalled; the caller takes the socket back and finds the same truth.
func TestEscapedACKWhenTheCallerGivesUp(t *testing.T) {
	ns, peer := escapePeer(t)
	stallTakers(t, 900*time.Millisecond)
	c := newChecker(t)
	r := checkIn(t, ns, c, netip.AddrPortFrom(peer.Addr(), peerOpenPort), 500*time.Millisecond)
	if r.Class != ClassOpen || !r.ACKSent() || r.RTT <= 0 || r.SYNACK != r.RTT {
		t.Fatalf("got %+v, want open with the ACK sent and the kernel's latency\n%s", r, peer.Transcript())
	}
	if _, err := peer.WaitFor(context.Background(), fakepeer.Packet.IsBareACK); err != nil {
		t.Fatal(err)
	}
}

// TestResetWithoutSYNACKIsRefused: a peer that resets the SYN itself is
// a closed port, however late the waiter looks.
func TestResetWithoutSYNACKIsRefused(t *testing.T) {
	ns, peer := escapePeer(t)
	stallTakers(t, 400*time.Millisecond)
	c := newChecker(t)
	r := checkIn(t, ns, c, netip.AddrPortFrom(peer.Addr(), peerClosedPort), 2*time.Second)
	if r.Class != ClassRefused || r.Errno != syscall.ECONNREFUSED || r.ACKSent() {
		t.Fatalf("got %v errno %d ack %v (%v), want refused without an ACK", r.Class, r.Errno, r.ACKSent(), r.Err)
	}
}

// TestEscapedACKToARealListener: a listener in a namespace completes the
// handshake with the escaped ACK (its accept returns) and then keeps the
// connection, closes it (the prober's socket is in CLOSE_WAIT) or resets
// it (ECONNRESET). Each is open with ACKSent.
func TestEscapedACKToARealListener(t *testing.T) {
	ns := netns.New(t)
	if err := ns.AddAddr("lo", "198.18.1.1/32"); err != nil {
		t.Fatal(err)
	}
	stallTakers(t, 400*time.Millisecond)
	c := newChecker(t)
	for _, tc := range []struct {
		name string
		then func(*net.TCPConn)
	}{
		{"kept", func(*net.TCPConn) {}},
		{"closed", func(conn *net.TCPConn) { conn.Close() }},
		{"reset", func(conn *net.TCPConn) { conn.SetLinger(0); conn.Close() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var ln *net.TCPListener
			if err := ns.Do(func() (err error) {
				ln, err = net.ListenTCP("tcp4", &net.TCPAddr{IP: net.IPv4(198, 18, 1, 1)})
				return err
			}); err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			accepted := make(chan *net.TCPConn, 1)
			go func() {
				conn, err := ln.AcceptTCP()
				if err != nil {
					close(accepted)
					return
				}
				tc.then(conn)
				accepted <- conn
			}()
			r := checkIn(t, ns, c, ln.Addr().(*net.TCPAddr).AddrPort(), 2*time.Second)
			if r.Class != ClassOpen || !r.ACKSent() || r.Errno != 0 || r.RTT <= 0 || r.SYNACK != r.RTT {
				t.Errorf("got %+v, want open with the ACK sent and the kernel's latency", r)
			}
			ln.SetDeadline(time.Now().Add(2 * time.Second))
			conn, ok := <-accepted
			if !ok {
				t.Fatal("the listener's accept() returned nothing: the ACK did not complete a connection")
			}
			conn.Close()
		})
	}
}

// TestEveryPathTellsTheSameTruth hands a socket in each end state to
// each way a check can end (the caller right after connect(), the loop,
// a caller that waits, the sweeper, a context that ends, shutdown) and wants one answer from all.
func TestEveryPathTellsTheSameTruth(t *testing.T) {
	ns, peer := escapePeer(t)
	paths := map[string]func(t *testing.T, fd int, sent time.Time) Result{
		"early": func(t *testing.T, fd int, sent time.Time) Result {
			r, ok := answeredEarly(socket{fd: fd, sent: sent})
			if !ok {
				unix.Close(fd)
				t.Fatal("an ended socket was left waiting")
			}
			return r
		},
		"loop": func(t *testing.T, fd int, sent time.Time) Result {
			e, b, answer := begunIn(t, fd, sent)
			if err := e.register(b); err != nil {
				t.Fatal(err)
			}
			return <-answer
		},
		"wait": func(t *testing.T, fd int, sent time.Time) Result {
			e, _, _ := begunIn(t, fd, sent)
			return e.wait(context.Background(), time.Time{}, socket{fd: fd, sent: sent})
		},
		"sweep a waiting check": func(t *testing.T, fd int, sent time.Time) Result {
			e, _, _ := begunIn(t, fd, sent)
			w := &waiting{socket: socket{fd: fd, sent: sent}, file: os.NewFile(uintptr(fd), "check")}
			defer w.file.Close()
			if err := e.watch(w); err != nil {
				t.Fatal(err)
			}
			e.sweep()
			w.taken.Lock()
			defer w.taken.Unlock()
			return w.result
		},
		"expire": func(t *testing.T, fd int, sent time.Time) Result {
			e, b, answer := begunIn(t, fd, sent)
			e.insert(b)
			ctx, cancel := context.WithDeadline(context.Background(), longAgo)
			defer cancel()
			e.expire(ctx, b)
			select {
			case r := <-answer:
				return r
			default:
				t.Fatal("expire did not end the check")
				return Result{}
			}
		},
		"shutdown": func(t *testing.T, fd int, sent time.Time) Result {
			e, b, answer := begunIn(t, fd, sent)
			e.insert(b)
			if err := e.close(); err != nil {
				t.Fatal(err)
			}
			return <-answer
		},
	}
	for _, end := range []struct {
		name   string
		port   uint16
		class  Class
		errno  syscall.Errno
		ackent bool
	}{
		{"SYN-ACK then reset", peerOpenPort, ClassOpen, 0, true},
		{"reset", peerClosedPort, ClassRefused, syscall.ECONNREFUSED, false},
	} {
		for name, path := range paths {
			t.Run(end.name+"/"+name, func(t *testing.T) {
				fd, sent := endedSocket(t, ns, netip.AddrPortFrom(peer.Addr(), end.port))
				r := path(t, fd, sent)
				if r.Class != end.class || r.Errno != end.errno || r.ACKSent() != end.ackent {
					t.Errorf("got %v errno %d ack %v (%v), want %v errno %d ack %v", r.Class, r.Errno, r.ACKSent(), r.Err, end.class, end.errno, end.ackent)
				}
				if err := unix.Close(fd); err != unix.EBADF {
					t.Errorf("fd still open after the check ended (close: %v)", err)
				}
			})
		}
	}
}

// endedSocket connects to addr from inside ns and returns once the
// socket has ended (the peer's reset came), without reading SO_ERROR.
func endedSocket(t *testing.T, ns *netns.NS, addr netip.AddrPort) (int, time.Time) {
	t.Helper()
	var fd int
	var sent time.Time
	if err := ns.Do(func() error {
		var err error
		if fd, err = openSocket(FamilyOf(addr.Addr()).socketFamily(), DefaultOptions()); err != nil {
			return err
		}
		sa, err := sockaddr(addr, FamilyOf(addr.Addr()).socketFamily())
		if err != nil {
			return err
		}
		sent = time.Now()
		if err := unix.Connect(fd, sa); err != unix.EINPROGRESS {
			return err
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// POLLERR and POLLHUP come whatever Events asks for: the reset.
	pfd := []unix.PollFd{{Fd: int32(fd)}}
	if n, err := unix.Poll(pfd, 2000); n != 1 || err != nil {
		unix.Close(fd)
		t.Fatalf("socket to %v not reset within 2s (poll %d, %v)", addr, n, err)
	}
	return fd, sent
}

// begunIn makes an engine for one test and a begun check of fd for it,
// not yet in its map. answer gets the check's result.
func begunIn(t *testing.T, fd int, sent time.Time) (*epollEngine, *begun, chan Result) {
	t.Helper()
	eng, err := newEngine()
	if err != nil {
		t.Fatal(err)
	}
	e := eng.(*epollEngine)
	t.Cleanup(func() { e.close() })
	answer := make(chan Result, 1)
	b := &begun{socket: socket{fd: fd, sent: sent}, done: func(r Result) { answer <- r }, stop: func() bool { return true }}
	return e, b, answer
}

// insert puts b in e's map without telling epoll, so that only expire
// or shutdown can end it.
func (e *epollEngine) insert(b *begun) {
	e.mu.Lock()
	defer e.mu.Unlock()
	token, _ := e.track()
	b.token = token
	e.begun[token] = b
}
