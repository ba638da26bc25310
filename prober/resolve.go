package prober

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"time"
)

// Resolve picks the address to probe for host. Literals (with IPv6 zones)
// skip DNS but still obey the family choice, as blackbox_exporter does.
func (c *Checker) Resolve(ctx context.Context, host string, opts Options) (netip.Addr, error) {
	addrs, _, err := c.lookup(ctx, host, opts)
	if err != nil {
		return netip.Addr{}, err
	}
	return chooseAddr(host, addrs, opts)
}

// lookup returns host's addresses and the time DNS took, asking DNS only
// for the family opts allows when it allows one. A literal is its own
// only address, found in no time: probe_dns_lookup_time_seconds is 0 for
// it, as for blackbox_exporter. The unspecified address is never among
// the addresses (see ErrUnspecified).
func (c *Checker) lookup(ctx context.Context, host string, opts Options) ([]netip.Addr, time.Duration, error) {
	if ip, err := netip.ParseAddr(host); err == nil {
		if err := refuseUnspecified(ip); err != nil {
			return nil, 0, err
		}
		return []netip.Addr{ip}, 0, nil
	}
	network := "ip"
	if !opts.IPProtocolFallback || opts.SourceIPAddress.IsValid() {
		network = familyNetwork(opts.preferred())
	}
	// CheckMany's ctx already ends by opts.Timeout: no second timer.
	if d, ok := ctx.Deadline(); opts.Timeout > 0 && (!ok || time.Until(d) > opts.Timeout) {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, opts.Timeout)
		defer cancel()
	}
	start := time.Now()
	addrs, err := c.resolver.LookupNetIP(ctx, network, host)
	dns := time.Since(start)
	if err != nil {
		var dnsErr *net.DNSError
		switch {
		case ctx.Err() != nil:
			return nil, dns, fmt.Errorf("resolving %q: %w (%w)", host, syscall.ETIMEDOUT, err)
		case network != "ip" && errors.As(err, &dnsErr) && dnsErr.IsNotFound:
			// Only one family was asked for; say which, since the name
			// may well have addresses of the other.
			return nil, dns, fmt.Errorf("resolving %q: no %s address: %w", host, opts.preferred(), err)
		}
		return nil, dns, fmt.Errorf("resolving %q: %w", host, err)
	}
	addrs, err = specified(host, addrs)
	return addrs, dns, err
}

// specified drops the unspecified addresses from a name's, and fails
// when none is left.
func specified(host string, addrs []netip.Addr) ([]netip.Addr, error) {
	kept := addrs[:0:0]
	var dropped netip.Addr
	for _, a := range addrs {
		if refuseUnspecified(a) != nil {
			dropped = a
			continue
		}
		kept = append(kept, a)
	}
	if len(kept) == 0 && dropped.IsValid() {
		return nil, fmt.Errorf("resolving %q: %w", host, refuseUnspecified(dropped))
	}
	return kept, nil
}

func chooseAddr(host string, addrs []netip.Addr, opts Options) (netip.Addr, error) {
	want := opts.preferred()
	for _, a := range addrs {
		if familyOf(a) == want {
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
		return familyOf(o.SourceIPAddress)
	}
	if o.PreferredIPProtocol == IP4 {
		return IP4
	}
	return IP6
}

func familyOf(a netip.Addr) IPProtocol {
	if a.Unmap().Is4() {
		return IP4
	}
	return IP6
}

func familyNetwork(p IPProtocol) string {
	if p == IP4 {
		return "ip4"
	}
	return "ip6"
}
