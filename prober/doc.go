// Package prober checks whether a TCP port answers, without ever completing
// the handshake: it sends a SYN, waits for the SYN-ACK (or a RST, an ICMP
// error or the deadline) and closes the socket with SO_LINGER{1,0} so the
// kernel answers the SYN-ACK with a RST instead of an ACK. The listener's
// accept() never returns and the prober never enters TIME_WAIT.
//
// A target is "host:port". An IP literal is its own address, found
// without asking DNS (Result.DNS is 0); a name is resolved through the
// Checker's Resolver. The unspecified address (0.0.0.0, ::) is never a
// target, given literally or by a name: connect() takes it for this host.
//
// One Checker serves a whole process. Every check goes through the same
// steps, each with one name in the code:
//
//	send ──────────► answered early ───────────────┐   socket_linux.go
//	 │ (socket, options, connect: the SYN)         │
//	 ├─► wait   Check: the caller's goroutine      │   wait_linux.go
//	 │          waits in Go's netpoller            │
//	 └─► begin  BeginAddr, CheckMany: the socket   │   loop_linux.go
//	            goes to the loop's epoll instance  │
//	      │                                        │
//	      ├─ answered   the netpoller wakes the    │
//	      │             waiter; the loop drains    │
//	      ├─ expired    the deadline or ctx ends   │
//	      ├─ swept      the sweeper takes it       │   sweeper_linux.go
//	      └─ shut down  Close                      │   engine_linux.go
//	      │                                        │
//	      ▼                                        ▼
//	judge  TCP_INFO and SO_ERROR to a Result, the only place that reads them   verdict_linux.go
//	reset  the RST: SOCK_DESTROY, then the ACKs in the counters (with       reset_linux.go
//	       CAP_NET_ADMIN); else close, or disconnect for a swept waiting
//	       check, and the delayed ACK estimated from the time
//	finish the owner closes the socket and hands the result on
//
// A target on this host usually answers while connect() runs, and the
// check ends right there (answerEarly). Otherwise it waits, without a
// thread blocked in a syscall for it:
//
//   - Check waits in the caller's goroutine for the socket itself
//     (wrapped in an os.File), as a goroutine waits to read a socket: the
//     netpoller wakes the caller when the answer comes or the deadline
//     (Options.Timeout, or ctx's) passes, with no other goroutine in
//     between. The caller judges the answer and closes the socket, so the
//     RST leaves at once.
//   - BeginAddr, with which one goroutine starts many checks (CheckMany,
//     a continuous schedule), hands the socket to the Checker's one epoll
//     instance, which a loop goroutine waits for in the netpoller; the
//     loop judges and closes sockets that answered and calls done on
//     itself, and the context's end takes a socket back and calls done
//     with a timeout. No goroutine per check.
//
// Whoever removes a pending check from the engine's maps owns its end
// (the waiter, the loop, the context's end, the sweeper, shutdown), so
// each check is finished exactly once. A timer-driven sweeper is the
// backstop of both ways to wait: when the scheduler keeps the loop or a
// woken caller from running, it takes the answers that are in (a waiting
// check's socket enters a second epoll instance, which only the sweeper
// reads, the first time the sweeper runs while it waits) and resets the
// connections, well before the kernel's delayed ACK (about 200 ms) would
// leave.
//
// When the ACK escapes. If no one closes a socket within about 200 ms of
// its SYN-ACK (a machine so starved that neither the loop or caller nor
// the sweeper ran), the kernel's delayed ACK leaves and the target sees a
// connection. judge then reports, whichever path ends the check, the
// same thing: Class open, ACKSent(), and the SYN-ACK time the kernel
// recorded (tcpi_rtt; with SYN retransmissions, from tcpi_last_ack_recv)
// instead of the late one user space saw. That holds as well when the
// target answered the stray ACK with an RST before the socket was read,
// as a host with no connection for it does: the socket is then CLOSE with
// SO_ERROR ECONNRESET (tcp_reset gives ECONNREFUSED only in SYN_SENT), and
// TCP_INFO still holds the handshake. Measured on Linux 6.18, a SYN-ACK
// after 20 ms, ACK at +208 ms, the peer's RST at once:
//
//	                 tcpi_state  segs_in  segs_out  rtt (µs)  total_retrans  bytes_acked  SO_ERROR
//	open, no ACK     1 (ESTAB)   1        1         20267     0              1            0
//	ACK, then RST    7 (CLOSE)   2        2         20288     0              1            ECONNRESET
//	refused          7 (CLOSE)   1        1         0         0              0            ECONNREFUSED
//
// segs_out - 1 - total_retrans is how ACKs is known in each state. A
// reset with no SYN-ACK before it stays refused.
//
// An ACK can also leave after judge has read the socket and before its
// reset: the delayed one, when the thread is preempted past it, or the
// kernel's answer to a repeated SYN-ACK. reset_linux.go sends the RST
// with SOCK_DESTROY when the process has CAP_NET_ADMIN; tcp_abort keeps
// the counters, read once more after it, so Result.ACKs is exact. Without
// it close() sends the RST and zeroes them, and the delayed ACK is
// estimated from the time (Result.closed).
//
// After a SYN-ACK, Result.Peer holds what the answer said about the target,
// read from the same TCP_INFO: its MSS, window, window scale and the
// options both sides agreed on (docs/fingerprint.md).
//
// CheckMany makes several checks for one probe (syn_count SYNs to each
// address, of one address or of all a name has) through the loop, with
// BeginAddr and no goroutine per check, and sums them up in a Summary:
// counts per class, loss, the SYN-ACK spread, and whether they met the
// Plan's expectation (expect.go). Addresses chooses the addresses as
// CheckMany does (address.go), for a caller that resolves once and
// checks often.
//
// On systems other than Linux a Checker falls back to a full connect and
// says so in Result.Mode.
package prober
