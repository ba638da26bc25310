package prober

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"syscall"
)

// This file owns the choice of addresses: from a target to the
// addresses a probe checks, with the policy asked about each.

// addresses parses and resolves target and asks opts.Policy about the
// name and each address, recording what it found in s. ok is false when
// no check is to be made; s.Failure then says why.
func (c *Checker) addresses(ctx context.Context, target string, opts Options, s *Summary) (addrs []netip.AddrPort, ok bool) {
	host, port, err := ParseTarget(target)
	if err != nil {
		s.Failure = Result{Class: ClassResolve, Errno: syscall.EINVAL, Err: err, Mode: mode}
		return nil, false
	}
	if opts.Policy != nil {
		if err := opts.Policy.PermitName(host, port); err != nil {
			s.Failure = denied(err)
			return nil, false
		}
	}
	ips, dns, err := c.lookup(ctx, host, opts)
	if err == nil {
		ips, err = chooseAddrs(host, ips, opts, s.Plan.AllAddresses)
	}
	s.DNS = dns
	if err != nil {
		s.Failure = failure(ClassResolve, err)
		s.Failure.DNS = s.DNS
		return nil, false
	}
	s.Resolved = len(ips)
	var refusal Result
	for _, ip := range ips {
		addr := netip.AddrPortFrom(ip, port)
		if opts.Policy != nil {
			if err := opts.Policy.PermitTarget(host, addr); err != nil {
				s.Denied = append(s.Denied, addr)
				if refusal.Err == nil {
					refusal = denied(err)
					refusal.Addr, refusal.DNS = addr, s.DNS
				}
				continue
			}
		}
		addrs = append(addrs, addr)
	}
	if len(addrs) == 0 {
		s.Failure = refusal
		return nil, false
	}
	if limit := s.Plan.AddressLimit; limit > 0 && len(addrs) > limit {
		s.Cut = len(addrs) - limit
		addrs = addrs[:limit]
	}
	return addrs, true
}

// chooseAddrs is chooseAddr for a probe that checks one address or,
// with all, every address of the families opts allow, unmapped, sorted
// and without repeats.
func chooseAddrs(host string, ips []netip.Addr, opts Options, all bool) ([]netip.Addr, error) {
	one, err := chooseAddr(host, ips, opts)
	if err != nil || !all {
		return []netip.Addr{one}, err
	}
	var out []netip.Addr
	for _, ip := range ips {
		ip = ip.Unmap()
		if ip.IsValid() && allowsFamily(opts, FamilyOf(ip)) {
			out = append(out, ip)
		}
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return slices.Compact(out), nil
}

// allowsFamily reports whether a probe with opts may check an address
// of family f: a source address allows only its own family, and without
// fallback only the preferred one is allowed.
func allowsFamily(opts Options, f IPProtocol) bool {
	return f == opts.preferred() || opts.IPProtocolFallback && !opts.SourceIPAddress.IsValid()
}

// chooseAddr picks the one address a probe of one address checks: the
// first of the preferred family, or with fallback any.
func chooseAddr(host string, addrs []netip.Addr, opts Options) (netip.Addr, error) {
	want := opts.preferred()
	for _, a := range addrs {
		if FamilyOf(a) == want {
			return a.Unmap(), nil
		}
	}
	if opts.IPProtocolFallback && !opts.SourceIPAddress.IsValid() {
		for _, a := range addrs {
			if a.IsValid() {
				return a.Unmap(), nil
			}
		}
	}
	switch {
	case opts.SourceIPAddress.IsValid():
		return netip.Addr{}, fmt.Errorf("resolving %q: no %s address to match source_ip_address %s", host, want, opts.SourceIPAddress)
	case opts.IPProtocolFallback:
		return netip.Addr{}, fmt.Errorf("resolving %q: no address", host)
	}
	return netip.Addr{}, fmt.Errorf("resolving %q: no %s address and ip_protocol_fallback is off", host, want)
}

// preferred is the family to try first. A source address decides it: a
// socket bound to an IPv4 source cannot reach an IPv6 target.
func (o Options) preferred() IPProtocol {
	if o.SourceIPAddress.IsValid() {
		return FamilyOf(o.SourceIPAddress)
	}
	if o.PreferredIPProtocol == IP4 {
		return IP4
	}
	return IP6
}

// FamilyOf is the family of address a: IPv4 for an IPv4 address, mapped
// into IPv6 or not, IPv6 otherwise. Every choice of family (the address
// to check, the socket to open, probe_ip_protocol) goes by it.
func FamilyOf(a netip.Addr) IPProtocol {
	if a.Unmap().Is4() {
		return IP4
	}
	return IP6
}
