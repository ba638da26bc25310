package config

import (
	"time"

	"github.com/seed-5ff58b3a/synack_exporter/internal/quote"
	"github.com/seed-5ff58b3a/synack_exporter/prober"
)

// Limits of the fields for several checks per probe.
const (
	// maxSYNCount bounds the SYNs one probe sends to one address: enough
	// for a loss ratio in percent, few enough that no target mistakes a
	// probe for a flood.
	maxSYNCount = 100
	// maxAddressLimit bounds the per-address series of one probe.
	maxAddressLimit = 256
	// MaxChecks bounds the checks of one probe (syn_count times
	// address_limit with addresses: all), and so its sockets and SYNs:
	// one short request must not make thousands.
	MaxChecks = 1000
)

// validateChecks checks the fields for several checks per probe; given
// says which were written, so that a zero written out is checked.
func (m *Module) validateChecks(given func(field string) bool) *Error {
	set := func(field string, nonZero bool) bool { return nonZero || given(field) }
	switch {
	case set("syn_count", m.SYNCount != 0) && (m.SYNCount < 1 || m.SYNCount > maxSYNCount):
		return invalid("syn_count", "%d is out of range 1-%d", m.SYNCount, maxSYNCount)
	case set("min_open_ratio", m.MinOpenRatio != 0) && !(m.MinOpenRatio > 0 && m.MinOpenRatio <= 1):
		return invalid("min_open_ratio", "%g is out of range: want more than 0 and at most 1", m.MinOpenRatio)
	case set("addresses", m.Addresses != "") && m.Addresses != AddressesOne && m.Addresses != AddressesAll:
		return invalid("addresses", "%s must be one or all", quote.Short(m.Addresses))
	case set("address_limit", m.AddressLimit != 0) && (m.AddressLimit < 1 || m.AddressLimit > maxAddressLimit):
		return invalid("address_limit", "%d is out of range 1-%d", m.AddressLimit, maxAddressLimit)
	}
	if set("expect", m.Expect != "") {
		if _, err := prober.ParseExpect(m.Expect); err != nil {
			return invalid("expect", "%s must be open, closed, refused, timeout, unreachable or prohibited", quote.Short(m.Expect))
		}
	}
	if m.MinOpenRatio != 0 && m.Expect != "" && m.Expect != prober.ExpectOpen.String() {
		return invalid("min_open_ratio", "applies only with expect: open (with expect: %s every check must meet it)", m.Expect)
	}
	if checks := m.Checks(); checks > MaxChecks {
		field := "syn_count"
		if !set("syn_count", m.SYNCount != 0) {
			field = "address_limit"
		}
		p := m.Plan()
		return invalid(field, "syn_count %d times address_limit %d is %d checks per probe, more than %d; lower one of them",
			p.SYNCount, p.AddressLimit, checks, MaxChecks)
	}
	return m.validateSpread()
}

// validateSpread checks that the last of syn_count SYNs leaves at least
// half of timeout for its answer: the prober does not start a round of
// SYNs later than that (see prober.CheckMany).
func (m *Module) validateSpread() *Error {
	plan := m.Plan()
	spread := time.Duration(plan.SYNCount-1) * plan.SYNInterval
	half := time.Duration(m.Timeout) / 2
	if spread <= half {
		return nil
	}
	// Blame the field that was written: the default interval is nobody's
	// mistake.
	field := "syn_interval"
	if m.SYNInterval == nil {
		field = "syn_count"
	}
	return invalid(field, "%d SYNs %s apart take %s, %s more than half of timeout %s, which the last one needs for its answer; lower syn_interval to at most %s",
		plan.SYNCount, plan.SYNInterval, spread, spread-half, time.Duration(m.Timeout), (half / time.Duration(plan.SYNCount-1)).Truncate(time.Millisecond))
}
