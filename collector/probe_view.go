package collector

import (
	"net/netip"
	"time"

	"github.com/seed-5ff58b3a/synack_exporter/prober"
)

// probeView is what a probe's answer says, read once from its record
// through the readers every surface shares (outcome.go). Each family of
// probeFamilies takes its values from here.
type probeView struct {
	rec *probeRecord
	// many is the summary of a probe of several checks, nil for one.
	many        *prober.Summary
	addr        netip.AddrPort
	dns         time.Duration
	success     bool
	ackSent     bool
	worst       prober.Result
	peer        prober.Peer
	open        bool
	synack, rtt time.Duration
	retransmits uint32
}

// view reads rec's answer.
func (rec *probeRecord) view() probeView {
	v := probeView{
		rec: rec, many: rec.Summary, addr: rec.addr(), dns: rec.dns(), success: rec.Succeeded(),
		rtt: rec.rtt(), retransmits: rec.synRetransmits(),
	}
	v.synack, v.open = rec.synack()
	if s := rec.Summary; s != nil {
		v.ackSent, v.worst = s.ACKSent, s.Worst
		first, _ := s.FirstOpenResult()
		v.peer = first.Peer
		return v
	}
	v.ackSent, v.worst, v.peer = rec.Result.ACKSent(), rec.Result, rec.Result.Peer
	return v
}

// addresses reports whether the probe checked every address of a name.
func (v probeView) addresses() bool { return v.many != nil && v.many.Plan.AllAddresses }

// checked reports whether the probe made several checks and any was made.
func (v probeView) checked() bool { return v.many != nil && v.many.Checks > 0 }
