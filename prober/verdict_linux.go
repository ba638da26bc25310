package prober

import (
	"fmt"
	"os"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// This file owns the verdict: what the kernel says about a check's
// socket (TCP_INFO, SO_ERROR) turned into a Result. It is the only place
// that reads either, so every path that ends a check tells the same
// truth.

// TCP states from the kernel's include/net/tcp_states.h.
const (
	tcpEstablished = 1
	tcpSynSent     = 2
	tcpCloseWait   = 8
)

// judge reads what the kernel knows about s's handshake at now. answered
// is false while the socket is still in SYN_SENT with no error, and r is
// then otherwise. Every path that ends a check (the caller right after
// connect(), a waiting caller, the loop, the sweeper, a context's end,
// shutdown) decides here.
//
// An established socket (or one the peer closed since: CLOSE_WAIT) got
// a SYN-ACK. So did a socket reset with ECONNRESET or EPIPE: tcp_reset()
// gives ECONNREFUSED to a reset in SYN_SENT and those two only to a
// connection that was established. That is the escaped ACK's usual end:
// the check was read more than 200 ms after the SYN-ACK, the kernel's
// delayed ACK left, and a peer with no connection for it (a fake peer, a
// SYN proxy) answered with an RST. Checked on Linux 6.18 with the fake
// peer (doc.go has what TCP_INFO holds then); the result is open, ACKSent().
//
// A socket still in SYN_SENT may already carry its error: the kernel
// sets it and wakes epoll before it moves the socket to CLOSE (tcp_reset,
// tcp_done_with_error), so SO_ERROR is read in that state too.
func judge(s socket, now time.Time, otherwise Result) (r Result, answered bool) {
	var info unix.TCPInfo
	if _, err := tcpInfo(s.fd, &info); err != nil {
		return failure(ClassOther, os.NewSyscallError("getsockopt TCP_INFO", err)), true
	}
	switch info.State {
	case tcpEstablished, tcpCloseWait:
		r := openResult(&info, now.Sub(s.sent))
		r.live, r.segsIn = true, info.Segs_in
		if !r.ACKSent() {
			r.judged, r.ackDue = time.Now(), ackDue(&info)
		}
		return r, true
	}
	soerr, err := unix.GetsockoptInt(s.fd, unix.SOL_SOCKET, unix.SO_ERROR)
	switch errno := unix.Errno(soerr); {
	case err != nil:
		return failure(ClassOther, os.NewSyscallError("getsockopt SO_ERROR", err)), true
	case info.State == tcpSynSent && errno == 0:
		// The SYNs re-sent while no answer came count too: a timeout
		// after the kernel re-sent the SYN four times put five on the
		// wire.
		otherwise.SYNRetransmits = info.Total_retrans
		// A SYN-ACK may still come before the reset.
		otherwise.live, otherwise.segsIn = true, info.Segs_in
		return otherwise, false
	case info.State != tcpSynSent && (errno == unix.ECONNRESET || errno == unix.EPIPE):
		return openResult(&info, now.Sub(s.sent)), true
	case errno != 0:
		r := connectFailure(os.NewSyscallError("connect", errno))
		r.SYNRetransmits = info.Total_retrans
		return r, true
	}
	return failure(ClassOther, fmt.Errorf("prober: socket in TCP state %d without an error", info.State)), true
}

// tcpInfo reads fd's TCP_INFO into info, which can then live on the
// caller's stack (unix.GetsockoptTCPInfo allocates one per call), and
// says how many bytes the kernel wrote.
func tcpInfo(fd int, info *unix.TCPInfo) (int, error) {
	n := uint32(unsafe.Sizeof(*info))
	_, _, errno := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(fd), unix.IPPROTO_TCP, unix.TCP_INFO,
		uintptr(unsafe.Pointer(info)), uintptr(unsafe.Pointer(&n)), 0)
	if errno != 0 {
		return 0, errno
	}
	return int(n), nil
}

// openResult is the result of a socket that got a SYN-ACK, seen by user
// space synack after the SYN left.
func openResult(info *unix.TCPInfo, synack time.Duration) Result {
	r := Result{
		Class:          ClassOpen,
		Mode:           mode,
		SYNACK:         synack,
		RTT:            time.Duration(info.Rtt) * time.Microsecond,
		SYNRetransmits: info.Total_retrans,
		// Every segment so far is the SYN or a retransmission of it,
		// unless the handshake's ACK already left.
		ACKs: acksOf(info, 0),
		Peer: peerOf(info),
	}
	if r.ACKSent() {
		r.SYNACK = kernelSYNACK(info, synack)
	}
	return r
}

// kernelSYNACK is the SYN to SYN-ACK time as the kernel recorded it, for
// an answer that user space saw at least 200 ms late (its ACK escaped):
// tcpi_rtt, the kernel's own sample, when no SYN was retransmitted;
// otherwise synack less tcpi_last_ack_recv, how long ago the SYN-ACK
// came, in jiffies (4 ms with this kernel's HZ=250). Both survive a reset.
func kernelSYNACK(info *unix.TCPInfo, synack time.Duration) time.Duration {
	if info.Total_retrans == 0 && info.Rtt > 0 {
		return time.Duration(info.Rtt) * time.Microsecond
	}
	return max(0, synack-time.Duration(info.Last_ack_recv)*time.Millisecond)
}

// delayedACK is when the kernel sends the handshake's ACK of a socket in
// "pingpong" mode (TCP_QUICKACK=0): TCP_DELACK_MAX, HZ/5 jiffies after
// the SYN-ACK.
const delayedACK = 200 * time.Millisecond

// jiffy is the resolution of tcpi_last_ack_recv with this kernel's HZ
// of 250; an estimate from it is off by up to one.
const jiffy = 4 * time.Millisecond

// ackDue is how long after now the delayed ACK of a socket that got its
// SYN-ACK tcpi_last_ack_recv ago falls due, midway into the jiffy it may
// fire in; at most 0 when it was due already and has not run yet (its
// softirq put off, to ksoftirqd on a busy machine).
func ackDue(info *unix.TCPInfo) time.Duration {
	return delayedACK - jiffy/2 - time.Duration(info.Last_ack_recv)*time.Millisecond
}

// preempted is how long a close must come after the read of TCP_INFO
// before it counts as delayed: two syscalls in a row take microseconds
// unless the thread lost its CPU in between.
const preempted = time.Millisecond

// closed is r once its socket was closed (or reset) at now, after judge.
// Reading TCP_INFO and closing are two syscalls, and a thread preempted
// between them lets the delayed ACK leave after tcpi_segs_out was read:
// it did when it was due before the close and the close was delayed
// (an ACK due within microseconds of the read, or overdue at the read,
// is cancelled by a prompt RST far more often than not).
func (r Result) closed(now time.Time) Result {
	if !r.judged.IsZero() && now.Sub(r.judged) > max(r.ackDue, preempted) {
		r.ACKs++
	}
	r.settle()
	return r
}

// settle clears what r kept from its verdict for its reset.
func (r *Result) settle() {
	r.live, r.segsIn, r.judged, r.ackDue = false, 0, time.Time{}, 0
}
