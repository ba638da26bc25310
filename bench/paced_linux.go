package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"time"
)

// pacedOptions are the knobs of scenario 4.
type pacedOptions struct {
	synack, blackbox string // binaries
	rounds           int
	targets          int
	interval         time.Duration
	conns            int
	duration, warmup time.Duration
	delay            time.Duration // > 0: the targets are a fake peer answering after it
	dir              string
	perfDir          string // if set, perf record each measured run into it
}

// runPaced is scenario 4: each server scraped as Prometheus scrapes it,
// every target once per interval at a fixed offset of its own, the
// requests spread evenly over the interval and over keep-alive
// connections.
func runPaced(o pacedOptions, out io.Writer) error {
	var env *loopbackEnv
	var err error
	if o.delay > 0 {
		env, err = newPeerEnv("synack-bench-paced-peer", o.delay, o.synack, o.dir)
	} else {
		env, err = newLoopbackEnv("synack-bench-paced", o.synack, o.blackbox, o.dir)
	}
	if err != nil {
		return err
	}
	defer env.close()
	runs, err := env.rounds(o.rounds, func(e *exporter) (throughputRun, error) {
		return measurePaced(env, e, o)
	})
	if err != nil {
		return err
	}
	writePaced(out, o, runs)
	return nil
}

func measurePaced(env *loopbackEnv, e *exporter, o pacedOptions) (throughputRun, error) {
	var host string
	paths := make([]string, o.targets)
	for i := range paths {
		u, err := url.Parse(e.probeURL("bench", env.targetAddr(e, i)))
		if err != nil {
			return throughputRun{}, err
		}
		host, paths[i] = u.Host, u.RequestURI()
	}
	dial := func() (net.Conn, error) { return env.dial(context.Background(), "tcp", host) }
	p := &pacer{dial: dial, host: host, paths: paths, conns: o.conns, interval: o.interval}
	defer p.close()
	if _, _, _, err := p.run(o.warmup); err != nil {
		return throughputRun{}, fmt.Errorf("%s: %w", e.name, err)
	}
	r, err := measure(env, e, func() ([]time.Duration, int, string, error) {
		if o.perfDir == "" {
			return p.run(o.duration)
		}
		stop, err := perfRecord(e, filepath.Join(o.perfDir, fmt.Sprintf("%s-%d.data", e.name, time.Now().Unix())))
		if err != nil {
			return nil, 0, "", err
		}
		lat, failed, first, err := p.run(o.duration)
		return lat, failed, first, errors.Join(err, stop())
	})
	r.late = p.late
	return r, err
}

// perfRecord samples e's CPU with call graphs (frame pointers: Go keeps
// them) until stop is called. perf takes CPU of its own: runs profiled
// are not for comparing.
func perfRecord(e *exporter, file string) (stop func() error, err error) {
	cmd := exec.Command("perf", "record", "-e", "cpu-clock", "-F", "2000", "-g", "-o", file, "-p", strconv.Itoa(e.proc.pid()))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("perf: %w", err)
	}
	return func() error {
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait() // perf ends with the interrupt's status
		if _, err := os.Stat(file); err != nil {
			return fmt.Errorf("perf: %w\n%s", err, out.Bytes())
		}
		logf("perf: %s", file)
		return nil
	}, nil
}

// pacer is the paced load generator. Its connections stay open from one
// run to the next, as Prometheus keeps its own.
type pacer struct {
	dial     func() (net.Conn, error)
	host     string
	paths    []string
	conns    int
	interval time.Duration
	workers  []*worker
	late     int // requests of the last run sent more than 10 ms after their time
}

// lateAfter is how far behind its time a request counts as late: the
// generator, not the server, could not keep the pace.
const lateAfter = 10 * time.Millisecond

// run scrapes every target once per interval for d, target i at offset
// i*interval/len(paths), handing each request to the connection that
// has waited longest for one.
func (p *pacer) run(d time.Duration) (lat []time.Duration, failed int, firstFailure string, err error) {
	if p.workers == nil {
		for range p.conns {
			p.workers = append(p.workers, &worker{dial: p.dial})
		}
	}
	requests := make([][]byte, len(p.paths))
	for i, path := range p.paths {
		requests[i] = scrapeRequest(p.host, path)
	}
	jobs := make(chan int)
	var sum tally
	var wg sync.WaitGroup
	for _, w := range p.workers {
		wg.Go(func() {
			var mine tally
			for i := range jobs {
				if mine.err != nil {
					continue // the connection is gone; keep taking jobs so the pacer never blocks
				}
				start := time.Now()
				w.request = requests[i]
				body, err := w.do()
				mine.record(time.Since(start), body, err)
			}
			sum.add(&mine)
		})
	}
	step := p.interval / time.Duration(len(p.paths))
	n := int(d / step)
	p.late = 0
	start := time.Now()
	for k := range n {
		due := start.Add(time.Duration(k) * step)
		if wait := time.Until(due); wait > 0 {
			time.Sleep(wait)
		}
		jobs <- k % len(p.paths)
		if time.Since(due) > lateAfter {
			p.late++
		}
	}
	close(jobs)
	wg.Wait()
	return sum.lat, sum.failed, sum.firstFailure, sum.err
}

func (p *pacer) close() {
	for _, w := range p.workers {
		w.close()
	}
}
