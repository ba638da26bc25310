package collector

import (
	"net"
	"net/http"
	"sync/atomic"
)

// The exporter's file descriptors go to three uses: the checks in flight
// (a socket each), the HTTP connections, and a fixed few of its own (the
// listener, the prober's epoll instances, DNS lookups, the process
// collector's reads of /proc). When checks or connections take them all,
// accept fails and /metrics stops answering, so the limits of both are
// sized from RLIMIT_NOFILE, leaving fdReserve for the rest.

// fdReserve is what the exporter keeps beyond checks and connections.
const fdReserve = 64

// Limits are how many checks and connections the exporter allows at
// once, sized from its file descriptor limit.
type Limits struct {
	// FDs is the soft RLIMIT_NOFILE (Go raises it to the hard limit at
	// start).
	FDs uint64
	// Checks bounds the checks in flight (Options.MaxConcurrency), and
	// Connections the open HTTP connections (LimitConnections).
	Checks, Connections int
}

// SizeLimits fits maxChecks and maxConns into the process's file
// descriptor limit: connections get at most a quarter of it, checks what
// is left beside them and fdReserve. A 0 (no limit) is given what the fd
// limit allows.
func SizeLimits(maxChecks, maxConns int) (Limits, error) {
	fds, err := fdLimit()
	if err != nil {
		return Limits{}, err
	}
	if fds == 0 {
		// No descriptor limit to fit into (Windows): the flags as given.
		return Limits{Checks: maxChecks, Connections: maxConns}, nil
	}
	return fitLimits(fds, maxChecks, maxConns), nil
}

func fitLimits(fds uint64, maxChecks, maxConns int) Limits {
	l := Limits{FDs: fds}
	avail := max(int(min(fds, 1<<30))-fdReserve, 2)
	l.Connections = min(positiveOr(maxConns, avail), max(avail/4, 1))
	l.Checks = min(positiveOr(maxChecks, avail), max(avail-l.Connections, 1))
	return l
}

func positiveOr(n, otherwise int) int {
	if n > 0 {
		return n
	}
	return otherwise
}

// LimitConnections closes each new HTTP connection of srv beyond maxConns
// open ones (none when maxConns is 0) at once, before reading from it, so that idle keep-alive
// connections cannot take the descriptors that probes and scrapes need.
// Prometheus keeps one connection per target and exporter; a client
// turned away retries on a new connection once another closed.
func LimitConnections(srv *http.Server, maxConns int) {
	if maxConns <= 0 {
		return
	}
	var open atomic.Int64
	next := srv.ConnState
	srv.ConnState = func(c net.Conn, state http.ConnState) {
		switch state {
		case http.StateNew:
			if open.Add(1) > int64(maxConns) {
				c.Close()
			}
		case http.StateClosed, http.StateHijacked:
			open.Add(-1)
		}
		if next != nil {
			next(c, state)
		}
	}
}
