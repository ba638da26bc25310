package prober

import (
	"encoding/binary"
	"os"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// This file owns reset: the RST of a check's socket once judged, and the
// last word on how many ACKs left before it.
//
// Reading TCP_INFO and sending the RST are two steps, and an ACK can
// leave between them: the delayed ACK when the thread is preempted past
// it, or the kernel's answer to what the target sends meanwhile (a
// repeated SYN-ACK gets a challenge ACK at once). close() and
// connect(AF_UNSPEC) run tcp_disconnect, which zeroes tcpi_segs_out as it
// sends the RST, so after them nothing tells. The kernel's SOCK_DESTROY
// (sock_diag, CONFIG_INET_DIAG_DESTROY) runs tcp_abort instead: under the
// socket's lock it sends the RST and moves the socket to CLOSE, cancelling
// the delayed ACK, and keeps the counters. Read after it, tcpi_segs_out
// is the socket's whole life: the SYNs, every ACK, the RST. It needs
// CAP_NET_ADMIN; without it the engine resets with close() and estimates
// the ACK from the time (Result.closed).

// resetter sends SOCK_DESTROY requests through a sock_diag netlink
// socket of the engine's network namespace. A nil resetter, or one that
// is off, leaves every reset to close().
type resetter struct {
	// nl is the netlink socket; an os.File so that a request in flight
	// holds it open (RawConn.Control) while the engine closes it.
	nl  *os.File
	raw syscall.RawConn
	// off is set when the kernel refuses SOCK_DESTROY for every socket
	// (no CAP_NET_ADMIN after all, or a kernel without it), or when it
	// found none of the last maxMisses sockets (no tcp_diag module, or
	// checks made from another network namespace than the netlink
	// socket's): then each try would only cost syscalls.
	off    atomic.Bool
	misses atomic.Int32
}

// maxMisses is how many resets in a row the kernel may fail to find
// before the resetter turns itself off.
const maxMisses = 64

// newResetter returns a resetter when this process may destroy sockets,
// else nil.
func newResetter() *resetter {
	if !hasNetAdmin() {
		return nil
	}
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.NETLINK_SOCK_DIAG)
	if err != nil {
		return nil
	}
	nl := os.NewFile(uintptr(fd), "sock_diag")
	raw, _ := nl.SyscallConn()
	return &resetter{nl: nl, raw: raw}
}

// hasNetAdmin reports whether CAP_NET_ADMIN is in this thread's
// effective set, which sock_diag's SOCK_DESTROY asks for.
func hasNetAdmin() bool {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	return unix.Capget(&hdr, &data[0]) == nil && data[0].Effective&(1<<unix.CAP_NET_ADMIN) != 0
}

// exact reports whether resets go through SOCK_DESTROY, so that ACKs
// counts every ACK; else it is estimated.
func (rs *resetter) exact() bool { return rs != nil && !rs.off.Load() }

func (rs *resetter) close() {
	if rs != nil {
		rs.nl.Close()
	}
}

// end sends the RST of s, whose verdict is r, and settles r's account of
// the ACKs that left. release closes s's fd, or disconnects it when its
// waiter still holds it; after SOCK_DESTROY it sends nothing.
func (s socket) end(r Result, release func()) Result {
	testHookJudged()
	r, exact := s.resets.destroy(s, r)
	release()
	if !exact {
		r = r.closed(time.Now())
	}
	return r
}

