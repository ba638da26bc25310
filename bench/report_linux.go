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
	fmt.Fprintf(w, "## Scenario 1: /probe throughput against a loopback listener (saturated)\n\n")
	fmt.Fprintf(w, "The floor, both exporters and the target listener (which accepts and closes, counting) on the loopback of a namespace of their own; each server probes the listener at an address of its own (floor 127.1.0.1, synack_exporter 127.2.0.1, blackbox_exporter 127.3.0.1), so that the TIME_WAIT sockets blackbox_exporter's connections leave cannot meet the half-open SYNs; the same Go load generator keeps %d requests in flight, one keep-alive connection each, with Prometheus's scrape headers (Accept, Accept-Encoding: gzip, the timeout), and checks probe_success in every answer. "+
		"%d rounds, the servers in turn, forwards then backwards, each run %v after %v of warm-up. CPU is the server's utime+stime (/proc/PID/stat) over the run; peak RSS is VmHWM, reset before each run; packets are counted by an nftables counter on the namespace's lo input, to or from the target port.\n\n",
		o.concurrency, o.rounds, o.duration, o.warmup)
	fmt.Fprintln(w, "One probe on the wire (lo, each packet once):")
	fmt.Fprintln(w)
	for _, name := range []string{floorName, synackName, blackboxName} {
		fmt.Fprintf(w, "- %s: %s\n", name, sequences[name])
	}
	fmt.Fprintln(w)
	writeRuns(w, runs)
	writeRatios(w, runs, []ratioRow{
		{"/probe req/s", func(r throughputRun) float64 { return r.reqPerSec }, "%.0f"},
		{"CPU s / 1,000 probes", func(r throughputRun) float64 { return r.cpuPer1k }, "%.3f"},
		{"p50 latency (ms)", func(r throughputRun) float64 { return ms(r.p50) }, "%.2f"},
		{"p99 latency (ms)", func(r throughputRun) float64 { return ms(r.p99) }, "%.2f"},
		{"peak RSS (MB)", func(r throughputRun) float64 { return float64(r.peakRSSKB) / 1024 }, "%.1f"},
		{"bench process CPU s / 1,000 probes (generator, target)", func(r throughputRun) float64 { return r.generator.Seconds() / float64(r.probes) * 1000 }, "%.3f"},
		{"whole machine busy CPU s / 1,000 probes", func(r throughputRun) float64 { return r.machine.busy.Seconds() / float64(r.probes) * 1000 }, "%.3f"},
		{"accepts / probe", func(r throughputRun) float64 { return r.acceptsPerProbe }, "%.3f"},
		{"packets / probe", func(r throughputRun) float64 { return r.pktsPerProbe }, "%.2f"},
	})
	fmt.Fprintln(w, "Targets: synack_exporter's CPU per probe at most 1.15x the floor's; against blackbox_exporter, req/s >= 4x, CPU per probe <= 0.25x, p99 no worse, 0 accepts and 3 packets per probe.")
	fmt.Fprintln(w)
}

// writeRuns is the table of every run.
func writeRuns(w io.Writer, runs []throughputRun) {
	fmt.Fprintln(w, "| round | server | req/s | CPU s / 1k probes | of it in the kernel | p50 | p99 | peak RSS | accepts / probe | packets / probe | failed | late | machine idle / stolen |")
	fmt.Fprintln(w, "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, r := range runs {
		fmt.Fprintf(w, "| %d | %s | %.0f | %.3f | %.0f%% | %s | %s | %.1f MB | %.3f | %.2f | %d | %d | %.0f%% / %.0f%% |\n",
			r.round, r.exporter, r.reqPerSec, r.cpuPer1k, 100*r.sysShare, fmtDur(r.p50), fmtDur(r.p99),
			float64(r.peakRSSKB)/1024, r.acceptsPerProbe, r.pktsPerProbe, r.failed, r.late,
			100*r.machine.share(r.machine.idle), 100*r.machine.share(r.machine.steal))
	}
	for _, r := range runs {
		if r.firstFailure != "" {
			fmt.Fprintf(w, "\nRound %d, %s: %d of %d probes failed; the first: %s\n", r.round, r.exporter, r.failed, r.probes, r.firstFailure)
		}
	}
	fmt.Fprintln(w)
}

// ratioRow is one measure of writeRatios.
type ratioRow struct {
	name   string
	f      func(throughputRun) float64
	format string
}

