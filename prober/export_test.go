package prober

import (
	"context"
	"net/netip"
	"time"
)

// Ways into the engine that only tests need.

// Begin resolves target and begins a check of the address chosen, as
// BeginAddr does for an address; done runs on a goroutine of its own, so
// a test's callback may block.
func (c *Checker) Begin(ctx context.Context, target string, opts Options, done func(Result)) (r Result, ok bool) {
	addr, dns, r, ok := c.address(ctx, target, opts)
	if !ok {
		return r, true
	}
	r, ok = c.BeginAddr(ctx, addr, opts, func(r Result) {
		r.DNS = dns
		go done(r)
	})
	r.DNS = dns
	return r, ok
}

// CheckAddr checks one address without resolving anything, waiting as
// Check does.
func (c *Checker) CheckAddr(ctx context.Context, addr netip.AddrPort, opts Options) Result {
	return c.eng.check(ctx, opts.deadline(time.Now()), addr, opts)
}

// Resolve picks the address to probe for host, as a single check does.
func (c *Checker) Resolve(ctx context.Context, host string, opts Options) (netip.Addr, error) {
	addrs, _, err := c.lookup(ctx, host, opts)
	if err != nil {
		return netip.Addr{}, err
	}
	return chooseAddr(host, addrs, opts)
}

// DefaultOptions are blackbox_exporter's defaults: prefer IPv6, fall
// back to IPv4.
func DefaultOptions() Options {
	return Options{PreferredIPProtocol: IP6, IPProtocolFallback: true}
}
