package prober

import (
	"math"
	"net/netip"
	"slices"
	"time"
)

// Summary is what the checks of one probe (see CheckMany) found
// together. Its fields are filled by CheckMany; a Summary built by hand
// needs Summarize.
type Summary struct {
	// Plan is the plan the checks followed.
	Plan Plan
	// DNS is the time spent resolving the host name.
	DNS time.Duration
	// Results are the checks made, round by round, each round in the
	// order of Addresses. Rounds that the budget left no time for are
	// missing, so there may be fewer than Plan asked for.
	Results []Result
	// Failure says why no check was made when Results is empty: a bad
	// target, a name that did not resolve, a target the policy denied.
	Failure Result
	// Resolved counts the addresses the name had, of the families the
	// options allow; Denied are those the policy refused, and Cut those
	// beyond Plan.AddressLimit.
	Resolved int
	Denied   []netip.AddrPort
	Cut      int

	// The rest is computed from Results by Summarize.

	// Addresses are the addresses checked, in the order checked.
	Addresses []AddressSummary
	// Classes counts the results of each class.
	Classes [len(classNames)]int
	// Lost counts the checks whose first SYN got no answer: those that
	// timed out, and those answered only after the kernel re-sent the SYN
	// unless the answer was shown to be the first SYN's (see lost).
	Lost int
	// SYNACK is the spread of SYNACK over the open results; RTT is the
	// median of their kernel RTT. Both are zero when none is open.
	SYNACK Spread
	RTT    time.Duration
	// SYNRetransmits is the sum over the results; ACKsSent sums their
	// ACKs, and ACKSent is true when any check let one out.
	SYNRetransmits uint32
	ACKsSent       int
	ACKSent        bool
	// Checks counts Results; FirstAddr is the address of the first, or
	// of Failure when there is none.
	Checks    int
	FirstAddr netip.AddrPort
	// Worst is the first result that this host could not make (class
	// local), else the first that is not open, in the order of Results;
	// or the first result when all are open, or Failure.
	Worst Result
	// Unmet is the first result that did not end as the Plan expects, or
	// Worst when all did, or Failure: the check that explains
	// a failed probe. Its class is what happened (open, for a port that
	// answered but must not).
	Unmet Result
	// FirstOpen is the first open result, the answer whose details (the
	// peer's options, say) stand for the target; HasOpen says whether
	// there is one.
	FirstOpen Result
	HasOpen   bool
	// Success is whether the checks met Plan's expectation.
	Success bool
}

// WithoutResults is s without its Results, whose size grows with the
// checks: every field computed from them stays, so a probe's summary can
// be kept (for a landing page, say) at a size bounded by its addresses.
func (s Summary) WithoutResults() Summary {
	s.Results = nil
	return s
}

// Spread describes a set of durations.
type Spread struct {
	// Median is the middle value, or the mean of the two middle ones.
	Median time.Duration
	Min    time.Duration
	Max    time.Duration
	// Stddev is the population standard deviation.
	Stddev time.Duration
}

// AddressSummary is how the checks of one address went.
type AddressSummary struct {
	Addr netip.AddrPort
	// Checks counts its checks made, Open those that found the port open.
	Checks int
	Open   int
	// Success is whether its checks alone met the Plan's expectation.
	Success bool
}

// LossRatio is Lost over the checks made; 0 when none was.
func (s *Summary) LossRatio() float64 {
	if s.Checks == 0 {
		return 0
	}
	return float64(s.Lost) / float64(s.Checks)
}

// AddressesOpen counts the addresses where at least one check found the
// port open.
func (s *Summary) AddressesOpen() int {
	n := 0
	for _, a := range s.Addresses {
		if a.Open > 0 {
			n++
		}
	}
	return n
}

// FirstOpenResult returns the first open result, if any.
func (s *Summary) FirstOpenResult() (Result, bool) { return s.FirstOpen, s.HasOpen }

// Summarize computes the fields that follow from Results, Failure and
// Plan.
func (s *Summary) Summarize() { s.summarize() }

func (s *Summary) summarize() {
	s.Classes = [len(classNames)]int{}
	s.Lost, s.SYNRetransmits, s.ACKsSent = 0, 0, 0
	s.FirstOpen, s.HasOpen = Result{}, false
	s.Checks, s.FirstAddr = len(s.Results), s.Failure.Addr
	s.Worst, s.Unmet = s.Failure, s.Failure
	var synacks, rtts []time.Duration
	for _, r := range s.Results {
		s.Classes[r.Class]++
		if lost(r) {
			s.Lost++
		}
		s.SYNRetransmits += r.SYNRetransmits
		s.ACKsSent += int(r.ACKs)
		if r.Success() {
			synacks = append(synacks, r.SYNACK)
			rtts = append(rtts, r.RTT)
			if !s.HasOpen {
				s.FirstOpen, s.HasOpen = r, true
			}
		}
	}
	s.ACKSent = s.ACKsSent > 0
	s.SYNACK = spread(synacks)
	s.RTT = spread(rtts).Median
	s.Addresses = s.addressSummaries()
	s.Success = s.met(s.Results)
	if len(s.Results) > 0 {
		// A check this host could not make stands for the probe before
		// any answer: the probe was not what the module asked for.
		i := slices.IndexFunc(s.Results, func(r Result) bool { return r.Class == ClassLocal })
		if i < 0 {
			i = slices.IndexFunc(s.Results, func(r Result) bool { return !r.Success() })
		}
		s.Worst = s.Results[max(i, 0)]
		s.FirstAddr = s.Results[0].Addr
		s.Unmet = s.Worst
		if i = slices.IndexFunc(s.Results, func(r Result) bool { return !s.Plan.Expect.Met(r.Class) }); i >= 0 {
			s.Unmet = s.Results[i]
		}
	}
}