// writeRatios prints each server's median over the rounds and the
// ratios synack/floor and synack/blackbox: medians of the per-round
// ratios, each round's runs having been made one right after the other.
func writeRatios(w io.Writer, runs []throughputRun, rows []ratioRow) {
	by := func(name string, f func(throughputRun) float64) []float64 {
		var xs []float64
		for _, r := range runs {
			if r.exporter == name {
				xs = append(xs, f(r))
			}
		}
		return xs
	}
	perRound := func(f func(throughputRun) float64, num, den string) []float64 {
		a, b := by(num, f), by(den, f)
		var out []float64
		for i := range min(len(a), len(b)) {
			if b[i] != 0 {
				out = append(out, a[i]/b[i])
			}
		}
		return out
	}
	list := func(xs []float64) string {
		var each []string
		for _, x := range xs {
			each = append(each, fmt.Sprintf("%.2f", x))
		}
		return strings.Join(each, ", ")
	}
	fmt.Fprintln(w, "Medians over the rounds; ratios are the median of the per-round ratios:")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| metric | floor | synack_exporter | blackbox_exporter | synack / floor | per round | synack / blackbox | per round |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---|---:|---|")
	// cell is a median, or a dash for a server the scenario left out.
	cell := func(format string, xs []float64) string {
		if len(xs) == 0 {
			return "–"
		}
		return fmt.Sprintf(format, median(xs))
	}
	for _, r := range rows {
		sf, sb := perRound(r.f, synackName, floorName), perRound(r.f, synackName, blackboxName)
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s | %s |\n",
			r.name, cell(r.format, by(floorName, r.f)), cell(r.format, by(synackName, r.f)), cell(r.format, by(blackboxName, r.f)),
			cell("%.2f", sf), list(sf), cell("%.2f", sb), list(sb))
	}
	fmt.Fprintln(w)
}

