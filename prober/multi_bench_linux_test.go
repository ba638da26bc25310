package prober

import (
	"context"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// BenchmarkSYNCost compares the CPU one SYN costs (user plus system time
// of the whole process, the kernel's loopback work included) when a probe
// makes one check with CheckAddr and when it makes ten with CheckMany,
// for a target on this host (answered while connect() runs) and through
// the loop (as a remote target's answer comes). The target: a SYN
// of syn_count 10 costs at most 1.3 times a single check's.
//
//	go test -run '^$' -bench SYNCost -count 6 ./prober | tee syn.txt
//	benchstat -col /checks syn.txt
func BenchmarkSYNCost(b *testing.B) {
	c := newChecker(b)
	target := benchTarget(b)
	for _, path := range []struct {
		name  string
		early func(socket) (Result, bool)
	}{
		{"answer=early", answeredEarly},
		{"answer=loop", func(socket) (Result, bool) { return Result{}, false }},
	} {
		b.Run(path.name, func(b *testing.B) {
			answerEarly = path.early
			b.Cleanup(func() { answerEarly = answeredEarly })
			b.Run("checks=1", func(b *testing.B) {
				measureCPUPerSYN(b, 1, func() {
					if r := c.CheckAddr(context.Background(), target, DefaultOptions()); r.Class != ClassOpen {
						b.Fatalf("check: %v %v", r.Class, r.Err)
					}
				})
			})
			b.Run("checks=10", func(b *testing.B) {
				plan := Plan{SYNCount: 10}
				measureCPUPerSYN(b, 10, func() {
					if s := c.CheckMany(context.Background(), target.String(), DefaultOptions(), plan); s.Classes[ClassOpen] != 10 {
						b.Fatalf("checks: %+v", s.Classes)
					}
				})
			})
		})
	}
}

// measureCPUPerSYN runs probe b.N times and reports the process's CPU
// time per SYN, each probe sending syns.
func measureCPUPerSYN(b *testing.B, syns int, probe func()) {
	before := cpuTime(b)
	b.ResetTimer()
	for range b.N {
		probe()
	}
	b.StopTimer()
	b.ReportMetric(float64(cpuTime(b)-before)/float64(b.N*syns), "cpu-ns/SYN")
}

func cpuTime(b *testing.B) time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
