package main

// The continuous scenario's Markdown: every run, /metrics at the largest
// size, and the ratios against the goals of continuous mode.

import (
	"fmt"
	"io"
	"math"
	"strings"
)

func writeContinuous(w io.Writer, o continuousOptions, runs []continuousRun, smokepingVersion string) {
	fmt.Fprintf(w, "## Continuous mode beside smokeping_prober and the floor\n\n")
	fmt.Fprintf(w, "- smokeping_prober: %s\n\n", smokepingVersion)
	fmt.Fprintf(w, "One namespace; all of 198.18.0.0/15 is a `local` route on its lo, so every address answers ICMP echo and reaches one listener on port %d (which counts accepts). "+
		"Each tool checks target i = 198.18.x.y once per %v; smokeping_prober pings the same addresses (`--privileged`). "+
		"The floor is one thread and one epoll instance doing the syscalls of a check and nothing else (bench/continuous_floor_linux.go). "+
		"Each run: %v of warm-up, then a %v window; CPU is the sum of every thread's run time (/proc/PID/task/*/schedstat; the floor: getrusage) over the window; "+
		"checks ended is the growth of synack_checks_total (smokeping_prober: smokeping_requests_total, pings sent) against targets x seconds; RSS is VmRSS at the end; "+
		"answer time and start delay are quantiles of the window's observations in each tool's own histogram; ACKs are bare ACKs to the target port counted by nftables on lo (must be 0).\n\n",
		continuousPort, o.interval, o.warmup, o.duration)
	fmt.Fprintln(w, "| tool | targets | ended / scheduled | answered | CPU / check | RSS | RSS / target | answer p50 / p99 | start delay p50 / p99 | accepts | ACKs (exporter's count) |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, r := range runs {
		rss, per := "-", "-"
		if r.rssKB > 0 {
			rss = fmt.Sprintf("%.1f MB", float64(r.rssKB)/1024)
			per = fmt.Sprintf("%.1f kB", float64(r.rssKB)/float64(r.targets))
		}
		acks := fmt.Sprint(r.acks)
		if strings.HasPrefix(r.tool, synackName) {
			acks += fmt.Sprintf(" (%.0f)", r.leaks)
		}
		fmt.Fprintf(w, "| %s | %d | %.0f / %.0f (%.1f%%) | %.1f%% | %s | %s | %s | %s | %s | %d | %s |\n",
			r.tool, r.targets, r.ended, r.wanted(o.interval), 100*r.ended/r.wanted(o.interval), 100*safeDiv(r.open, r.ended),
			fmtDur(r.cpuPerCheck()), rss, per, quantiles(r.p50.Seconds(), r.p99.Seconds(), r.p50 > 0 || r.p99 > 0),
			quantiles(r.lateP50.Seconds(), r.lateP99.Seconds(), r.lateP50 > 0 || r.lateP99 > 0), r.accepts, acks)
	}
	fmt.Fprintln(w)
	for _, r := range runs {
		if len(r.scrapes) == 0 || r.targets != o.sizes[len(o.sizes)-1] {
			continue
		}
		var parts []string
		for _, s := range r.scrapes {
			parts = append(parts, fmt.Sprintf("%s %.1f MB in %s", s.format, float64(s.bytes)/1e6, fmtDur(s.took)))
		}
		if r.promScrape > 0 {
			parts = append(parts, fmt.Sprintf("Prometheus (native histograms on, protobuf) scrape_duration_seconds median %s", fmtDur(r.promScrape)))
		}
		fmt.Fprintf(w, "- /metrics of %s at %d targets (synack_exporter_continuous_targets %d; uncompressed, the bench's own fetch, median of 3): %s\n",
			r.tool, r.targets, r.series, strings.Join(parts, "; "))
	}
	fmt.Fprintln(w)
	writeContinuousGoals(w, runs)
}

func quantiles(p50, p99 float64, ok bool) string {
	if !ok {
		return "-"
	}
	return fmtDur(seconds(p50)) + " / " + fmtDur(seconds(p99))
}

func safeDiv(a, b float64) float64 {
	if b == 0 {
		return math.NaN()
	}
	return a / b
}

