package collector

import (
	"fmt"
	"math"
	"net/netip"
	"strings"
	"time"

	"github.com/seed-5ff58b3a/synack_exporter/prober"
)

// What a finished probe came to, read the same way by every surface: the
// /probe metrics, the self-metrics, the debug log line and the landing
// page. A probe of one check reads its Result; a probe of several reads
// its Summary, never the one Result that stands for them.

// Succeeded is the probe's probe_success: whether its check, or its checks
// together, ended as the module expects (expect, min_open_ratio).
func (rec *probeRecord) Succeeded() bool {
	if rec.Summary != nil {
		return rec.Summary.Success
	}
	return rec.expect().Met(rec.Result.Class)
}

func (rec *probeRecord) expect() prober.Expect {
	if rec.Summary != nil {
		return rec.Summary.Plan.Expect
	}
	return rec.Config.ExpectOutcome()
}

// failedCheck is the check that explains a failed probe: its only check,
// or the first of several that did not end as the module expects, or
// what prevented any check (a name that did not resolve). Its class is
// the class of the failure in probe_failures_total and the log: what
// happened, so "open" for a port that answered but must not.
func (rec *probeRecord) failedCheck() prober.Result {
	if rec.Summary != nil {
		return rec.Summary.Unmet
	}
	return rec.Result
}

// classCounts counts the probe's checks by class, as
// probe_tcp_syn_results does; a probe that could make no check counts
// the one class that says why (resolve, local).
func (rec *probeRecord) classCounts() (counts [len(prober.Summary{}.Classes)]int) {
	if s := rec.Summary; s != nil && s.Checks > 0 {
		return s.Classes
	}
	counts[rec.failedCheck().Class]++
	return counts
}

// synack is the SYN-ACK time the metrics report as
// probe_tcp_synack_seconds: the check's, or the median of the open
// checks'; ok is false when no check found the port open.
func (rec *probeRecord) synack() (d time.Duration, ok bool) {
	if s := rec.Summary; s != nil {
		return s.SYNACK.Median, s.Classes[prober.ClassOpen] > 0
	}
	return rec.Result.SYNACK, rec.Result.Success()
}

// rtt is probe_tcp_rtt_seconds, with synack's ok.
func (rec *probeRecord) rtt() time.Duration {
	if s := rec.Summary; s != nil {
		return s.RTT
	}
	return rec.Result.RTT
}

// addr is the address probe_ip_addr_hash reports: the check's, or the
// first check's of several.
func (rec *probeRecord) addr() netip.AddrPort {
	if s := rec.Summary; s != nil {
		return s.FirstAddr
	}
	return rec.Result.Addr
}

// dns is probe_dns_lookup_time_seconds.
func (rec *probeRecord) dns() time.Duration {
	if s := rec.Summary; s != nil {
		return s.DNS
	}
	return rec.Result.DNS
}

// synRetransmits is probe_tcp_syn_retransmits: summed over the checks.
func (rec *probeRecord) synRetransmits() uint32 {
	if s := rec.Summary; s != nil {
		return s.SYNRetransmits
	}
	return rec.Result.SYNRetransmits
}

// Outcome is the landing page's one-line account of the probe. One check:
// its class and error. Several: how many checks ended in each class, the
// loss and the addresses that answered. Either way, a failed probe says
// which check failed it, and a module that expects something else than
// open says so.
func (rec *probeRecord) Outcome() string {
	var b strings.Builder
	if s := rec.Summary; s != nil {
		rec.writeChecks(&b, s)
	} else {
		b.WriteString(rec.Result.Class.String())
	}
	if !rec.Succeeded() {
		f := rec.failedCheck()
		if rec.Summary != nil {
			fmt.Fprintf(&b, "; failed: %s", f.Class)
		}
		if f.Err != nil {
			fmt.Fprintf(&b, ": %v", f.Err)
		}
	}
	if e := rec.expect(); e != prober.ExpectOpen {
		fmt.Fprintf(&b, " (expected %s)", e)
	}
	return b.String()
}

// writeChecks writes "10 checks: 7 open, 3 timeout; loss 30%; 1/2
// addresses open".
func (rec *probeRecord) writeChecks(b *strings.Builder, s *prober.Summary) {
	if s.Checks == 0 {
		b.WriteString("no check made")
		return
	}
	fmt.Fprintf(b, "%d checks", s.Checks)
	sep := ": "
	for class, n := range s.Classes {
		if n > 0 {
			fmt.Fprintf(b, "%s%d %s", sep, n, prober.Class(class))
			sep = ", "
		}
	}
	if s.Lost > 0 {
		fmt.Fprintf(b, "; loss %g%%", math.Round(1000*s.LossRatio())/10)
	}
	if s.Plan.AllAddresses {
		fmt.Fprintf(b, "; %d/%d addresses open", s.AddressesOpen(), len(s.Addresses))
	}
}

// SYNACK is the landing page's SYN-ACK column: probe_tcp_synack_seconds
// (the median with several checks), 0 when none was open.
func (rec *probeRecord) SYNACK() time.Duration {
	d, _ := rec.synack()
	return d
}
