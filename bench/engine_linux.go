package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"sync"
	"time"

	"github.com/seed-5ff58b3a/synack_exporter/internal/netns"
	"github.com/seed-5ff58b3a/synack_exporter/prober"
)

// engineReport is what the engine-only child of scenario 2 measured: a
// process that is nothing but a prober.Checker, started with Begin as the
// exporter's parked probes are (no goroutine waits for a check), so that
// it needs one fd per probe where the exporter needs two (the probe's
// socket and the request's connection).
type engineReport struct {
	Probes        int
	Timeouts      int
	Others        int
	FirstOther    string
	BaseFDs       int
	PeakFDs       int
	AfterFDs      int
	PeakRSSKB     int64
	MaxOverBudget time.Duration // the check's duration minus its budget, worst
	CPU           time.Duration
	// Go's own accounting halfway through the budget, all checks waiting.
	StackInuse, HeapAlloc, HeapSys uint64
}

// engineChildFlag makes the bench binary the engine-only child.
const engineChildFlag = "engine-child"

// runEngineChild runs in a child process inside the scenario's namespace:
// n checks of target at once, each with budget, then prints a report.
func runEngineChild(n int, target string, budget time.Duration) error {
	addr, err := netip.ParseAddrPort(target)
	if err != nil {
		return err
	}
	c, err := prober.NewChecker()
	if err != nil {
		return err
	}
	defer c.Close()
	pid := os.Getpid()
	var rep engineReport
	rep.Probes = n
	// The Go runtime opens its own poller's descriptors (an epoll and an
	// eventfd) the first time something needs them, and keeps them:
	// open them before the baseline, so that it counts only checks.
	if r, w, err := os.Pipe(); err == nil {
		r.Close()
		w.Close()
	}
	if rep.BaseFDs, err = fdCount(pid); err != nil {
		return err
	}
	cpu0, _ := cpuTime(pid)
	stop, sampled := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			if k, err := fdCount(pid); err == nil {
				rep.PeakFDs = max(rep.PeakFDs, k)
			}
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	results := make([]prober.Result, n)
	over := make([]time.Duration, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		ctx, cancel := context.WithTimeout(context.Background(), budget)
		start := time.Now()
		end := func(r prober.Result) {
			over[i] = time.Since(start) - budget
			results[i] = r
			cancel()
			wg.Done()
		}
		if r, ok := c.Begin(ctx, addr.String(), prober.DefaultOptions(), end); ok {
			end(r)
		}
	}
	time.Sleep(budget / 2)
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	rep.StackInuse, rep.HeapAlloc, rep.HeapSys = ms.StackInuse, ms.HeapAlloc, ms.HeapSys
	wg.Wait()
	close(stop)
	<-sampled
	cpu1, _ := cpuTime(pid)
	rep.CPU = cpu1 - cpu0
	for i, r := range results {
		rep.MaxOverBudget = max(rep.MaxOverBudget, over[i])
		if r.Class == prober.ClassTimeout {
			rep.Timeouts++
			continue
		}
		rep.Others++
		if rep.FirstOther == "" {
			rep.FirstOther = fmt.Sprintf("%v errno %d: %v", r.Class, r.Errno, r.Err)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if rep.AfterFDs, err = fdCount(pid); err != nil {
			return err
		}
		if rep.AfterFDs <= rep.BaseFDs || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if rep.PeakRSSKB, err = statusKB(pid, "VmHWM"); err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(rep)
}

// runEngine starts the engine-only child in ns and returns its report.
func runEngine(ns *netns.NS, n int, target string, budget time.Duration) (engineReport, error) {
	self, err := os.Executable()
	if err != nil {
		return engineReport{}, err
	}
	p, err := startIn(ns, "engine child", self, "-"+engineChildFlag, strconv.Itoa(n), target, budget.String())
	if err != nil {
		return engineReport{}, err
	}
	select {
	case <-p.exited:
	case <-time.After(budget + time.Minute):
		p.stop(time.Second)
		return engineReport{}, fmt.Errorf("engine child still running after %v", budget+time.Minute)
	}
	var rep engineReport
	if !p.cmd.ProcessState.Success() {
		return rep, fmt.Errorf("engine child: %v\n%s", p.cmd.ProcessState, p.stderr)
	}
	if err := json.Unmarshal(p.stdout.Bytes(), &rep); err != nil {
		return rep, fmt.Errorf("engine child's report: %w\n%s", err, p.stderr)
	}
	return rep, nil
}

func engineChildMain(args []string) error {
	if len(args) != 3 {
		return fmt.Errorf("want probes target budget, got %q", args)
	}
	n, err := strconv.Atoi(args[0])
	if err != nil {
		return err
	}
	budget, err := time.ParseDuration(args[2])
	if err != nil {
		return err
	}
	return runEngineChild(n, args[1], budget)
}
