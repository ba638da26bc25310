package config

import (
	"fmt"
	"math"
	"net/netip"
	"strings"

	"github.com/seed-5ff58b3a/synack_exporter/internal/quote"
	"github.com/seed-5ff58b3a/synack_exporter/prober"
)

// Limits of the socket options a module sets, checked at load time so that
// a bad value fails the reload instead of every probe.
const (
	// maxSYNRetries is what the kernel accepts for TCP_SYNCNT
	// (MAX_TCP_SYNCNT).
	maxSYNRetries = 127
	// maxMark is SO_MARK's range: the kernel's mark is a u32.
	maxMark = math.MaxUint32
	// maxInterfaceLen is IFNAMSIZ (16) less the terminating NUL; the kernel
	// answers SO_BINDTODEVICE with a longer name by EINVAL.
	maxInterfaceLen = 15
	// maxTOS is the size of the IP TOS / IPv6 traffic class byte.
	maxTOS = 255
)

// validate checks every field, in declaration order, and returns the
// first problem as an *Error naming the field.
func (m *Module) validate() error {
	if errs := m.validateGiven(func(string) bool { return false }); len(errs) > 0 {
		return errs[0]
	}
	return nil
}

// validateGiven checks a module decoded from YAML and returns every
// problem, each naming its field: given says which fields were written,
// so that a zero written out (syn_count: 0) is checked rather than taken
// for the default.
func (m *Module) validateGiven(given func(field string) bool) []*Error {
	var errs []*Error
	check := func(bad bool, field, format string, args ...any) {
		if bad {
			errs = append(errs, invalid(field, format, args...))
		}
	}
	check(m.Timeout <= 0, "timeout", "%s must be greater than zero", m.Timeout)
	check(m.PreferredIPProtocol != string(prober.IP4) && m.PreferredIPProtocol != string(prober.IP6),
		"preferred_ip_protocol", "%s must be ip4 or ip6", quote.Short(m.PreferredIPProtocol))
	if err := m.validateSource(); err != nil {
		errs = append(errs, err)
	}
	check(m.SYNRetries < 0 || m.SYNRetries > maxSYNRetries, "syn_retries", "%d is out of range 0-%d", m.SYNRetries, maxSYNRetries)
	check(m.Mark < 0 || m.Mark > maxMark, "mark", "%d is out of range 0-%d", m.Mark, int64(maxMark))
	switch {
	case len(m.Interface) > maxInterfaceLen:
		errs = append(errs, invalid("interface", "%s is longer than %d characters", quote.Short(m.Interface), maxInterfaceLen))
	case m.Interface != "" && !validInterfaceName(m.Interface):
		errs = append(errs, invalid("interface", "%s is not a valid interface name", quote.Short(m.Interface)))
	}
	check(m.TOS < 0 || m.TOS > maxTOS, "tos", "%d is out of range 0-%d", m.TOS, maxTOS)
	if len(errs) > 0 {
		// The checks of several checks per probe weigh syn_count against
		// timeout, which must be right first.
		return errs
	}
	if err := m.validateChecks(given); err != nil {
		errs = append(errs, err)
	}
	return errs
}

// validateSource checks source_ip_address, alone and against the address
// family the module allows.
func (m *Module) validateSource() *Error {
	if m.SourceIPAddress == "" {
		return nil
	}
	const field = "source_ip_address"
	shown := quote.Short(m.SourceIPAddress)
	a, err := netip.ParseAddr(m.SourceIPAddress)
	switch {
	case err != nil:
		e := invalid(field, "%s is not an IP address", shown)
		e.Err = err
		return e
	case a.Zone() != "":
		// The prober binds the address as given; picking the device is
		// interface's job, and one way to name it is enough.
		return invalid(field, "%s has a zone; set interface instead", shown)
	case a.Is4In6():
		// An IPv4 target gets an AF_INET socket, which cannot bind the
		// mapped form.
		return invalid(field, "%s is IPv4-mapped; write %s", shown, a.Unmap())
	case a.IsUnspecified():
		return invalid(field, "%s is unspecified; leave the field out to let the kernel choose", shown)
	case a.IsMulticast():
		return invalid(field, "%s is a multicast address", shown)
	}
	// With fallback off the module only ever opens sockets of the
	// preferred family, which cannot bind an address of the other one:
	// every probe would fail with class "local". With fallback on, targets
	// of the address's family still work, so that is allowed.
	family := prober.IP6
	if a.Is4() {
		family = prober.IP4
	}
	if !m.IPProtocolFallback && string(family) != m.PreferredIPProtocol {
		return invalid(field, "%s is %s, but preferred_ip_protocol is %s and ip_protocol_fallback is false",
			a, familyName(family), m.PreferredIPProtocol)
	}
	return nil
}

func familyName(p prober.IPProtocol) string {
	if p == prober.IP4 {
		return "IPv4"
	}
	return "IPv6"
}

// validInterfaceName follows the kernel's dev_valid_name (no "/", ":" or
// white space, not "." or ".."), and also refuses control characters,
// which no sane device name has.
func validInterfaceName(name string) bool {
	if name == "." || name == ".." {
		return false
	}
	return !strings.ContainsFunc(name, func(r rune) bool {
		return r == '/' || r == ':' || r <= ' ' || r == 0x7f
	})
}

// invalid reports a field's bad value; the caller that knows the line
// fills it in.
func invalid(field, format string, args ...any) *Error {
	return &Error{Field: field, Msg: fmt.Sprintf(format, args...)}
}
