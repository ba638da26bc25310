package config

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"

	"github.com/seed-5ff58b3a/synack_exporter/internal/quote"
)

// TargetDeniedError says why a module refuses a target. Its message is
// one line, meant for the client that asked for the probe.
type TargetDeniedError struct {
	// Subject is what the entries were compared with: "host:port",
	// "addr:port" or "host:port (addr)".
	Subject string
	// Entry is the denied_targets entry that matched, as written; "" when
	// the target matched no allowed_targets entry.
	Entry string
}

func (e *TargetDeniedError) Error() string {
	if e.Entry == "" {
		return e.Subject + " matches no allowed_targets entry"
	}
	return fmt.Sprintf("%s matches denied_targets entry %s", e.Subject, quote.Short(e.Entry))
}

// RestrictsTargets reports whether the module limits the targets it
// probes. Without allowed_targets or denied_targets every target is
// allowed.
func (m *Module) RestrictsTargets() bool {
	return len(m.AllowedTargets) > 0 || len(m.DeniedTargets) > 0
}

// PermitName refuses a host name covered by a denied_targets name
// pattern. It needs no address, so a caller can ask before resolving and
// a denied name costs no DNS query; PermitTarget repeats the check.
func (m *Module) PermitName(host string, port uint16) error {
	name := normalizeHost(host)
	for _, p := range m.DeniedTargets {
		if p.matchName(name, port) {
			return &TargetDeniedError{Subject: joinHostPort(host, port), Entry: p.text}
		}
	}
	return nil
}

// PermitTarget decides whether the module may probe addr, the address
// chosen for host (the target's host part as given: a name or an IP
// literal). Deny wins: a denied_targets entry that covers the name or the
// address refuses the target. Otherwise an empty allowed_targets allows
// everything, and a non-empty one must cover the name or the address.
func (m *Module) PermitTarget(host string, addr netip.AddrPort) error {
	if err := m.PermitName(host, addr.Port()); err != nil {
		return err
	}
	for _, p := range m.DeniedTargets {
		if p.matchAddr(addr) {
			return &TargetDeniedError{Subject: addr.String(), Entry: p.text}
		}
	}
	if len(m.AllowedTargets) == 0 {
		return nil
	}
	name := normalizeHost(host)
	for _, p := range m.AllowedTargets {
		if p.matchAddr(addr) || p.matchName(name, addr.Port()) {
			return nil
		}
	}
	subject := addr.String()
	if name != "" {
		subject = fmt.Sprintf("%s (%s)", joinHostPort(host, addr.Port()), addr.Addr())
	}
	return &TargetDeniedError{Subject: subject}
}

func joinHostPort(host string, port uint16) string {
	return net.JoinHostPort(host, strconv.Itoa(int(port)))
}
