package prober

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// openSocket makes a non-blocking TCP socket set up for a half-open check.
// Every option goes on before connect(): TCP_QUICKACK=0 puts the socket in
// "pingpong" mode so the kernel delays the handshake's final ACK (about
// 200 ms) instead of sending it at once, and SO_LINGER{1,0} makes close()
// send a RST. On any failure the socket is closed, as net's sock_posix.go
// does, so no fd escapes.
func openSocket(addr netip.AddrPort, opts Options) (int, error) {
	family := unix.AF_INET
	if addr.Addr().Is6() {
		family = unix.AF_INET6
	}
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
