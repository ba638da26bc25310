package main

// The continuous-accuracy scenario's Markdown: per delay and per form,
// Prometheus's p50 and p99 against the peers' log, and the goal.

import (
	"fmt"
	"io"
	"math"
	"time"
)

func writeContinuousAccuracy(w io.Writer, o contAccOptions, rows []contAccRow, means []contAccMean, wire contAccWire, leaks float64, promVersion string) {
	fmt.Fprintf(w, "## Continuous mode's quantiles through Prometheus against the wire\n\n")
	fmt.Fprintf(w, "- Prometheus: %s\n\n", promVersion)
	fmt.Fprintf(w, "One namespace; one TUN fake peer per delay, each in its own 198.18.x.0/24, answering SYNs on %d ports after its delay (jitter: uniform). "+
		"synack_exporter checks the %d targets of each delay every %v (one continuous group per delay, label `delay`). "+
		"Two Prometheus servers scrape its /metrics every 1s: one with `--enable-feature=native-histograms` (it then stores only the native histogram), one without (the classic `_bucket` series). "+
		"After %v of warm-up, each is asked, at the end of a %v window W, for `histogram_quantile(q, sum by (delay) (rate(synack_response_duration_seconds[W])))` "+
		"(classic: `sum by (delay, le) (rate(synack_response_duration_seconds_bucket[W]))`). "+
		"The truth is the peers' own log (peer): the time from reading each SYN to writing its SYN-ACK, for the exchanges answered between the first and the last scrape that W holds "+
		"(each Prometheus's own, read from `up[W]`), retransmitted SYNs left out; beside it the same exchanges as the kernel stamped them on each peer's TUN device (wire: a packet socket, as the accuracy scenario reads it), "+
		"which adds the time a SYN waits in the device before the peer reads it. "+
		"The rows \"%s\" are the bench's own reading of the same histogram: two protobuf scrapes of /metrics around the window, the native buckets' difference, "+
		"interpolated linearly within a bucket; they tell the exporter's measurement from Prometheus's arithmetic. Goal: every |quantile - truth| within %v.\n\n",
		o.targets, o.targets, o.interval, o.warmup, o.duration, contAccDirect, fmtDur(contAccGoal))
	fmt.Fprintln(w, "| delay | form | exchanges | p50 peer / wire | p50 reported | p50 error vs peer / wire | p99 peer / wire | p99 reported | p99 error vs peer / wire | within 0.5 ms of peer / wire |")
	fmt.Fprintln(w, "|---|---|---:|---:|---:|---:|---:|---:|---:|---|")
	for _, r := range rows {
		e50, ok50 := quantileError(r.promP50, r.truthP50)
		e99, ok99 := quantileError(r.promP99, r.truthP99)
		w50, _ := quantileError(r.promP50, r.wireP50)
		w99, _ := quantileError(r.promP99, r.wireP99)
		verdict := "no data"
		if ok50 && ok99 && r.exchanges > 0 {
			verdict = withinGoal(e50, e99) + " / " + withinGoal(w50, w99)
		}
		fmt.Fprintf(w, "| %s | %s | %d | %s / %s | %s | %s / %s | %s / %s | %s | %s / %s | %s |\n", r.delay, r.form, r.exchanges,
			fmtDur(r.truthP50), fmtDur(r.wireP50), promDur(r.promP50), errDur(e50, ok50), errDur(w50, ok50),
			fmtDur(r.truthP99), fmtDur(r.wireP99), promDur(r.promP99), errDur(e99, ok99), errDur(w99, ok99), verdict)
	}
	fmt.Fprintln(w)
	for _, m := range means {
		fmt.Fprintf(w, "- %s: mean SYN-ACK time in the bench's window: peer %s, wire %s, exporter (`_sum / _count`, %d observations) %s: %s from the peer, %s from the wire.\n",
			m.delay, fmtDur(m.truth), fmtDur(m.wire), m.observed, fmtDur(m.exporter), fmtSigned(m.exporter-m.truth), fmtSigned(m.exporter-m.wire))
	}
	fmt.Fprintf(w, "- On the peers' wire over the whole window and a little before: %d SYNs (%d retransmitted), %d bare ACKs after a SYN-ACK (must be 0; synack_exporter_ack_leaks_total %.0f), %d RSTs. "+
		"Accepts: none can happen, no listener exists (the peers keep no connections).\n\n",
		wire.syns, wire.retransmits, wire.acks, leaks, wire.rsts)
}

// withinGoal says whether both errors are within contAccGoal, and which
// are not.
func withinGoal(e50, e99 time.Duration) string {
	switch {
	case e50 > contAccGoal && e99 > contAccGoal:
		return "no (both)"
	case e50 > contAccGoal:
		return "no (p50)"
	case e99 > contAccGoal:
		return "no (p99)"
	}
	return "yes"
}

// quantileError is |prom - truth|; false when Prometheus had no value.
func quantileError(prom float64, truth time.Duration) (time.Duration, bool) {
	if math.IsNaN(prom) || math.IsInf(prom, 0) {
		return 0, false
	}
	return (seconds(prom) - truth).Abs(), true
}

func promDur(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return fmt.Sprint(v)
	}
	return fmtDur(seconds(v))
}

func errDur(d time.Duration, ok bool) string {
	if !ok {
		return "-"
	}
	return fmtDur(d)
}

func fmtSigned(d time.Duration) string {
	if d < 0 {
		return "-" + fmtDur(-d)
	}
	return "+" + fmtDur(d)
}
