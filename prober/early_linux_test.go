package prober

import (
	"errors"
	"net"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/seed-5ff58b3a/synack_exporter/internal/loopback"
)

// connectAndSettle starts a half-open check of target by hand and waits,
// with poll(2) and no loop, until the socket is writable or the budget
// passes. It returns the fd and when the SYN left.
func connectAndSettle(t *testing.T, target netip.AddrPort, budget time.Duration) (int, time.Time) {
	t.Helper()
	fd, err := openSocket(FamilyOf(target.Addr()).socketFamily(), DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	sa, err := sockaddr(target, FamilyOf(target.Addr()).socketFamily())
	if err != nil {
		unix.Close(fd)
		t.Fatal(err)
	}
	sent := time.Now()
	if err := unix.Connect(fd, sa); err != nil && !errors.Is(err, unix.EINPROGRESS) {
		unix.Close(fd)
		t.Fatalf("connect: %v", err)
	}
	pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLOUT}}
	if _, err := unix.Poll(pfd, int(budget.Milliseconds())); err != nil {
		unix.Close(fd)
		t.Fatalf("poll: %v", err)
	}
	return fd, sent
}

func TestAnsweredEarly(t *testing.T) {
	t.Run("established", func(t *testing.T) {
		ln := listen(t, "tcp4", "127.0.0.1:0")
		fd, sent := connectAndSettle(t, ln.Addr().(*net.TCPAddr).AddrPort(), time.Second)
		r, ok := answeredEarly(socket{fd: fd, sent: sent})
		if !ok || r.Class != ClassOpen || r.ACKSent() || r.SYNACK <= 0 {
			unix.Close(fd)
			t.Fatalf("got ok=%v %v ack %v synack %v (%v), want an open result without an ACK", ok, r.Class, r.ACKSent(), r.SYNACK, r.Err)
		}
		assertNoAccept(t, ln)
	})
	t.Run("refused", func(t *testing.T) {
		fd, sent := connectAndSettle(t, closedPort(t, "tcp4", "127.0.0.1:0"), time.Second)
		r, ok := answeredEarly(socket{fd: fd, sent: sent})
		if !ok || r.Class != ClassRefused || r.Errno != syscall.ECONNREFUSED {
			unix.Close(fd)
			t.Fatalf("got ok=%v %v errno %d (%v), want refused", ok, r.Class, r.Errno, r.Err)
		}
	})
	t.Run("no answer yet", func(t *testing.T) {
		fd, sent := connectAndSettle(t, loopback.Silent(t), 50*time.Millisecond)
		defer unix.Close(fd)
		if r, ok := answeredEarly(socket{fd: fd, sent: sent}); ok {
			t.Fatalf("a check still in SYN_SENT was answered: %v (%v)", r.Class, r.Err)
		}
		// The socket is still the caller's, open, for the loop to take.
		if _, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR); err != nil {
			t.Fatalf("fd no longer open: %v", err)
		}
	})
}

// TestLoopbackSkipsTheLoop: a loopback listener answers while connect()
// runs, so its checks end at once even while neither the loop nor the
// sweeper can take events.
func TestLoopbackSkipsTheLoop(t *testing.T) {
	testHookTaking = func() { time.Sleep(400 * time.Millisecond) }
	t.Cleanup(func() { testHookTaking = func() {} })
	c := newChecker(t)
	ln := listen(t, "tcp4", "127.0.0.1:0")
	target := ln.Addr().(*net.TCPAddr).AddrPort()
	early := 0
	for range 20 {
		start := time.Now()
		r := c.CheckAddr(t.Context(), target, DefaultOptions())
		if r.Class != ClassOpen || r.ACKSent() {
			t.Fatalf("got %v ack %v (%v), want open without an ACK", r.Class, r.ACKSent(), r.Err)
		}
		if time.Since(start) < 100*time.Millisecond {
			early++
		}
	}
	// The kernel may leave the SYN-ACK to ksoftirqd on a loaded machine;
	// then that check waits for the stalled loop. Most must not.
	if early < 10 {
		t.Errorf("%d of 20 loopback checks ended before the stalled loop could answer them", early)
	}
	assertNoAccept(t, ln)
}