// destroy resets s with SOCK_DESTROY when the verdict found it still
// connected or connecting (r.live: a SYN-ACK may come after a verdict of
// no answer, and its ACK leave before the reset) and reads its counters
// after. exact is false when it did not, and the caller resets s as
// usual.
func (rs *resetter) destroy(s socket, r Result) (_ Result, exact bool) {
	if !r.live || !rs.exact() {
		return r, false
	}
	var req [nlmsgLen + diagReqLen]byte
	var info unix.TCPInfo
	if !diagRequest(req[:], s.fd) {
		// The addresses are gone once the target's RST has closed the
		// socket: its counters are final then, with no RST of ours.
		if _, err := tcpInfo(s.fd, &info); err != nil || info.State != tcpClose {
			return r, false
		}
		return r.counted(&info, 0, s.sent), true
	}
	if !rs.request(req[:], s.fd, &info) {
		// A socket bound to a device (interface:, an IPv6 zone) is found
		// only with its index, which costs a syscall to read: only now.
		dev, err := unix.GetsockoptInt(s.fd, unix.SOL_SOCKET, unix.SO_BINDTOIFINDEX)
		if err != nil || dev == 0 || !rs.exact() {
			return r, false
		}
		binary.NativeEndian.PutUint32(req[nlmsgLen+diagIf:], uint32(dev))
		if !rs.request(req[:], s.fd, &info) {
			return r, false
		}
	}
	// tcp_abort sent a RST if the socket was connected: it was at the
	// verdict (open) unless the target sent something since, which moves
	// segs_in. Then it was if its SYN got acknowledged (a SYN-ACK came
	// after a verdict of no answer) and nothing else closed it first (the
	// target's own RST leaves ECONNRESET in SO_ERROR, not tcp_abort's
	// ECONNABORTED).
	var rst uint32
	if r.Class == ClassOpen {
		rst = 1
	}
	if info.Segs_in != r.segsIn {
		rs.drain()
		soerr, err := unix.GetsockoptInt(s.fd, unix.SOL_SOCKET, unix.SO_ERROR)
		rst = 0
		if err == nil && unix.Errno(soerr) == unix.ECONNABORTED && info.Bytes_acked > 0 {
			rst = 1
		}
	}
	return r.counted(&info, rst, s.sent), true
}

// counted is r once its socket, sent at sent, is in CLOSE with the
// counters info: every ACK it sent is in them, beside its SYNs and rst
// resets.
func (r Result) counted(info *unix.TCPInfo, rst uint32, sent time.Time) Result {
	if acks := acksOf(info, rst); acks > r.ACKs {
		if !r.ACKSent() && r.Class == ClassOpen {
			r.SYNACK = kernelSYNACK(info, time.Since(sent))
		}
		r.ACKs = acks
	}
	r.settle()
	return r
}

// request sends req, a SOCK_DESTROY request for fd's connection, and
// reads fd's TCP_INFO into info after it. The kernel handles the request
// within write() and answers only a failure, so the socket's state tells
// whether it went through.
func (rs *resetter) request(req []byte, fd int, info *unix.TCPInfo) bool {
	var werr error
	if cerr := rs.raw.Control(func(nl uintptr) {
		_, werr = unix.Write(int(nl), req)
	}); cerr != nil || werr != nil {
		return false
	}
	if _, err := tcpInfo(fd, info); err != nil || info.State != tcpClose {
		rs.drain()
		if rs.misses.Add(1) >= maxMisses {
			rs.off.Store(true)
		}
		return false
	}
	rs.misses.Store(0)
	return true
}

// drain reads the kernel's answers to requests that failed (one for a
// socket the target's RST had closed, whose addresses the kernel no
// longer finds, and for every failure) and turns the resetter off when
// one says it never will work here.
func (rs *resetter) drain() {
	var buf [256]byte
	_ = rs.raw.Control(func(fd uintptr) {
		for {
			n, _, err := unix.Recvfrom(int(fd), buf[:], unix.MSG_DONTWAIT)
			if err != nil || n < nlmsgLen+4 {
				return
			}
			if binary.NativeEndian.Uint16(buf[4:]) != unix.NLMSG_ERROR {
				continue
			}
			switch unix.Errno(-int32(binary.NativeEndian.Uint32(buf[nlmsgLen:]))) {
			case unix.EPERM, unix.EOPNOTSUPP, unix.EINVAL:
				rs.off.Store(true)
			}
		}
	})
}

