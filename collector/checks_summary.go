package collector

import (
	"net/netip"
	"time"

	"github.com/seed-5ff58b3a/synack_exporter/prober"
)

// checksSummary is what the several checks of one probe came to, in a
// size that does not grow with their number: the /probe metrics, the log
// line, the landing page and the self-metrics all read it, and the
// history keeps it, so a probe of thousands of checks keeps counts, a
// spread and one failing check alive, not every result.
type checksSummary struct {
	Plan prober.Plan
	DNS  time.Duration
	// Checks is how many checks were made; FirstAddr the address of the
	// first one (or of the failure that prevented any).
	Checks    int
	FirstAddr netip.AddrPort
	// Resolved, Denied and Cut count the addresses the name had, those
	// the target lists refused, and those beyond address_limit.
	Resolved, Denied, Cut int
	// Addresses is how each address checked fared (at most
	// address_limit of them).
	Addresses []prober.AddressSummary
	Classes   [len(prober.Summary{}.Classes)]int
	Lost      int
	SYNACK    prober.Spread
	RTT       time.Duration
	// SYNRetransmits is the sum over the checks; ACKsSent counts those
	// that let an ACK out.
	SYNRetransmits uint32
	ACKsSent       int
	ACKSent        bool
	// Worst is the first check that did not find the port open (the
	// first check when all did): what probe_tcp_errno and
	// probe_tcp_error_class report.
	Worst prober.Result
	// Unmet is the first check that did not end as the module expects,
	// or, when no check was made, what prevented them: the check that
	// explains a failed probe. Its class is the failure's class.
	Unmet prober.Result
	// firstOpen is the first open check, whose answer's details (the
	// peer's options) stand for the target; hasOpen says there is one.
	firstOpen prober.Result
	hasOpen   bool
	// Success is probe_success.
	Success bool
}

// summarizeChecks keeps what s says about a probe, without its results.
func summarizeChecks(s *prober.Summary) *checksSummary {
	c := &checksSummary{
		Plan: s.Plan, DNS: s.DNS, Checks: len(s.Results), FirstAddr: s.Failure.Addr,
		Resolved: s.Resolved, Denied: len(s.Denied), Cut: s.Cut,
		Addresses: s.Addresses, Classes: s.Classes, Lost: s.Lost,
		SYNACK: s.SYNACK, RTT: s.RTT, SYNRetransmits: s.SYNRetransmits,
		ACKsSent: s.ACKsSent, ACKSent: s.ACKSent, Worst: s.Worst,
		Unmet: s.Failure, Success: s.Success,
	}
	c.firstOpen, c.hasOpen = s.FirstOpenResult()
	if len(s.Results) > 0 {
		c.FirstAddr = s.Results[0].Addr
		c.Unmet = s.Worst
		for _, r := range s.Results {
			if !s.Plan.Expect.Met(r.Class) {
				c.Unmet = r
				break
			}
		}
	}
	return c
}

// LossRatio is the share of checks whose first SYN got no answer; 0 when
// none was made.
func (c *checksSummary) LossRatio() float64 {
	if c.Checks == 0 {
		return 0
	}
	return float64(c.Lost) / float64(c.Checks)
}

// FirstOpenResult returns the first open check, if any.
func (c *checksSummary) FirstOpenResult() (prober.Result, bool) {
	return c.firstOpen, c.hasOpen
}

// addressesOpen counts the addresses where at least one check found the
// port open.
func (c *checksSummary) addressesOpen() int {
	n := 0
	for _, a := range c.Addresses {
		if a.Open > 0 {
			n++
		}
	}
	return n
}
