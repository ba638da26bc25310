package main

import (
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/seed-5ff58b3a/synack_exporter/internal/loopback"
)

// closedPort returns a loopback address of network whose port nothing
// listens on, or skips when network has no loopback.
func closedPort(t *testing.T, network, host string) netip.AddrPort {
	t.Helper()
	ln, err := net.Listen(network, net.JoinHostPort(host, "0"))
	if err != nil {
		t.Skipf("no %s loopback: %v", network, err)
	}
	addr := ln.Addr().(*net.TCPAddr).AddrPort()
	ln.Close()
	return addr
}

func TestFloorCheck(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	open := ln.Addr().(*net.TCPAddr).AddrPort()

	for _, tc := range []struct {
		name   string
		target netip.AddrPort
		budget time.Duration
		errno  syscall.Errno
		err    error
	}{
		{"open", open, 5 * time.Second, 0, nil},
		{"refused", closedPort(t, "tcp4", "127.0.0.1"), 5 * time.Second, syscall.ECONNREFUSED, nil},
		// The RST to ::1 is in before the socket reaches the netpoller:
		// a wait that forgot it would end at the deadline instead.
		{"refused IPv6", closedPort(t, "tcp6", "::1"), 5 * time.Second, syscall.ECONNREFUSED, nil},
		{"silent", loopback.Silent(t), 300 * time.Millisecond, 0, os.ErrDeadlineExceeded},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			r, err := floorCheck(tc.target, tc.budget)
			took := time.Since(start)
			if !errors.Is(err, tc.err) || r.errno != tc.errno {
				t.Fatalf("floorCheck(%v) = errno %v, err %v; want errno %v, err %v", tc.target, r.errno, err, tc.errno, tc.err)
			}
			if tc.err == nil && took > tc.budget/2 {
				t.Errorf("took %v: the answer waited for the deadline", took)
			}
		})
	}

	// Half-open: the listener never sees a connection.
	ln.(*net.TCPListener).SetDeadline(time.Now().Add(300 * time.Millisecond))
	if c, err := ln.Accept(); err == nil {
		c.Close()
		t.Error("the listener accepted a connection from a half-open check")
	}
}

func TestFloorProbe(t *testing.T) {
	for _, tc := range []struct {
		name, query string
		status      int
		want        string
	}{
		{"refused", "target=" + closedPort(t, "tcp4", "127.0.0.1").String(), http.StatusOK, "probe_success 0\n"},
		{"no target", "", http.StatusBadRequest, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			floorProbe(w, httptest.NewRequest(http.MethodGet, "/probe?"+tc.query, nil))
			if w.Code != tc.status || !strings.Contains(w.Body.String(), tc.want) {
				t.Errorf("GET /probe?%s = %d %q; want %d with %q", tc.query, w.Code, w.Body, tc.status, tc.want)
			}
		})
	}
}
