// Package fakepeer is a fake TCP peer on a TUN device inside a network
// namespace, so tests can see every packet the prober sends and choose
// when, and how, each SYN is answered.
//
// The kernel routes the peer's addresses (198.18.0.2 and fd00:198:18::2 by
// default) through the TUN device; the peer reads the prober's raw IP
// packets from it, logs them with the time it read them, and writes its
// answers back: a SYN-ACK for an open port after a chosen delay (with a
// chosen MSS, window and options), an RST
// for a closed one, an ICMP error for an unreachable one, nothing for any
// other; it keeps no connections, so any other segment but an RST (the
// handshake's ACK, when a prober lets it escape) gets an RST at once, as
// RFC 9293 has a host answer a segment for no connection. It never
// completes a handshake and never sends data, so a test
// can assert "SYN, then RST, never a bare ACK" and compare the latency
// the prober reports with the delay it injected: this kernel has no
// netem, and the TUN device is how latency gets in.
package fakepeer
