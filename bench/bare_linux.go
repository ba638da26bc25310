package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"time"

	"golang.org/x/sys/unix"

	"github.com/seed-5ff58b3a/synack_exporter/internal/netns"
)

// bareChildFlag makes the bench binary the bare-syscall child of
// scenario 3: the harness's floor, a probe with nothing but the syscalls.
const bareChildFlag = "bare-child"

// bareTimeout ends a bare probe that got no answer.
const bareTimeout = 2 * time.Second

// runBare runs the bare-syscall child in ns: rate probes a second of
// target's bare ports, for d.
func runBare(ns *netns.NS, target netip.Addr, rate int, d time.Duration) ([]bareResult, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	p, err := startIn(ns, "bare child", self, "-"+bareChildFlag, target.String(), strconv.Itoa(rate), d.String())
	if err != nil {
		return nil, err
	}
	select {
	case <-p.exited:
	case <-time.After(d + time.Minute):
		p.stop(time.Second)
		return nil, fmt.Errorf("bare child still running after %v", d+time.Minute)
	}
	if !p.cmd.ProcessState.Success() {
		return nil, fmt.Errorf("bare child: %v\n%s", p.cmd.ProcessState, p.stderr)
	}
	var results []bareResult
	if err := json.Unmarshal(p.stdout.Bytes(), &results); err != nil {
		return nil, fmt.Errorf("bare child's results: %w", err)
	}
	return results, nil
}

func bareChildMain(args []string) error {
	if len(args) != 3 {
		return fmt.Errorf("want target rate duration, got %q", args)
	}
	target, err := netip.ParseAddr(args[0])
	if err != nil {
		return err
	}
	rate, err := strconv.Atoi(args[1])
	if err != nil {
		return err
	}
	d, err := time.ParseDuration(args[2])
	if err != nil {
		return err
	}
	results, err := bareLoop(target.As4(), rate, d)
	if err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(results)
}

// bareLoop starts a probe every 1/rate s for d from one thread and one
// epoll instance: socket, the same options as the exporter's, a
// timestamp, connect; epoll_wait, a timestamp, TCP_INFO, close.
func bareLoop(target [4]byte, rate int, d time.Duration) ([]bareResult, error) {
	runtime.LockOSThread()
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("epoll_create1", err)
	}
	defer unix.Close(epfd)
	type inflight struct {
		i    int
		sent time.Time
	}
	n := int(float64(rate) * d.Seconds())
	interval := time.Second / time.Duration(rate)
	results := make([]bareResult, n)
	pending := make(map[int]inflight)
	events := make([]unix.EpollEvent, 64)
	start := time.Now()
	next := 0
	for next < n || len(pending) > 0 {
		for next < n && !time.Now().Before(start.Add(time.Duration(next)*interval)) {
			port := uint16(barePorts + next%barePool)
			fd, sent, err := bareConnect(epfd, &unix.SockaddrInet4{Port: int(port), Addr: target})
			if err != nil {
				return nil, err
			}
			results[next] = bareResult{Port: port, SentUnixNano: sent.UnixNano()}
			pending[fd] = inflight{next, sent}
			next++
		}
		wait := 10 // ms, to expire unanswered probes when nothing is due
		if next < n {
			wait = max(0, int(time.Until(start.Add(time.Duration(next)*interval)).Milliseconds()))
		}
		k, err := unix.EpollWait(epfd, events, wait)
		now := time.Now()
		if err != nil && !errors.Is(err, unix.EINTR) {
			return nil, os.NewSyscallError("epoll_wait", err)
		}
		for _, ev := range events[:max(k, 0)] {
			fd := int(ev.Fd)
			p, ok := pending[fd]
			if !ok {
				continue
			}
			delete(pending, fd)
			info, err := unix.GetsockoptTCPInfo(fd, unix.IPPROTO_TCP, unix.TCP_INFO)
			unix.Close(fd)
			if err == nil && info.State == 1 { // TCP_ESTABLISHED
				r := &results[p.i]
				r.Open, r.SYNACK, r.RTT = true, now.Sub(p.sent), time.Duration(info.Rtt)*time.Microsecond
			}
		}
		for fd, p := range pending {
			if now.Sub(p.sent) > bareTimeout {
				delete(pending, fd)
				unix.Close(fd)
			}
		}
	}
	return results, nil
}

func bareConnect(epfd int, sa *unix.SockaddrInet4) (int, time.Time, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, time.Time{}, os.NewSyscallError("socket", err)
	}
	unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_QUICKACK, 0)
	unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1})
	sent := time.Now()
	if err := unix.Connect(fd, sa); err != nil && !errors.Is(err, unix.EINPROGRESS) {
		unix.Close(fd)
		return -1, sent, os.NewSyscallError("connect", err)
	}
	ev := unix.EpollEvent{Events: unix.EPOLLOUT | unix.EPOLLONESHOT, Fd: int32(fd)}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		unix.Close(fd)
		return -1, sent, os.NewSyscallError("epoll_ctl", err)
	}
	return fd, sent, nil
}
