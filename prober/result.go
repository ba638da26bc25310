package prober

import (
	"net/netip"
	"syscall"
	"time"
)

// Class is the outcome of one check. Every check ends in exactly one class.
type Class uint8

// The classes, in the order of the class table in README.md.
const (
	ClassOpen        Class = iota // SYN-ACK received
	ClassRefused                  // RST received: host up, port closed
	ClassTimeout                  // no answer before the deadline
	ClassUnreachable              // ICMP unreachable or no route
	ClassProhibited               // refused by local policy (EACCES, EPERM)
	ClassResolve                  // the name did not resolve to a usable address
	ClassLocal                    // the prober itself could not try
	ClassOther                    // anything else; the errno is still reported
)

// FailureClasses lists every class but ClassOpen, in a stable order, for
// exporters that publish one series per class.
var FailureClasses = []Class{
	ClassRefused, ClassTimeout, ClassUnreachable, ClassProhibited,
	ClassResolve, ClassLocal, ClassOther,
}

var classNames = [...]string{
	ClassOpen:        "open",
	ClassRefused:     "refused",
	ClassTimeout:     "timeout",
	ClassUnreachable: "unreachable",
	ClassProhibited:  "prohibited",
	ClassResolve:     "resolve",
	ClassLocal:       "local",
	ClassOther:       "other",
}

// String returns the class name used in metric labels.
func (c Class) String() string {
	if int(c) < len(classNames) {
		return classNames[c]
	}
	return "other"
}

// Mode says how a check was made.
type Mode string

// The modes a Result can report.
const (
	ModeHalfOpen Mode = "half-open" // SYN, SYN-ACK, RST
	ModeConnect  Mode = "connect"   // full connect and close (non-Linux fallback)
)

// Result is what one check found.
type Result struct {
	Class Class
	// Errno is the error number behind a failure: 0 when open, ETIMEDOUT
	// for a deadline, ECANCELED when the caller gave up.
	Errno syscall.Errno
	// Err describes the failure for logs; nil when open.
	Err error
	// Mode is ModeHalfOpen on Linux.
	Mode Mode
	// Addr is the address probed; invalid when resolution failed.
	Addr netip.AddrPort
	// DNS is the time spent resolving the host name (0 for literals).
	DNS time.Duration
	// SYNACK is the time from just before connect() to when user space
	// saw the answer (right after connect(), at the waiter's wake-up, or
	// at the loop's or the sweeper's epoll_wait), on the monotonic clock;
	// when ACKSent, that was too late, and SYNACK is the kernel's record
	// instead (see doc.go). Only meaningful when Class is open.
	SYNACK time.Duration
	// RTT is the kernel's own SYN to SYN-ACK sample (tcpi_rtt). Only
	// meaningful when Class is open. When SYNRetransmits > 0 it is the
	// time since the SYN the answer echoed (timestamps), or 0 (none).
	RTT time.Duration
	// SYNRetransmits counts SYNs re-sent before the answer.
	SYNRetransmits uint32
	// ACKs counts the ACKs the kernel sent before the RST, so that the
	// target saw a completed connection: the handshake's own, and any it
	// sent to what the target sent next (a repeated SYN-ACK, a banner).
	// It should stay 0. Exact when the engine resets with SOCK_DESTROY
	// (CAP_NET_ADMIN); else the delayed ACK is estimated from the time of
	// the reset. Class is open after such an ACK even if the target has
	// reset the connection since, unless the check had timed out before
	// its SYN-ACK came.
	ACKs uint32
	// Peer is what the SYN-ACK said about the target (MSS, window,
	// options). Known only when Class is open and Mode is half-open.
	Peer Peer

	// Between judging an open socket and its reset: live when it was
	// still connected (the RST is the engine's to send), segsIn its
	// tcpi_segs_in then; judged and ackDue when TCP_INFO was read and how
	// long after that its delayed ACK fell due (see closed).
	live   bool
	segsIn uint32
	judged time.Time
	ackDue time.Duration
}

// ACKSent reports whether the kernel sent any ACK before the RST.
func (r Result) ACKSent() bool { return r.ACKs > 0 }

// Success reports whether the target answered with a SYN-ACK.
func (r Result) Success() bool { return r.Class == ClassOpen }
