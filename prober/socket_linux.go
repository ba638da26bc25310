package prober

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// This file owns a check's socket: opening it with the options a
// half-open check needs, connect() (the SYN), the look at an answer that
// came while connect() ran, and resetting a connection without closing
// its fd.

// socket is a check's socket once its SYN is out: the fd, the time taken
// right before connect(), and the engine's resetter, for its reset. It is
// copied down the path of a waiting check, whose goroutine's stack must
// stay within 8 kB (collector's TestInFlightProbeStack): keep it small.
type socket struct {
	fd     int
	sent   time.Time
	resets *resetter
}

// send opens and connects a socket for a check. answered is true when
// the check already has its result r (an error, or an answer that came
// while connect() ran, whose socket is then closed); otherwise s is the
// check, its SYN sent. e.setupSlots bounds how many callers run
// socket()..connect() at once.
func (e *epollEngine) send(ctx context.Context, addr netip.AddrPort, opts Options) (s socket, r Result, answered bool) {
	select {
	case e.setupSlots <- struct{}{}:
	default:
		// Only now ask for ctx's channel, which a context makes on demand.
		select {
		case e.setupSlots <- struct{}{}:
		case <-ctx.Done():
			return s, contextFailure(ctx.Err()), true
		}
	}
	defer func() { <-e.setupSlots }()
	family := FamilyOf(addr.Addr()).socketFamily()
	fd, err := openSocket(family, opts)
	if err != nil {
		return s, failure(ClassLocal, err), true
	}
	sa, err := sockaddr(addr, family)
	if err != nil {
		unix.Close(fd)
		return s, failure(ClassLocal, err), true
	}
	s = socket{fd: fd, sent: time.Now(), resets: e.resets}
	if err := unix.Connect(fd, sa); err != nil && !errors.Is(err, unix.EINPROGRESS) {
		unix.Close(fd)
		return s, connectFailure(os.NewSyscallError("connect", err)), true
	}
	r, answered = answerEarly(s)
	return s, r, answered
}

// answeredEarly ends a check whose answer came while connect() ran, as a
// target on this host (loopback, a local container) answers: the kernel
// handles the SYN-ACK or RST before connect() returns (EINPROGRESS, or
// even success). One look then spares the check the wait and its
// wake-up, two thread switches that cost more than the check; a remote
// target is still in SYN_SENT and waits as usual. An answered socket is
// reset and closed at once.
func answeredEarly(s socket) (Result, bool) {
	r, answered := judge(s, time.Now(), Result{})
	if answered {
		r = s.end(r, func() { unix.Close(s.fd) })
	}
	return r, answered
}

// answerEarly is answeredEarly; tests of the wait, the loop and the
// sweeper turn it off, since a loopback target would otherwise never
// reach them.
var answerEarly = answeredEarly

// disconnect resets fd's connection without closing fd: connect() with
// AF_UNSPEC runs tcp_disconnect, which sends a RST from ESTABLISHED or
// CLOSE_WAIT and leaves the socket in CLOSE, with no delayed ACK to come.
func disconnect(fd int) {
	sa := unix.RawSockaddr{Family: unix.AF_UNSPEC}
	_, _, _ = unix.Syscall(unix.SYS_CONNECT, uintptr(fd), uintptr(unsafe.Pointer(&sa)), unsafe.Sizeof(sa))
}

// socketFamily is p's address family for socket(2).
func (p IPProtocol) socketFamily() int {
	if p == IP4 {
		return unix.AF_INET
	}
	return unix.AF_INET6
}

// openSocket makes a non-blocking TCP socket set up for a half-open check.
// Every option goes on before connect(): TCP_QUICKACK=0 puts the socket in
// "pingpong" mode so the kernel delays the handshake's final ACK (about
// 200 ms) instead of sending it at once, and SO_LINGER{1,0} makes close()
// send a RST. On any failure the socket is closed, as net's sock_posix.go
// does, so no fd escapes.
func openSocket(family int, opts Options) (int, error) {
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.IPPROTO_TCP)
	if err != nil {
		return -1, os.NewSyscallError("socket", err)
	}
	if err := setup(fd, family, opts); err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

