package netns

import (
	"net/netip"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// longWait bounds waits for answers that come back at once on loopback.
const longWait = 5 * time.Second

// socket returns a non-blocking TCP socket closed when t ends. SO_LINGER
// {1,0} makes the close an RST, so no test leaves TIME_WAIT behind.
func socket(t testing.TB, family int) int {
	t.Helper()
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("socket: %v", err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if err := unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0}); err != nil {
		t.Fatalf("SO_LINGER: %v", err)
	}
	return fd
}

func sockaddr(ap netip.AddrPort) unix.Sockaddr {
	if ap.Addr().Is4() {
		return &unix.SockaddrInet4{Addr: ap.Addr().As4(), Port: int(ap.Port())}
	}
	return &unix.SockaddrInet6{Addr: ap.Addr().As16(), Port: int(ap.Port())}
}

// connectAndWait makes a non-blocking connect on fd and waits up to wait
// for its outcome. It returns the errno, from connect itself or from
// SO_ERROR (0 for a connection); errno is 0 with pending true when
// nothing came back in time.
func connectAndWait(t testing.TB, fd int, sa unix.Sockaddr, wait time.Duration) (errno unix.Errno, pending bool) {
	t.Helper()
	err := unix.Connect(fd, sa)
	switch {
	case err == nil:
		return 0, false
	case err != unix.EINPROGRESS:
		return err.(unix.Errno), false
	}
	pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLOUT}}
	deadline := time.Now().Add(wait)
	for {
		n, err := unix.Poll(pfd, int(time.Until(deadline).Milliseconds()))
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			t.Fatalf("poll: %v", err)
		}
		if n == 0 {
			return 0, true
		}
		break
	}
	soerr, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR)
	if err != nil {
		t.Fatalf("SO_ERROR: %v", err)
	}
	return unix.Errno(soerr), false
}

// netnsInode identifies the namespace socket fd belongs to.
func netnsInode(t testing.TB, fd int) uint64 {
	t.Helper()
	nsfd, err := unix.IoctlRetInt(fd, unix.SIOCGSKNS)
	if err != nil {
		t.Fatalf("ioctl SIOCGSKNS: %v", err)
	}
	defer unix.Close(nsfd)
	return inode(t, nsfd)
}

func nsInode(t testing.TB, ns *NS) uint64 {
	t.Helper()
	ns.mu.RLock()
	defer ns.mu.RUnlock()
	return inode(t, ns.fd)
}

// threadNetnsInode identifies the namespace of the calling thread.
func threadNetnsInode(t testing.TB) uint64 {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat("/proc/thread-self/ns/net", &st); err != nil {
		t.Fatal(err)
	}
	return st.Ino
}

func inode(t testing.TB, fd int) uint64 {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		t.Fatalf("fstat: %v", err)
	}
	return st.Ino
}
