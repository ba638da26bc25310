package fakepeer

import (
	"net/netip"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/seed-5ff58b3a/synack_exporter/internal/netns"
)

// client is a prober-like socket in the test's namespace.
type client struct {
	fd    int
	start time.Time // just before connect
	open  bool
}

// dial makes a socket in ns set up as the prober's (TCP_QUICKACK off and
// SO_LINGER {1,0} before connect) and starts a non-blocking connect to
// addr. The socket is closed when t ends unless the test closed it.
func dial(t testing.TB, ns *netns.NS, addr netip.AddrPort) *client {
	t.Helper()
	family := unix.AF_INET
	if addr.Addr().Is6() {
		family = unix.AF_INET6
	}
	c := &client{open: true}
	err := ns.Do(func() error {
		fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		c.fd = fd
		return nil
	})
	if err != nil {
		t.Fatalf("socket: %v", err)
	}
	t.Cleanup(c.close)
	if err := unix.SetsockoptInt(c.fd, unix.IPPROTO_TCP, unix.TCP_QUICKACK, 0); err != nil {
		t.Fatalf("TCP_QUICKACK: %v", err)
	}
	if err := unix.SetsockoptLinger(c.fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0}); err != nil {
		t.Fatalf("SO_LINGER: %v", err)
	}
	var sa unix.Sockaddr = &unix.SockaddrInet6{Addr: addr.Addr().As16(), Port: int(addr.Port())}
	if addr.Addr().Is4() {
		sa = &unix.SockaddrInet4{Addr: addr.Addr().As4(), Port: int(addr.Port())}
	}
	c.start = time.Now()
	if err := unix.Connect(c.fd, sa); err != unix.EINPROGRESS {
		t.Fatalf("connect %v: %v, want EINPROGRESS", addr, err)
	}
	return c
}

// wait waits up to d for the connect to end and returns when it ended and
// its errno; ok is false if it had not ended by then.
func (c *client) wait(t testing.TB, d time.Duration) (end time.Time, errno unix.Errno, ok bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	pfd := []unix.PollFd{{Fd: int32(c.fd), Events: unix.POLLOUT}}
	for {
		n, err := unix.Poll(pfd, int(time.Until(deadline).Milliseconds()))
		end = time.Now()
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			t.Fatalf("poll: %v", err)
		}
		if n == 0 {
			return end, 0, false
		}
		soerr, err := unix.GetsockoptInt(c.fd, unix.SOL_SOCKET, unix.SO_ERROR)
		if err != nil {
			t.Fatalf("SO_ERROR: %v", err)
		}
		return end, unix.Errno(soerr), true
	}
}

// port returns the socket's local port, which identifies its packets.
func (c *client) port(t testing.TB) uint16 {
	t.Helper()
	sa, err := unix.Getsockname(c.fd)
	if err != nil {
		t.Fatalf("getsockname: %v", err)
	}
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		return uint16(sa.Port)
	case *unix.SockaddrInet6:
		return uint16(sa.Port)
	}
	t.Fatalf("getsockname: %T", sa)
	return 0
}

func (c *client) tcpInfo(t testing.TB) *unix.TCPInfo {
	t.Helper()
	info, err := unix.GetsockoptTCPInfo(c.fd, unix.IPPROTO_TCP, unix.TCP_INFO)
	if err != nil {
		t.Fatalf("TCP_INFO: %v", err)
	}
	return info
}

// close closes the socket; with SO_LINGER {1,0} a connected one sends RST.
func (c *client) close() {
	if c.open {
		c.open = false
		unix.Close(c.fd)
	}
}

// fromPort matches the prober's packets from one socket.
func fromPort(port uint16, match func(Packet) bool) func(Packet) bool {
	return func(p Packet) bool { return p.Src.Port() == port && match(p) }
}