// tcpClose is TCP_CLOSE, include/net/tcp_states.h.
const tcpClose = 7

// Sizes of struct nlmsghdr and struct inet_diag_req_v2, and where the
// fields of its struct inet_diag_sockid are in the latter.
const (
	nlmsgLen   = 16
	diagReqLen = 56
	diagSport  = 8
	diagDport  = 10
	diagSrc    = 12
	diagDst    = 28
	diagIf     = 44
	diagCookie = 48
)

// diagRequest writes into b a SOCK_DESTROY request for fd's connection,
// found by its addresses and ports.
func diagRequest(b []byte, fd int) bool {
	var local, peer unix.RawSockaddrAny
	if !sockname(fd, &local) || !peername(fd, &peer, local.Addr.Family) {
		return false
	}
	ne := binary.NativeEndian
	ne.PutUint32(b[0:], uint32(len(b)))
	ne.PutUint16(b[4:], unix.SOCK_DESTROY)
	ne.PutUint16(b[6:], unix.NLM_F_REQUEST)
	d := b[nlmsgLen:]
	d[0] = uint8(local.Addr.Family)
	d[1] = unix.IPPROTO_TCP
	ne.PutUint32(d[4:], ^uint32(0)) // any state
	// The ports go in network order, as the kernel wrote them.
	switch local.Addr.Family {
	case unix.AF_INET:
		l, p := (*unix.RawSockaddrInet4)(unsafe.Pointer(&local)), (*unix.RawSockaddrInet4)(unsafe.Pointer(&peer))
		ne.PutUint16(d[diagSport:], l.Port)
		ne.PutUint16(d[diagDport:], p.Port)
		copy(d[diagSrc:], l.Addr[:])
		copy(d[diagDst:], p.Addr[:])
	case unix.AF_INET6:
		l, p := (*unix.RawSockaddrInet6)(unsafe.Pointer(&local)), (*unix.RawSockaddrInet6)(unsafe.Pointer(&peer))
		ne.PutUint16(d[diagSport:], l.Port)
		ne.PutUint16(d[diagDport:], p.Port)
		copy(d[diagSrc:], l.Addr[:])
		copy(d[diagDst:], p.Addr[:])
	default:
		return false
	}
	// No cookie: the addresses say which socket.
	ne.PutUint64(d[diagCookie:], ^uint64(0))
	return true
}

// sockname reads fd's local address into sa, without the allocation of
// unix.Getsockname.
func sockname(fd int, sa *unix.RawSockaddrAny) bool {
	n := uint32(unsafe.Sizeof(*sa))
	_, _, errno := unix.Syscall(unix.SYS_GETSOCKNAME, uintptr(fd), uintptr(unsafe.Pointer(sa)), uintptr(unsafe.Pointer(&n)))
	return errno == 0
}

// peername reads the address fd connects to into sa: SO_PEERNAME, which
// unlike getpeername() answers in SYN_SENT too, and wants the exact size
// of the address of the socket's family.
func peername(fd int, sa *unix.RawSockaddrAny, family uint16) bool {
	n := uint32(unix.SizeofSockaddrInet4)
	if family == unix.AF_INET6 {
		n = unix.SizeofSockaddrInet6
	}
	_, _, errno := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(fd), unix.SOL_SOCKET, unix.SO_PEERNAME,
		uintptr(unsafe.Pointer(sa)), uintptr(unsafe.Pointer(&n)), 0)
	return errno == 0
}

// acksOf counts the ACKs in a socket's tcpi_segs_out, which holds its
// SYNs (the first and the re-sent ones), its ACKs, and rst resets.
func acksOf(info *unix.TCPInfo, rst uint32) uint32 {
	other := 1 + info.Total_retrans + rst
	if info.Segs_out <= other {
		return 0
	}
	return info.Segs_out - other
}
