package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// median returns the median of xs without changing xs.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(xs))
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func writeThroughput(w io.Writer, o throughputOptions, runs []throughputRun, sequences map[string]string) {
	fmt.Fprintf(w, "## Scenario 1: /probe throughput against a loopback listener\n\n")
	fmt.Fprintf(w, "Both exporters and the target listener (which accepts and closes, counting) on the loopback of a namespace of their own; synack_exporter probes it at 127.0.0.1, blackbox_exporter at 127.0.0.2, so that the TIME_WAIT sockets blackbox_exporter's connections leave cannot meet synack_exporter's SYNs; the same Go load generator keeps %d requests in flight, one keep-alive connection each, with Prometheus's scrape headers (Accept, Accept-Encoding: gzip, the timeout), and checks probe_success in every answer. "+
		"%d rounds in ABBA order, each run %v after %v of warm-up. CPU is the exporter's utime+stime (/proc/PID/stat) over the run; peak RSS is VmHWM, reset before each run; packets are counted by an nftables counter on the namespace's lo input, to or from the target port.\n\n",
		o.concurrency, o.rounds, o.duration, o.warmup)
	fmt.Fprintln(w, "One probe on the wire (lo, each packet once):")
	fmt.Fprintln(w)
	for _, name := range []string{"synack_exporter", "blackbox_exporter"} {
		fmt.Fprintf(w, "- %s: %s\n", name, sequences[name])
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| round | exporter | req/s | CPU s / 1k probes | of it in the kernel | p50 | p99 | peak RSS | accepts / probe | packets / probe | failed | machine idle / stolen |")
	fmt.Fprintln(w, "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, r := range runs {
		fmt.Fprintf(w, "| %d | %s | %.0f | %.3f | %.0f%% | %s | %s | %.1f MB | %.3f | %.2f | %d | %.0f%% / %.0f%% |\n",
			r.round, r.exporter, r.reqPerSec, r.cpuPer1k, 100*r.sysShare, fmtDur(r.p50), fmtDur(r.p99),
			float64(r.peakRSSKB)/1024, r.acceptsPerProbe, r.pktsPerProbe, r.failed,
			100*r.machine.share(r.machine.idle), 100*r.machine.share(r.machine.steal))
	}
	for _, r := range runs {
		if r.firstFailure != "" {
			fmt.Fprintf(w, "\nRound %d, %s: %d of %d probes failed; the first: %s\n", r.round, r.exporter, r.failed, r.probes, r.firstFailure)
		}
	}
	by := func(name string, f func(throughputRun) float64) []float64 {
		var xs []float64
		for _, r := range runs {
			if r.exporter == name {
				xs = append(xs, f(r))
			}
		}
		return xs
	}
	// perRound pairs the two exporters' runs of each round.
	perRound := func(f func(throughputRun) float64) []float64 {
		s, b := by("synack_exporter", f), by("blackbox_exporter", f)
		var out []float64
		for i := range min(len(s), len(b)) {
			if b[i] != 0 {
				out = append(out, s[i]/b[i])
			}
		}
		return out
	}
	type row struct {
		name   string
		f      func(throughputRun) float64
		format string
		target string
	}
	rows := []row{
		{"/probe req/s", func(r throughputRun) float64 { return r.reqPerSec }, "%.0f", ">= 4"},
		{"CPU s / 1,000 probes", func(r throughputRun) float64 { return r.cpuPer1k }, "%.3f", "<= 0.25"},
		{"p50 latency (ms)", func(r throughputRun) float64 { return ms(r.p50) }, "%.2f", ""},
		{"p99 latency (ms)", func(r throughputRun) float64 { return ms(r.p99) }, "%.2f", "<= 1"},
		{"peak RSS (MB)", func(r throughputRun) float64 { return float64(r.peakRSSKB) / 1024 }, "%.1f", ""},
		{"bench process CPU s / 1,000 probes (generator, target)", func(r throughputRun) float64 { return r.generator.Seconds() / float64(r.probes) * 1000 }, "%.3f", ""},
		{"whole machine busy CPU s / 1,000 probes", func(r throughputRun) float64 { return r.machine.busy.Seconds() / float64(r.probes) * 1000 }, "%.3f", ""},
		{"accepts / probe", func(r throughputRun) float64 { return r.acceptsPerProbe }, "%.3f", "0 (blackbox 1)"},
		{"packets / probe", func(r throughputRun) float64 { return r.pktsPerProbe }, "%.2f", "3 (blackbox ~6)"},
	}
	fmt.Fprintln(w, "\nMedians over the rounds, and the ratio synack/blackbox (median of the per-round ratios):")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| metric | synack_exporter | blackbox_exporter | ratio | per-round ratios | target |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---|---|")
	for _, r := range rows {
		s, b := median(by("synack_exporter", r.f)), median(by("blackbox_exporter", r.f))
		ratios := perRound(r.f)
		var each []string
		for _, x := range ratios {
			each = append(each, fmt.Sprintf("%.2f", x))
		}
		fmt.Fprintf(w, "| %s | "+r.format+" | "+r.format+" | %.2f | %s | %s |\n",
			r.name, s, b, median(ratios), strings.Join(each, ", "), r.target)
	}
	fmt.Fprintln(w)
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func writeInflight(w io.Writer, o inflightOptions, r inflightResult) {
	fmt.Fprintf(w, "## Scenario 2: %d probes in flight against a silent target\n\n", o.probes)
	fmt.Fprintf(w, "The target %s drops every SYN (nftables, inside the namespace). "+
		"Through the exporter (--probe.max-concurrency=%d, --probe.park-above at its default of 256), all requests are sent at once, each with a scrape timeout of %v; the module's timeout is %v. "+
		"The engine alone is a process holding one prober.Checker that starts %d checks with Begin, as the exporter's parked probes do (no goroutine waits for a check), each with a %v deadline. ",
		silentTarget, 2*o.probes, o.scrape, o.budget, o.probes, o.budget)
	fmt.Fprintf(w, "The open files limit was %d", r.fileLimit)
	if r.probes < o.probes {
		fmt.Fprintf(w, ", and only CAP_SYS_RESOURCE may raise it: the exporter needs two descriptors a probe (the probe's socket, the request's connection), so %d probes went through it and %d through the engine alone", r.probes, o.probes)
	}
	fmt.Fprint(w, ".\n\n")
	e := r.engine
	fmt.Fprintln(w, "| measure | exporter over HTTP | engine alone | target |")
	fmt.Fprintln(w, "|---|---:|---:|---|")
	row := func(name, exp, eng, target string) { fmt.Fprintf(w, "| %s | %s | %s | %s |\n", name, exp, eng, target) }
	row("probes / ended as timeout", fmt.Sprintf("%d / %d", r.probes, r.timeouts), fmt.Sprintf("%d / %d", e.Probes, e.Timeouts), "all")
	row("other answers / HTTP errors", fmt.Sprintf("%d / %d", r.others, r.httpErrors), fmt.Sprint(e.Others), "0")
	row("most probes in flight at once", fmt.Sprint(r.maxInFlight), fmt.Sprint(e.Probes), "")
	row("worst overrun of the budget", fmtDur(r.maxOverBudget), fmtDur(e.MaxOverBudget), "within the scrape timeout")
	row("request written to answer read, p50 / max", fmtDur(r.p50Latency)+" / "+fmtDur(r.maxLatency), "", fmt.Sprintf("< %v (scrape timeout)", o.scrape))
	row("peak RSS (VmHWM)", fmt.Sprintf("%.1f MB", float64(r.peakKB)/1024), fmt.Sprintf("%.1f MB", float64(e.PeakRSSKB)/1024), "< 100 MB")
	row("open fds before / peak / after", fmt.Sprintf("%d / %d / %d", r.baseFDs, r.peakFDs, r.afterFDs),
		fmt.Sprintf("%d / %d / %d", e.BaseFDs, e.PeakFDs, e.AfterFDs), "after = before")
	row("CPU seconds, whole burst", fmt.Sprintf("%.2f", r.cpu.Seconds()), fmt.Sprintf("%.2f", e.CPU.Seconds()), "")
	fmt.Fprintf(w, "\nThe exporter's idle RSS was %.1f MB; it took %v to send all requests. Probes in flight is the highest synack_exporter_probes_in_flight seen on /metrics, sampled every 50 ms. ",
		float64(r.baseRSSKB)/1024, r.rampUp.Round(time.Millisecond))
	if r.plateauGoroutines > 0 {
		fmt.Fprintf(w, "With all %d in flight, the exporter's /metrics said: %d goroutines, %.0f MB of goroutine stacks, %.0f MB of heap allocated (live and not yet collected), that is %.1f kB of stack and %.1f kB of heap a probe; %d connections parked with their probe running. ",
			r.probes, r.plateauGoroutines, float64(r.plateauStack)/(1<<20), float64(r.plateauHeap)/(1<<20),
			float64(r.plateauStack)/1024/float64(r.probes), float64(r.plateauHeap)/1024/float64(r.probes), r.plateauParked)
	}
	fmt.Fprintf(w, "The engine alone, halfway through: %.0f MB of stacks, %.0f MB of heap allocated.\n",
		float64(e.StackInuse)/(1<<20), float64(e.HeapAlloc)/(1<<20))
	for _, msg := range []string{r.firstNonTimeoutMsg, e.FirstOther} {
		if msg != "" {
			fmt.Fprintf(w, "\nFirst answer that was not a timeout:\n\n```\n%s\n```\n", msg)
		}
	}
	fmt.Fprintln(w)
}

func writeAccuracy(w io.Writer, o accuracyOptions, rows []accuracyRow) {
	fmt.Fprintf(w, "## Scenario 3: latency accuracy against the TUN fake peer\n\n")
	fmt.Fprintf(w, "The fake peer (internal/fakepeer, a TUN device in the namespace) answers each SYN after the delay; the exporter serves %d probes/s for %v per delay while a bare-syscall prober (a separate process: one thread, socket/connect/epoll_wait/TCP_INFO/close, at the same nice value as the exporter's loop) probes the same peer at %d/s. "+
		"The reference is the wire: a packet socket on the TUN device timestamps (in the kernel) the SYN as it leaves and the SYN-ACK as it arrives. "+
		"Error = reported latency - that wire time, per probe, matched by port and time. The bare prober's error is the floor of this harness on this machine.\n\n",
		o.rate, o.duration, o.bareRate)
	fmt.Fprintln(w, "| delay | prober | probes/s | matched / sent | synack error p50 | synack error p99 | rtt error p50 | rtt error p99 | wire time p50 / p99 |")
	fmt.Fprintln(w, "|---:|---|---:|---:|---:|---:|---:|---:|---:|")
	for _, r := range rows {
		s := summarize(r.samples)
		fmt.Fprintf(w, "| %v | %s | %.0f | %d / %d | %s | %s | %s | %s | %s / %s |\n",
			r.delay, r.source, r.achieved, len(r.samples), r.sent,
			fmtDur(s.synackP50), fmtDur(s.synackP99), fmtDur(s.rttP50), fmtDur(s.rttP99),
			fmtDur(s.actualP50), fmtDur(s.actualP99))
	}
	fmt.Fprintln(w, "\nTargets for synack_exporter: synack error p99 < 1 ms, rtt error p99 < 300 µs.")
	fmt.Fprintln(w)
}