// find returns the run of tool at n targets, if there was one.
func find(runs []continuousRun, tool string, n int) (continuousRun, bool) {
	for _, r := range runs {
		if r.tool == tool && r.targets == n {
			return r, true
		}
	}
	return continuousRun{}, false
}

// marginalRSS is the RSS each target adds between the smallest and the
// largest run of tool, in kB: the fixed cost of the process left out.
func marginalRSS(runs []continuousRun, tool string) (float64, bool) {
	var lo, hi continuousRun
	for _, r := range runs {
		if r.tool != tool {
			continue
		}
		if lo.targets == 0 || r.targets < lo.targets {
			lo = r
		}
		if r.targets > hi.targets {
			hi = r
		}
	}
	if hi.targets == lo.targets {
		return 0, false
	}
	return float64(hi.rssKB-lo.rssKB) / float64(hi.targets-lo.targets), true
}

func writeContinuousGoals(w io.Writer, runs []continuousRun) {
	fmt.Fprintln(w, "| goal | measured | ratio | met |")
	fmt.Fprintln(w, "|---|---|---:|---|")
	row := func(goal, measured string, ratio float64, met bool) {
		verdict := "no"
		if met {
			verdict = "yes"
		}
		r := "-"
		if !math.IsNaN(ratio) {
			r = fmt.Sprintf("%.3fx", ratio)
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s |\n", goal, measured, r, verdict)
	}
	if s, ok := find(runs, "smokeping_prober", 100); ok {
		if e, ok := find(runs, synackName, 100); ok {
			ratio := float64(e.cpuPerCheck()) / float64(s.cpuPerCheck())
			row("CPU per check <= 0.02x smokeping_prober's CPU per ping, 100 targets",
				fmt.Sprintf("%s vs %s", fmtDur(e.cpuPerCheck()), fmtDur(s.cpuPerCheck())), ratio, ratio <= 0.02)
		}
	}
	for _, r := range runs {
		if r.tool != synackName {
			continue
		}
		if f, ok := find(runs, floorName, r.targets); ok {
			ratio := float64(r.cpuPerCheck()) / float64(f.cpuPerCheck())
			row(fmt.Sprintf("CPU per check <= 1.3x the floor, %d targets", r.targets),
				fmt.Sprintf("%s vs %s", fmtDur(r.cpuPerCheck()), fmtDur(f.cpuPerCheck())), ratio, ratio <= 1.3)
		}
	}
	if e, ok := find(runs, synackName, 10000); ok {
		share := safeDiv(e.ended, float64(e.targets)*e.counted.Seconds())
		row("10,000 targets at 1 s: >= 95% of scheduled checks ended", fmt.Sprintf("%.1f%%", 100*share), math.NaN(), share >= 0.95)
		row("10,000 targets at 1 s: start delay p99 < 50 ms", fmtDur(e.lateP99), math.NaN(), e.lateP99 > 0 && e.lateP99.Seconds() < 0.05)
	}
	se, okE := marginalRSS(runs, synackName)
	ss, okS := marginalRSS(runs, "smokeping_prober")
	if okE && okS {
		row("RSS per target <= 0.25x smokeping_prober's per host (each: growth between its smallest and largest run)",
			fmt.Sprintf("%.2f kB vs %.2f kB", se, ss), se/ss, se/ss <= 0.25)
	}
	if s, ok := find(runs, "smokeping_prober", 1000); ok {
		if e, ok := find(runs, synackName, 1000); ok {
			a, b := float64(e.rssKB)/1000, float64(s.rssKB)/1000
			row("RSS / targets at 1,000 targets (fixed cost of the process included)", fmt.Sprintf("%.1f kB vs %.1f kB", a, b), a/b, a/b <= 0.25)
		}
	}
	// The floor has no sweeper: when it falls behind, its ACKs leak, and
	// it says so in its own rows. The goal is the exporter's.
	var accepts, acks int64
	for _, r := range runs {
		if strings.HasPrefix(r.tool, synackName) {
			accepts += r.accepts
			acks += r.acks
		}
	}
	row("synack_exporter: 0 accepts at the target, 0 ACKs on the wire, every run", fmt.Sprintf("%d accepts, %d ACKs", accepts, acks), math.NaN(), accepts == 0 && acks == 0)
	fmt.Fprintln(w)
}
