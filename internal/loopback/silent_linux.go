// Package loopback makes loopback targets that behave in ways a test
// needs, without privilege: here, one that never answers.
package loopback

import (
	"net"
	"net/netip"
	"testing"

	"golang.org/x/sys/unix"
)

// Silent returns a loopback address whose SYNs the kernel drops, so checks
// of it last until their deadline: a listener with a backlog of one whose
// accept queue is already full (one real connection, never accepted).
// Linux drops a SYN to a listener whose accept queue is full. It needs no
// root or namespace, so overload and concurrency tests run anywhere.
func Silent(t testing.TB) netip.AddrPort {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	addr := netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), uint16(sa.(*unix.SockaddrInet4).Port))
	filler, err := net.Dial("tcp4", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { filler.Close() })
	return addr
}