func writePaced(w io.Writer, o pacedOptions, runs []throughputRun) {
	if o.delay > 0 {
		fmt.Fprintf(w, "## Scenario 5: /probe paced as Prometheus scrapes, targets %v away\n\n", o.delay)
		fmt.Fprintf(w, "As scenario 4, but the targets are ports of a fake peer (internal/fakepeer, a TUN device in the namespace) that answers each SYN after %v, as a remote target does: the answer is not there when connect returns, and each check waits for it (synack_exporter: its engine's epoll loop; the floor: Go's netpoller). blackbox_exporter is left out (the peer never answers its FIN). Packets are what the peer saw, both ways. ", o.delay)
	} else {
		fmt.Fprintf(w, "## Scenario 4: /probe paced as Prometheus scrapes\n\n")
		fmt.Fprintf(w, "The same namespace, listener and servers as scenario 1. ")
	}
	fmt.Fprintf(w, "%d targets per server, each scraped once every %v at an offset of its own, so that %.0f requests a second are spread evenly over the interval and over %d keep-alive connections (each request goes to the connection that has waited longest), with the same scrape headers. "+
		"%d rounds, the servers in turn, forwards then backwards, each run %v after %v of warm-up. The servers are mostly idle between requests, and the wake-ups (the connection's goroutine, the netpoller, the engine's loop) weigh more than under saturation. Late: requests the generator sent more than %v after their time.\n\n",
		o.targets, o.interval, float64(o.targets)/o.interval.Seconds(), o.conns, o.rounds, o.duration, o.warmup, lateAfter)
	writeRuns(w, runs)
	writeRatios(w, runs, []ratioRow{
		{"CPU s / 1,000 probes", func(r throughputRun) float64 { return r.cpuPer1k }, "%.3f"},
		{"of it in the kernel", func(r throughputRun) float64 { return r.sysShare }, "%.2f"},
		{"p50 latency (ms)", func(r throughputRun) float64 { return ms(r.p50) }, "%.2f"},
		{"p99 latency (ms)", func(r throughputRun) float64 { return ms(r.p99) }, "%.2f"},
		{"peak RSS (MB)", func(r throughputRun) float64 { return float64(r.peakRSSKB) / 1024 }, "%.1f"},
	})
	fmt.Fprintln(w, "Target: synack_exporter's CPU per probe at most 1.15x the floor's. (The whole machine's CPU is left out here: at 400 probes a second the machine's other work outweighs the probes.)")
	fmt.Fprintln(w)
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func writeInflight(w io.Writer, o inflightOptions, fileLimit uint64, results []inflightResult) {
	if len(results) == 0 {
		return
	}
	probes := results[0].probes
	fmt.Fprintf(w, "## Scenario 2: %d probes in flight against a silent target\n\n", probes)
	fmt.Fprintf(w, "The target %s drops every SYN (nftables, inside the namespace). "+
		"Each server in turn is started, measured idle, sent all requests at once, each with a scrape timeout of %v, to a module (or, for the floor, a budget) of %v, and stopped; %d rounds. synack_exporter runs with --probe.max-concurrency=%d. "+
		"Memory per probe in flight is peak RSS (VmHWM) minus the idle RSS, over the probes. The open files limit was %d",
		silentTarget, o.scrape, o.budget, o.rounds, 2*probes, fileLimit)
	if probes < o.probes {
		fmt.Fprintf(w, ", and only CAP_SYS_RESOURCE may raise it: a server needs two descriptors a probe (the probe's socket, the request's connection), so %d probes went through each instead of %d", probes, o.probes)
	}
	fmt.Fprint(w, ".\n\n")
	fmt.Fprintln(w, "| round | server | timeouts / probes | other / HTTP errors | most in flight (own count) | worst overrun of the budget | answer p50 / max | idle RSS | peak RSS | kB per probe in flight | fds before / peak / after | CPU s, whole burst |")
	fmt.Fprintln(w, "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, r := range results {
		inFlight := "n/a"
		if r.maxInFlight > 0 {
			inFlight = fmt.Sprint(r.maxInFlight)
		}
		fmt.Fprintf(w, "| %d | %s | %d / %d | %d / %d | %s | %s | %s / %s | %.1f MB | %.1f MB | %.2f | %d / %d / %d | %.2f |\n",
			r.round, r.server, r.timeouts, r.probes, r.others, r.httpErrors, inFlight, fmtDur(r.maxOverBudget),
			fmtDur(r.p50Latency), fmtDur(r.maxLatency), float64(r.baseRSSKB)/1024, float64(r.peakKB)/1024, r.perProbeKB(),
			r.baseFDs, r.peakFDs, r.afterFDs, r.cpu.Seconds())
	}
	perProbe := func(name string) []float64 {
		var xs []float64
		for _, r := range results {
			if r.server == name {
				xs = append(xs, r.perProbeKB())
			}
		}
		return xs
	}
	ratios := func(num, den string) ([]float64, string) {
		a, b := perProbe(num), perProbe(den)
		var out []float64
		var each []string
		for i := range min(len(a), len(b)) {
			out = append(out, a[i]/b[i])
			each = append(each, fmt.Sprintf("%.2f", a[i]/b[i]))
		}
		return out, strings.Join(each, ", ")
	}
	sf, sfEach := ratios(synackName, floorName)
	bf, bfEach := ratios(blackboxName, floorName)
	fmt.Fprintf(w, "\nkB per probe in flight, medians: floor %.2f, synack_exporter %.2f, blackbox_exporter %.2f. synack/floor %.2f (per round %s; target <= 1.25); blackbox/floor %.2f (%s).\n",
		median(perProbe(floorName)), median(perProbe(synackName)), median(perProbe(blackboxName)), median(sf), sfEach, median(bf), bfEach)
	for _, r := range results {
		if r.plateauGoroutines > 0 {
			fmt.Fprintf(w, "\nRound %d, with all %d in flight, synack_exporter's /metrics said: %d goroutines, %.0f MB of goroutine stacks, %.0f MB of heap allocated (live and not yet collected), that is %.1f kB of stack and %.1f kB of heap a probe.\n",
				r.round, r.probes, r.plateauGoroutines, float64(r.plateauStack)/(1<<20), float64(r.plateauHeap)/(1<<20),
				float64(r.plateauStack)/1024/float64(r.probes), float64(r.plateauHeap)/1024/float64(r.probes))
		}
	}
	for _, r := range results {
		if r.firstNonTimeoutMsg != "" {
			fmt.Fprintf(w, "\nRound %d, %s: first answer that was not a timeout:\n\n```\n%s\n```\n", r.round, r.server, r.firstNonTimeoutMsg)
		}
	}
	fmt.Fprintln(w)
}

func writeAccuracy(w io.Writer, o accuracyOptions, rows []accuracyRow) {
	fmt.Fprintf(w, "## Scenario 3: latency accuracy against the TUN fake peer\n\n")
	fmt.Fprintf(w, "The fake peer (internal/fakepeer, a TUN device in the namespace) answers each SYN after the delay; the exporter serves %d probes/s for %v per delay while a bare-syscall prober (a separate process: one thread, socket/connect/epoll_wait/TCP_INFO/close, at the exporter's nice value) probes the same peer at %d/s. "+
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