func setup(fd, family int, opts Options) error {
	if err := setInt(fd, unix.IPPROTO_TCP, unix.TCP_QUICKACK, 0, "TCP_QUICKACK"); err != nil {
		return err
	}
	if err := unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0}); err != nil {
		return os.NewSyscallError("setsockopt SO_LINGER", err)
	}
	if opts.SYNRetries > 0 {
		if err := setInt(fd, unix.IPPROTO_TCP, unix.TCP_SYNCNT, opts.SYNRetries, "TCP_SYNCNT"); err != nil {
			return err
		}
	}
	if opts.Mark != 0 {
		if err := setInt(fd, unix.SOL_SOCKET, unix.SO_MARK, int(opts.Mark), "SO_MARK"); err != nil {
			return err
		}
	}
	if opts.TOS != 0 {
		if err := setTOS(fd, family, int(opts.TOS)); err != nil {
			return err
		}
	}
	if opts.Interface != "" {
		if err := unix.BindToDevice(fd, opts.Interface); err != nil {
			return os.NewSyscallError("setsockopt SO_BINDTODEVICE", err)
		}
	}
	if opts.SourceIPAddress.IsValid() {
		return bindSource(fd, family, opts.SourceIPAddress)
	}
	return nil
}

func setInt(fd, level, opt, value int, name string) error {
	if err := unix.SetsockoptInt(fd, level, opt, value); err != nil {
		return os.NewSyscallError("setsockopt "+name, err)
	}
	return nil
}

func setTOS(fd, family, tos int) error {
	if family == unix.AF_INET6 {
		return setInt(fd, unix.IPPROTO_IPV6, unix.IPV6_TCLASS, tos, "IPV6_TCLASS")
	}
	return setInt(fd, unix.IPPROTO_IP, unix.IP_TOS, tos, "IP_TOS")
}

// bindSource binds the source address. IP_BIND_ADDRESS_NO_PORT defers the
// port choice to connect(), where the kernel can reuse a port for other
// destinations instead of reserving one per socket at bind time.
func bindSource(fd, family int, src netip.Addr) error {
	if err := setInt(fd, unix.IPPROTO_IP, unix.IP_BIND_ADDRESS_NO_PORT, 1, "IP_BIND_ADDRESS_NO_PORT"); err != nil {
		return err
	}
	sa, err := sockaddr(netip.AddrPortFrom(src, 0), family)
	if err != nil {
		return err
	}
	if err := unix.Bind(fd, sa); err != nil {
		return os.NewSyscallError("bind", err)
	}
	return nil
}

// sockaddr converts ap for a socket of family; a source address of the
// other family is refused here rather than by a less clear bind() errno.
func sockaddr(ap netip.AddrPort, family int) (unix.Sockaddr, error) {
	a := ap.Addr()
	if (family == unix.AF_INET) != a.Unmap().Is4() {
		return nil, fmt.Errorf("address %s is not of the target's family: %w", a, unix.EAFNOSUPPORT)
	}
	if family == unix.AF_INET {
		return &unix.SockaddrInet4{Port: int(ap.Port()), Addr: a.Unmap().As4()}, nil
	}
	sa := &unix.SockaddrInet6{Port: int(ap.Port()), Addr: a.As16()}
	if z := a.Zone(); z != "" {
		idx, err := zoneIndex(z)
		if err != nil {
			return nil, err
		}
		sa.ZoneId = idx
	}
	return sa, nil
}

// zoneIndex accepts an interface name or number, as net.ParseIP's users
// expect of "fe80::1%eth0" and "fe80::1%2".
func zoneIndex(zone string) (uint32, error) {
	if n, err := strconv.ParseUint(zone, 10, 32); err == nil {
		return uint32(n), nil
	}
	ifi, err := net.InterfaceByName(zone)
	if err != nil {
		return 0, fmt.Errorf("zone %q: %w", zone, unix.ENODEV)
	}
	return uint32(ifi.Index), nil
}
