package collector

import (
	"net/netip"
	"time"

	"github.com/seed-5ff58b3a/synack_exporter/prober"
)

// probeView is what a probe's answer says, taken once from its record:
// from its one check, or summed up over several (rec.Summary). Each
// family of probeFamilies reads its values from here.
type probeView struct {
	rec *probeRecord
	// many is the summary of a probe of several checks, nil for one.
	many    *prober.Summary
	addr    netip.AddrPort // the address probed (the first checked)
	dns     time.Duration
	success bool
	ackSent bool
	// worst is the check that stands for a failure: the only check, or
	// the first that did not find the port open.
	worst prober.Result
	// peer is what the (first) SYN-ACK said; open is whether one came.
	peer        prober.Peer
	open        bool
	synack, rtt time.Duration
	retransmits uint32
}

// view takes the values of rec's answer.
func (rec *probeRecord) view() probeView {
	if s := rec.Summary; s != nil {
		v := probeView{
			rec: rec, many: s, dns: s.DNS, success: s.Success, ackSent: s.ACKSent, worst: s.Worst,
			open:   len(s.Results) > 0 && s.Classes[prober.ClassOpen] > 0,
			synack: s.SYNACK.Median, rtt: s.RTT, retransmits: s.SYNRetransmits,
		}
		v.addr = s.Worst.Addr
		if len(s.Results) > 0 {
			v.addr = s.Results[0].Addr
		}
		first, _ := s.FirstOpenResult()
		v.peer = first.Peer
		return v
	}
	r := rec.Result
	return probeView{
		rec: rec, addr: r.Addr, dns: r.DNS, success: rec.Succeeded(), ackSent: r.ACKSent, worst: r,
		peer: r.Peer, open: r.Success(), synack: r.SYNACK, rtt: r.RTT, retransmits: r.SYNRetransmits,
	}
}

// addresses reports whether the probe checked every address of a name.
func (v probeView) addresses() bool { return v.many != nil && v.many.Plan.AllAddresses }

// checked reports whether the probe made several checks and any was made.
func (v probeView) checked() bool { return v.many != nil && len(v.many.Results) > 0 }

// addressesOpen counts the addresses where a check found the port open.
func (v probeView) addressesOpen() int {
	n := 0
	for _, a := range v.many.Addresses {
		if a.Open > 0 {
			n++
		}
	}
	return n
}
