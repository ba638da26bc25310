package prober

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// maxHostLen is the longest host part accepted: a DNS name is at most 253
// characters; an IPv6 literal with a zone fits well within that too.
const maxHostLen = 253

// maxTargetLen is the longest host:port: the longest host in brackets, a
// colon and five digits. Longer input is refused before any message
// quotes it, so that no error repeats a kilobyte of it.
const maxTargetLen = maxHostLen + len("[]:65535")

// ParseTarget splits "host:port" (IPv6 as "[addr]:port", zone allowed) and
// checks both halves, so that a bad target is rejected before any packet or
// DNS query. The port must be decimal 1-65535 without sign or leading zero.
func ParseTarget(target string) (host string, port uint16, err error) {
	if len(target) > maxTargetLen {
		return "", 0, fmt.Errorf("target is %d bytes long; no host:port is longer than %d", len(target), maxTargetLen)
	}
	host, portStr, err := net.SplitHostPort(target)
	if err != nil {
		return "", 0, fmt.Errorf("target %q is not host:port: %w", target, errUnwrapAddr(err))
	}
	if port, err = parsePort(portStr); err != nil {
		return "", 0, fmt.Errorf("target %q: %w", target, err)
	}
	if err := checkHost(host, strings.HasPrefix(target, "[")); err != nil {
		return "", 0, fmt.Errorf("target %q: %w", target, err)
	}
	return host, port, nil
}

func errUnwrapAddr(err error) error {
	var ae *net.AddrError
	if errors.As(err, &ae) {
		return errors.New(ae.Err)
	}
	return err
}

func parsePort(s string) (uint16, error) {
	if s == "" {
		return 0, errors.New("missing port")
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return 0, fmt.Errorf("port %q is not a decimal number", s)
		}
	}
	if len(s) > 1 && s[0] == '0' {
		return 0, fmt.Errorf("port %q has a leading zero", s)
	}
	n, err := strconv.ParseUint(s, 10, 16)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("port %q is out of range 1-65535", s)
	}
	return uint16(n), nil
}

func checkHost(host string, bracketed bool) error {
	switch {
	case host == "":
		return errors.New("missing host")
	case len(host) > maxHostLen:
		return fmt.Errorf("host is longer than %d characters", maxHostLen)
	}
	if bracketed {
		a, err := netip.ParseAddr(host)
		if err != nil || !a.Is6() {
			return fmt.Errorf("brackets are only for IPv6 addresses, not %q", host)
		}
		if err := checkZone(a.Zone()); err != nil {
			return err
		}
		return refuseUnspecified(a)
	}
	if strings.Contains(host, ":") {
		return errors.New("IPv6 addresses need brackets, as in [::1]:22")
	}
	if a, err := netip.ParseAddr(host); err == nil {
		return refuseUnspecified(a)
	}
	// Names go to DNS as ASCII; an internationalised name must be given
	// in its punycode (xn--) form.
	for _, r := range host {
		if r <= ' ' || r >= 0x7f || strings.ContainsRune(`/\?#@%"'<>`, r) {
			return fmt.Errorf("host %q contains a character not allowed in a host name (%q)", host, r)
		}
	}
	return nil
}

// ErrUnspecified is the reason an unspecified address (0.0.0.0, ::,
// ::ffff:0.0.0.0) is never a target, given literally or by a name: Linux
// connects a socket aimed at it to this host itself, so a check would
// reach the exporter's own host past any list of denied targets.
var ErrUnspecified = errors.New("the unspecified address means this host itself and is never a target")

func refuseUnspecified(a netip.Addr) error {
	if a.WithZone("").Unmap().IsUnspecified() {
		return fmt.Errorf("%v: %w", a, ErrUnspecified)
	}
	return nil
}

// checkZone accepts what can name an interface (at most IFNAMSIZ-1 = 15
// characters, no space or slash) or an interface index.
func checkZone(zone string) error {
	if len(zone) > 15 {
		return fmt.Errorf("zone %q is longer than an interface name can be", zone)
	}
	for _, r := range zone {
		if !(r == '-' || r == '_' || r == '.' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return fmt.Errorf("zone %q contains a character not allowed in an interface name (%q)", zone, r)
		}
	}
	return nil
}
