// Package prober checks whether a TCP port answers, without ever completing
// the handshake: it sends a SYN, waits for the SYN-ACK (or a RST, an ICMP
// error or the deadline) and closes the socket with SO_LINGER{1,0} so the
// kernel answers the SYN-ACK with a RST instead of an ACK. The listener's
// accept() never returns and the prober never enters TIME_WAIT.
//
// One Checker serves a whole process: it owns one epoll instance and one
// goroutine that waits on it. There is one path through it: Begin and
// BeginAddr send the SYN and hand the socket to the loop, which calls the
// caller back with the answer (a target on this host usually answers
// while connect() runs, and then Begin returns the result itself); the
// context's end takes the socket back and calls back with a timeout.
// Check and CheckAddr are a wait on that callback. The loop, not the
// caller, closes sockets that answered, so the RST leaves well before the
// kernel's delayed ACK (about 200 ms) would; a timer-driven sweeper does
// the same when the scheduler keeps the loop from running.
//
// After a SYN-ACK, Result.Peer holds what the answer said about the target,
// read from the same TCP_INFO: its MSS, window, window scale and the
// options both sides agreed on (docs/fingerprint.md).
//
// On systems other than Linux a Checker falls back to a full connect and
// says so in Result.Mode.
package prober
