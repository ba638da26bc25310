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
// One Checker serves a whole process: it owns one epoll instance and one
// goroutine that waits on it in Go's own netpoller (the epoll fd is
// non-blocking and wrapped in an os.File), as a goroutine waits to read a
// socket, so no thread blocks in a syscall for the engine. There is one
// path through it: Begin and
// BeginAddr send the SYN and hand the socket to the loop, which calls the
// caller back with the answer (a target on this host usually answers
// while connect() runs, and then Begin returns the result itself); the
// context's end takes the socket back and calls back with a timeout.
// Check and CheckAddr are a wait on that callback. The loop, not the
// caller, closes sockets that answered, so the RST leaves well before the
// kernel's delayed ACK (about 200 ms) would; a timer-driven sweeper does
// the same when the scheduler keeps the loop from running.
//
// When the ACK escapes. If no one closes a socket within about 200 ms of
// its SYN-ACK (a machine so starved that neither the loop nor the sweeper
// ran), the kernel's delayed ACK leaves and the target sees a connection.
// Every path that ends a check (the loop, the sweeper, a caller whose
// context ended, Close, and the caller right after connect()) then reports
// the same thing: Class open, ACKSent true, and the SYN-ACK time the kernel
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
// segs_out > 1 + total_retrans is how ACKSent is known in each state. A
// reset with no SYN-ACK before it stays refused.
//
// After a SYN-ACK, Result.Peer holds what the answer said about the target,
// read from the same TCP_INFO: its MSS, window, window scale and the
// options both sides agreed on (docs/fingerprint.md).
//
// CheckMany makes several checks for one probe (syn_count SYNs to each
// address, of one address or of all a name has) through the same loop,
// without a goroutine per check, and sums them up in a Summary: counts per
// class, loss, the SYN-ACK spread, and whether they met the Plan's
// expectation.
//
// On systems other than Linux a Checker falls back to a full connect and
// says so in Result.Mode.
package prober
