// Package netns creates network namespaces for tests and runs code and
// commands inside them, so a test can build any network it needs (routes,
// nftables rules, TUN devices) without touching the machine's own.
//
// A namespace made here is anonymous: an open file descriptor holds it,
// not a name under /run/netns, so it vanishes with the process even when a
// test binary is killed, and `ip netns list` never shows leftovers. To look
// inside one while a test runs, enter it by its Path, for example
//
//	nsenter --net=/proc/PID/fd/FD tcpdump -ni any
//
// The key primitive is (*NS).Do: a socket created inside it belongs to the
// namespace for its whole life, while any goroutine, on any thread, may go
// on using the socket's file descriptor (epoll, read, close).
package netns
