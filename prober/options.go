package prober

import (
	"context"
	"net/netip"
	"time"
)

// IPProtocol names an address family the way blackbox_exporter's
// configuration does.
type IPProtocol string

// The address families a module can prefer.
const (
	IP4 IPProtocol = "ip4"
	IP6 IPProtocol = "ip6"
)

// Options are the per-check settings, usually taken from a module of the
// configuration. The zero value prefers IPv6 without fallback
// (blackbox_exporter's defaults add IPProtocolFallback).
type Options struct {
	// PreferredIPProtocol is the family tried first for host names.
	PreferredIPProtocol IPProtocol
	// IPProtocolFallback allows the other family when the preferred one
	// has no address.
	IPProtocolFallback bool
	// SourceIPAddress, when valid, is bound before connect().
	SourceIPAddress netip.Addr
	// SYNRetries caps the kernel's SYN retransmissions (TCP_SYNCNT,
	// 1-127); 0 keeps the system default. The caller's deadline still
	// ends the check.
	SYNRetries int
	// Mark sets SO_MARK (needs CAP_NET_ADMIN); 0 leaves it unset.
	Mark uint32
	// Interface binds the socket to a device (SO_BINDTODEVICE).
	Interface string
	// TOS sets IP_TOS or IPV6_TCLASS; 0 leaves it unset.
	TOS uint8
	// Policy, when set, may refuse a target before any packet is sent.
	Policy Policy
	// Timeout, when positive, bounds a check (every check of CheckMany)
	// from its start, name resolution included, as well as ctx's
	// deadline does. A single check of an IP address then needs no
	// context deadline, and so no timer unless it has to wait.
	Timeout time.Duration
}

// deadline is when a check that starts now must end by opts.Timeout;
// zero without one.
func (opts Options) deadline(now time.Time) time.Time {
	if opts.Timeout <= 0 {
		return time.Time{}
	}
	return now.Add(opts.Timeout)
}

// bound is ctx, ending by opts.Timeout from now as well: the budget of a
// check that waits on a context (a name's lookup, CheckMany's checks).
// A single check waits on deadline itself instead, and needs no timer.
func (opts Options) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	return boundBy(ctx, opts.deadline(time.Now()))
}

// boundBy is ctx, ending by deadline as well unless that is zero or ctx
// ends first anyway, in which case no timer is made.
func boundBy(ctx context.Context, deadline time.Time) (context.Context, context.CancelFunc) {
	if d, ok := ctx.Deadline(); deadline.IsZero() || ok && !d.After(deadline) {
		return ctx, func() {}
	}
	return context.WithDeadline(ctx, deadline)
}
