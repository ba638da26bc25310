package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/seed-5ff58b3a/synack_exporter/internal/netns"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/PID/stat.
// It is 100 on every Linux architecture Go supports.
const clockTicks = 100

// proc is an exporter process started inside a namespace.
type proc struct {
	name           string
	cmd            *exec.Cmd
	stdout, stderr *bytes.Buffer
	exited         chan struct{}
}

// procs are every process started, so that cleanup can stop them all.
var (
	procsMu sync.Mutex
	procs   []*proc
)

// startIn starts args inside ns: the child is forked from a thread that
// is in ns, so the process and its sockets live there.
func startIn(ns *netns.NS, name string, args ...string) (*proc, error) {
	p := &proc{name: name, cmd: exec.Command(args[0], args[1:]...), stdout: &bytes.Buffer{}, stderr: &bytes.Buffer{}, exited: make(chan struct{})}
	p.cmd.Stdout = p.stdout
	p.cmd.Stderr = p.stderr
	// The exporters must not outlive the bench, even when it is killed.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := ns.Do(p.cmd.Start); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go func() {
		p.cmd.Wait()
		close(p.exited)
	}()
	procsMu.Lock()
	procs = append(procs, p)
	procsMu.Unlock()
	return p, nil
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

// stop asks the process to end, then kills it after grace.
func (p *proc) stop(grace time.Duration) {
	select {
	case <-p.exited:
		return
	default:
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(grace):
		p.cmd.Process.Kill()
		<-p.exited
	}
}

// alive fails with the process's output when it has exited.
func (p *proc) alive() error {
	select {
	case <-p.exited:
		return fmt.Errorf("%s exited: %v\n%s%s", p.name, p.cmd.ProcessState, p.stdout, p.stderr)
	default:
		return nil
	}
}

// stopAll stops every process started, in reverse order.
func stopAll() {
	procsMu.Lock()
	defer procsMu.Unlock()
	for i := len(procs) - 1; i >= 0; i-- {
		procs[i].stop(2 * time.Second)
	}
	procs = nil
}

// cpuTime is the user plus system time the process has used, all its
// threads included.
func cpuTime(pid int) (time.Duration, error) {
	user, sys, err := cpuTimes(pid)
	return user + sys, err
}

// cpuTimes is the user and the system time the process has used.
func cpuTimes(pid int) (user, sys time.Duration, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, err
	}
	// The command name, field 2, may hold spaces; fields count from the
	// last ')'. utime and stime are fields 14 and 15.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, errors.New("malformed /proc/PID/stat")
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, 0, errors.New("short /proc/PID/stat")
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, 0, err
	}
	return time.Duration(utime) * time.Second / clockTicks, time.Duration(stime) * time.Second / clockTicks, nil
}

// statusKB reads a "kB" field of /proc/PID/status, such as VmHWM.
func statusKB(pid int, field string) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(b)) {
		rest, ok := strings.CutPrefix(line, field+":")
		if !ok {
			continue
		}
		return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, pid)
}

// resetPeakRSS starts VmHWM again from the current RSS (clear_refs 5),
// so that each run reports its own peak.
func resetPeakRSS(pid int) error {
	return os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0)
}

// fdCount is the number of open file descriptors of the process.
func fdCount(pid int) (int, error) {
	entries, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	return len(entries), err
}

// machineTimes is what every CPU of the machine has done so far, from
// /proc/stat: busy (user, nice, system, irq, softirq: the loopback's
// softirq work, which the kernel may run outside the processes that
// caused it, counts here and not in /proc/PID/stat), idle (with iowait),
// and stolen by the hypervisor.
type machineTimes struct{ busy, idle, steal time.Duration }

func readMachineTimes() (machineTimes, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return machineTimes{}, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return machineTimes{}, errors.New("malformed /proc/stat")
	}
	sum := func(fields ...int) (time.Duration, error) {
		var ticks int64
		for _, i := range fields {
			v, err := strconv.ParseInt(f[i], 10, 64)
			if err != nil {
				return 0, err
			}
			ticks += v
		}
		return time.Duration(ticks) * time.Second / clockTicks, nil
	}
	var m machineTimes
	var errs [3]error
	m.busy, errs[0] = sum(1, 2, 3, 6, 7) // user nice system irq softirq
	m.idle, errs[1] = sum(4, 5)          // idle iowait
	m.steal, errs[2] = sum(8)
	return m, errors.Join(errs[:]...)
}

func (m machineTimes) sub(o machineTimes) machineTimes {
	return machineTimes{m.busy - o.busy, m.idle - o.idle, m.steal - o.steal}
}

// share is part's share of the machine's time in m.
func (m machineTimes) share(part time.Duration) float64 {
	total := m.busy + m.idle + m.steal
	if total <= 0 {
		return 0
	}
	return float64(part) / float64(total)
}
