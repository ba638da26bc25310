package main

// The floor of continuous mode: a child process that checks N targets
// once per interval each, evenly spread, from one thread and one epoll
// instance, with nothing but the syscalls of a check (bareConnect's
// socket, options, connect; epoll_wait, TCP_INFO, close). It measures
// its own CPU over a window after a warm-up and prints it as JSON.

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/seed-5ff58b3a/synack_exporter/internal/netns"
)

// continuousFloorFlag makes the bench binary the floor child of the
// continuous scenario.
const continuousFloorFlag = "continuous-floor-child"

// floorBatch bounds the checks begun in a row; see floorLoop.
const floorBatch = 64

// floorWindow is what the floor child measured over its window.
type floorWindow struct {
	Checks  int64         `json:"checks"`  // ended in the window
	Open    int64         `json:"open"`    // of them, with a SYN-ACK
	CPU     time.Duration `json:"cpu"`     // user+system, the whole process
	Elapsed time.Duration `json:"elapsed"` // wall time of the window
	LateP99 time.Duration `json:"late_p99"`
}

// runContinuousFloor runs the floor child in ns against targets
// continuousTarget(0..n-1) and returns its window.
func runContinuousFloor(ns *netns.NS, n int, interval, warmup, d time.Duration) (floorWindow, error) {
	self, err := os.Executable()
	if err != nil {
		return floorWindow{}, err
	}
	p, err := startIn(ns, "continuous floor", self, "-"+continuousFloorFlag,
		strconv.Itoa(n), interval.String(), warmup.String(), d.String())
	if err != nil {
		return floorWindow{}, err
	}
	select {
	case <-p.exited:
	case <-time.After(warmup + d + time.Minute):
		p.stop(time.Second)
		return floorWindow{}, fmt.Errorf("floor child still running after %v", warmup+d+time.Minute)
	}
	if !p.cmd.ProcessState.Success() {
		return floorWindow{}, fmt.Errorf("floor child: %v\n%s", p.cmd.ProcessState, p.stderr)
	}
	var w floorWindow
	if err := json.Unmarshal(p.stdout.Bytes(), &w); err != nil {
		return w, fmt.Errorf("floor child's window: %w", err)
	}
	return w, nil
}

func continuousFloorMain(args []string) error {
	if len(args) != 4 {
		return fmt.Errorf("want targets interval warmup duration, got %q", args)
	}
	n, err := strconv.Atoi(args[0])
	if err != nil {
		return err
	}
	var ds [3]time.Duration
	for i, a := range args[1:] {
		if ds[i], err = time.ParseDuration(a); err != nil {
			return err
		}
	}
	w, err := floorLoop(n, ds[0], ds[1], ds[2])
	if err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(w)
}

// floorLoop checks target i%n at start + i*interval/n for warmup+d, one
// check in flight per target, a check's budget the interval, and
// measures the window after the warm-up.
func floorLoop(n int, interval, warmup, d time.Duration) (floorWindow, error) {
	// One P: a blocking epoll_wait then hands the P to no other thread
	// that would spin looking for work.
	runtime.GOMAXPROCS(1)
	runtime.LockOSThread()
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return floorWindow{}, os.NewSyscallError("epoll_create1", err)
	}
	defer unix.Close(epfd)
	type inflight struct {
		target int
		sent   time.Time
	}
	step := interval / time.Duration(n)
	addrs := make([]unix.SockaddrInet4, n)
	for i := range addrs {
		addrs[i] = unix.SockaddrInet4{Port: continuousPort, Addr: continuousTarget(i).As4()}
	}
	busy := make([]bool, n)
	pending := make(map[int]inflight, n)
	events := make([]unix.EpollEvent, 256)
	var (
		w                floorWindow
		measuring        bool
		cpu0             time.Duration
		lates            []time.Duration
		start            = time.Now()
		windowStart, end = start.Add(warmup), start.Add(warmup + d)
		next             int64
	)
	for {
		now := time.Now()
		if !measuring && !now.Before(windowStart) {
			measuring, cpu0 = true, selfCPU()
		}
		if !now.Before(end) {
			break
		}
		// At most floorBatch checks begin between two epoll_waits: a floor
		// that fell behind must still close each check soon after its
		// SYN-ACK, before the kernel's delayed ACK leaves.
		for b, due := 0, start.Add(time.Duration(next)*step); b < floorBatch && !now.Before(due); b, due = b+1, start.Add(time.Duration(next)*step) {
			t := int(next % int64(n))
			next++
			if busy[t] {
				continue // the previous check of this target is still out
			}
			if measuring {
				lates = append(lates, now.Sub(due))
			}
			fd, sent, err := bareConnect(epfd, &addrs[t])
			if err != nil {
				return w, err
			}
			busy[t] = true
			pending[fd] = inflight{t, sent}
		}
		// Rounded up: a wait of 0 ms would spin until the next check.
		wait := max(0, int((time.Until(start.Add(time.Duration(next)*step))+time.Millisecond-1)/time.Millisecond))
		k, err := rawEpollWait(epfd, events, min(wait, 10))
		now = time.Now()
		if err != nil && !errors.Is(err, unix.EINTR) {
			return w, os.NewSyscallError("epoll_wait", err)
		}
		for _, ev := range events[:max(k, 0)] {
			fd := int(ev.Fd)
			p, ok := pending[fd]
			if !ok {
				continue
			}
			delete(pending, fd)
			busy[p.target] = false
			info, err := unix.GetsockoptTCPInfo(fd, unix.IPPROTO_TCP, unix.TCP_INFO)
			unix.Close(fd)
			if measuring {
				w.Checks++
				if err == nil && info.State == 1 { // TCP_ESTABLISHED
					w.Open++
				}
			}
		}
		for fd, p := range pending {
			if now.Sub(p.sent) > interval {
				delete(pending, fd)
				busy[p.target] = false
				unix.Close(fd)
				if measuring {
					w.Checks++
				}
			}
		}
	}
	w.CPU = selfCPU() - cpu0
	w.Elapsed = time.Since(windowStart)
	w.LateP99 = percentile(lates, 0.99)
	return w, nil
}

// selfCPU is this process's user plus system time.
func selfCPU() time.Duration {
	var ru unix.Rusage
	unix.Getrusage(unix.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// rawEpollWait is epoll_wait without telling the Go scheduler: a thread
// that enters blocking syscalls hundreds of times a second otherwise
// keeps sysmon polling every 20 µs to take its P away, and that CPU is
// the runtime's, not the check's. With GOMAXPROCS 1 and nothing else
// to run, nobody needs the P while this thread waits.
func rawEpollWait(epfd int, events []unix.EpollEvent, msec int) (int, error) {
	n, _, errno := unix.RawSyscall6(unix.SYS_EPOLL_PWAIT, uintptr(epfd), uintptr(unsafe.Pointer(&events[0])),
		uintptr(len(events)), uintptr(msec), 0, 0)
	if errno != 0 {
		return 0, errno
	}
	return int(n), nil
}
