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
		network = opts.preferred().network()
	}
	// CheckMany's ctx already ends by opts.Timeout: no second timer.
	ctx, cancel := opts.bound(ctx)
	defer cancel()
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

// network is p's network name for a resolver's LookupNetIP.
func (p IPProtocol) network() string {
	if p == IP4 {
		return "ip4"
	}
	return "ip6"
}