// lost reports a check whose first SYN went unanswered: it timed out, or
// the answer came after the kernel re-sent the SYN and was not shown to
// answer the first one. A refusal or an ICMP error is an answer, not a
// loss, unless it came after a retransmission.
func lost(r Result) bool {
	if r.Class == ClassTimeout {
		return true
	}
	return r.SYNRetransmits > 0 && !answeredFirstSYN(r)
}

// firstSYNRetransmit is when Linux first re-sends an unanswered SYN: its
// initial RTO, TCP_TIMEOUT_INIT (RFC 6298's 1 s), unless a BPF program
// changes it.
const firstSYNRetransmit = time.Second

// answeredFirstSYN reports whether an open check whose SYN was re-sent
// got its SYN-ACK for the first SYN all the same: a path slower than the
// first retransmission, where nothing was lost.
//
// Karn's rule bars an RTT sample from the send time of a re-sent SYN, so
// the kernel's sample (tcpi_rtt) then comes from the timestamp option
// alone: now less the TSval that the SYN-ACK echoes (tcp_ack_update_rtt),
// the time since the SYN it answered left. SYNACK less RTT is therefore
// when that SYN left: about 0 for the first SYN, at least
// firstSYNRetransmit for any retransmission. Half of it is the margin
// for the exporter seeing the answer late. Without timestamps there is no
// sample (RTT 0) and the two cannot be told apart: the check counts as
// lost.
func answeredFirstSYN(r Result) bool {
	return r.Class == ClassOpen && r.RTT > 0 && r.SYNACK-r.RTT < firstSYNRetransmit/2
}

// addressSummaries groups Results by address, in the order the
// addresses were first checked.
func (s *Summary) addressSummaries() []AddressSummary {
	var out []AddressSummary
	byAddr := make(map[netip.AddrPort][]Result)
	for _, r := range s.Results {
		if _, seen := byAddr[r.Addr]; !seen {
			out = append(out, AddressSummary{Addr: r.Addr})
		}
		byAddr[r.Addr] = append(byAddr[r.Addr], r)
	}
	for i := range out {
		a := &out[i]
		rs := byAddr[a.Addr]
		a.Checks = len(rs)
		for _, r := range rs {
			if r.Success() {
				a.Open++
			}
		}
		a.Success = s.met(rs)
	}
	return out
}

// met decides whether results meet the Plan's expectation: with
// Expect open, at least MinOpenRatio of them (or any one) open;
// otherwise every one of them as expected. No result meets nothing, and
// neither do results of which this host could not make one (class
// local: out of file descriptors, buffers or ports), whatever the rest
// found: the probe is not the one the module asks for.
func (s *Summary) met(results []Result) bool {
	if len(results) == 0 || slices.ContainsFunc(results, func(r Result) bool { return r.Class == ClassLocal }) {
		return false
	}
	met := 0
	for _, r := range results {
		if s.Plan.Expect.Met(r.Class) {
			met++
		}
	}
	switch {
	case s.Plan.Expect != ExpectOpen:
		return met == len(results)
	case s.Plan.MinOpenRatio <= 0:
		return met > 0
	}
	// A small tolerance, so that 0.7 of 10 asks for 7, not for 7.000001.
	return float64(met) >= s.Plan.MinOpenRatio*float64(len(results))-1e-9
}

// spread computes the Spread of ds, reordering ds.
func spread(ds []time.Duration) Spread {
	if len(ds) == 0 {
		return Spread{}
	}
	slices.Sort(ds)
	n := len(ds)
	median := ds[n/2]
	if n%2 == 0 {
		median = ds[n/2-1] + (ds[n/2]-ds[n/2-1])/2
	}
	var sum float64
	for _, d := range ds {
		sum += float64(d)
	}
	mean := sum / float64(n)
	var sq float64
	for _, d := range ds {
		sq += (float64(d) - mean) * (float64(d) - mean)
	}
	return Spread{
		Median: median,
		Min:    ds[0],
		Max:    ds[n-1],
		Stddev: time.Duration(math.Round(math.Sqrt(sq / float64(n)))),
	}
}
