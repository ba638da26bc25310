package main

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// floorServerFlag makes the bench binary the floor server: the cheapest
// /probe that stock net/http allows, measured beside the exporters.
const floorServerFlag = "floor-server"

// floorMaxBudget caps a floor probe's budget, as the bench's modules do.
const floorMaxBudget = 10 * time.Second

// floorInFlight is what the floor's /metrics reports.
var floorInFlight atomic.Int64

// floorServerMain serves /probe, /metrics and /-/healthy on the address
// in args until it is killed.
func floorServerMain(args []string) error {
	if len(args) != 1 {
		return fmt.Errorf("want a listen address, got %q", args)
	}
	ln, err := net.Listen("tcp", args[0])
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/probe", floorProbe)
	mux.HandleFunc("/metrics", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, "probes_in_flight %d\n", floorInFlight.Load())
	})
	mux.HandleFunc("/-/healthy", func(http.ResponseWriter, *http.Request) {})
	return http.Serve(ln, mux)
}

// floorProbe is a whole /probe: the target from the query, the budget
// from the scrape timeout, one half-open check, two or three lines.
func floorProbe(w http.ResponseWriter, r *http.Request) {
	target, err := netip.ParseAddrPort(r.URL.Query().Get("target"))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	budget := floorMaxBudget
	if s, err := strconv.ParseFloat(r.Header.Get("X-Prometheus-Scrape-Timeout-Seconds"), 64); err == nil {
		budget = min(budget, time.Duration((s-0.5)*float64(time.Second)))
	}
	floorInFlight.Add(1)
	start := time.Now()
	res, err := floorCheck(target, budget)
	took := time.Since(start)
	floorInFlight.Add(-1)
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		fmt.Fprintf(w, "probe_success 0\nprobe_duration_seconds %g\nprobe_timeout_seconds %g\nprobe_tcp_error_class{class=\"timeout\"} 1\n", took.Seconds(), budget.Seconds())
	case err != nil:
		http.Error(w, err.Error(), http.StatusInternalServerError)
	default:
		fmt.Fprintf(w, "probe_success %d\nprobe_duration_seconds %g\nprobe_tcp_rtt_seconds %g\nprobe_tcp_errno %d\n",
			b2i(res.errno == 0), took.Seconds(), res.rtt.Seconds(), int(res.errno))
	}
}

// floorCheck is the half-open check with nothing but the syscalls:
// socket, TCP_QUICKACK off and SO_LINGER {1, 0} (so close sends a RST
// and no ACK leaves first), a non-blocking connect, then a wait for
// writability in Go's own netpoller (the goroutine parks, no thread
// waits), TCP_INFO (and SO_ERROR if it failed), close.
func floorCheck(target netip.AddrPort, budget time.Duration) (floorResult, error) {
	family, sa := unix.AF_INET6, unix.Sockaddr(&unix.SockaddrInet6{Port: int(target.Port()), Addr: target.Addr().As16()})
	if target.Addr().Is4() {
		family, sa = unix.AF_INET, &unix.SockaddrInet4{Port: int(target.Port()), Addr: target.Addr().As4()}
	}
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return floorResult{}, os.NewSyscallError("socket", err)
	}
	unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_QUICKACK, 0)
	unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1})
	if err := unix.Connect(fd, sa); err != nil && err != unix.EINPROGRESS {
		unix.Close(fd)
		if errno, ok := errors.AsType[syscall.Errno](err); ok {
			return floorResult{errno: errno}, nil
		}
		return floorResult{}, os.NewSyscallError("connect", err)
	}
	f := os.NewFile(uintptr(fd), "probe")
	defer f.Close()
	if err := f.SetWriteDeadline(time.Now().Add(budget)); err != nil {
		return floorResult{}, err
	}
	rc, err := f.SyscallConn()
	if err != nil {
		return floorResult{}, err
	}
	// Write calls the function, and again each time the socket turns
	// writable. It forgets a readiness that came before it started, so
	// the first call looks for itself: the answer may be in already.
	var r floorResult
	err = rc.Write(func(fd uintptr) bool {
		info, err := unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO)
		switch {
		case err != nil:
			r.errno, _ = errors.AsType[syscall.Errno](err)
		case info.State == tcpSynSent:
			return false
		case info.State == tcpEstablished:
			r.rtt = time.Duration(info.Rtt) * time.Microsecond
		default:
			soErr, _ := unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_ERROR)
			r.errno = syscall.Errno(soErr)
		}
		return true
	})
	return r, err
}

// TCP states (include/net/tcp_states.h).
const (
	tcpEstablished = 1
	tcpSynSent     = 2
)

// floorResult is a finished floor check: errno 0 when the SYN-ACK came.
type floorResult struct {
	errno syscall.Errno
	rtt   time.Duration
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
