package prober

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"syscall"
	"time"
)

// ErrClosed is returned by checks made after, or interrupted by, Close.
var ErrClosed = errors.New("prober: checker closed")

// Resolver looks up host names; *net.Resolver satisfies it. Tests inject
// one that talks to a DNS server they control.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// engine is the platform's way of making one check of a resolved address.
type engine interface {
	// begin starts a check and returns its result with ok true when it
	// is known at once; otherwise done gets it later, exactly once. done
	// may be called by the engine's own loop and must not block.
	begin(ctx context.Context, addr netip.AddrPort, opts Options, done func(Result)) (r Result, ok bool)
	// check makes a check and waits for its result in the caller's
	// goroutine, until ctx ends or deadline (unless zero) passes; it
	// refuses what refuse refuses, and sets the result's Addr. (Check
	// calls it directly: a check waits at the bottom of this call chain,
	// and every frame above counts against the goroutine's stack.)
	check(ctx context.Context, deadline time.Time, addr netip.AddrPort, opts Options) Result
	close() error
	// exactACKs reports whether Result.ACKs counts every ACK, or
	// estimates the delayed one from the time (see reset_linux.go).
	exactACKs() bool
}

// Checker makes checks. It is safe for concurrent use; one per process is
// enough.
type Checker struct {
	resolver Resolver
	eng      engine
}

// CheckerOption configures a Checker.
type CheckerOption func(*Checker)

// WithResolver replaces net.DefaultResolver.
func WithResolver(r Resolver) CheckerOption {
	return func(c *Checker) { c.resolver = r }
}

// NewChecker starts a Checker. Close it to stop its loop.
func NewChecker(opts ...CheckerOption) (*Checker, error) {
	c := &Checker{resolver: net.DefaultResolver}
	for _, o := range opts {
		o(c)
	}
	eng, err := newEngine()
	if err != nil {
		return nil, err
	}
	c.eng = eng
	return c, nil
}

// ExactACKs reports whether Result.ACKs is exact: on Linux, when the
// process has CAP_NET_ADMIN, each check's RST goes out with the kernel's
// SOCK_DESTROY, after which its counters still hold every ACK it sent.
// Otherwise an ACK that leaves between the last look at the socket and
// its reset is estimated from the time.
func (c *Checker) ExactACKs() bool { return c.eng.exactACKs() }

// Close stops the loop. Checks in flight end with ErrClosed, class local.
func (c *Checker) Close() error { return c.eng.close() }

// Check resolves target ("host:port") within ctx and checks the address
// chosen by opts. Resolution time counts against ctx's deadline and
// opts.Timeout.
func (c *Checker) Check(ctx context.Context, target string, opts Options) Result {
	deadline := opts.deadline(time.Now())
	addr, dns, r, ok := c.address(ctx, target, opts)
	if ok {
		r = c.eng.check(ctx, deadline, addr, opts)
	}
	r.DNS = dns
	return r
}

// BeginAddr starts a check of an address that needs no resolving: ok
// true means r is the result and done is never called; ok false means
// done gets the result once, later. done runs on the Checker's own loop
// (or its sweeper) and must not block: it records the result or hands it
// on. One goroutine can start many checks this way through one Checker,
// with no goroutine per check.
func (c *Checker) BeginAddr(ctx context.Context, addr netip.AddrPort, opts Options, done func(Result)) (r Result, ok bool) {
	if r, refused := refuse(ctx, addr); refused {
		return r, true
	}
	r, ok = c.eng.begin(ctx, addr, opts, func(r Result) {
		r.Addr = addr
		done(r)
	})
	r.Addr = addr
	return r, ok
}

// Addresses resolves target as CheckMany does for plan (one address, or
// with plan.AllAddresses every address up to plan.AddressLimit) and asks
// opts.Policy about the name and each address. When no address is left,
// addrs is empty and failure says why (class resolve, or local with
// ErrDenied for a policy's refusal). dns is the time the lookup took.
func (c *Checker) Addresses(ctx context.Context, target string, opts Options, plan Plan) (addrs []netip.AddrPort, dns time.Duration, failure Result) {
	s := Summary{Plan: plan}
	addrs, _ = c.addresses(ctx, target, opts, &s)
	return addrs, s.DNS, s.Failure
}

// address parses and resolves target, asking opts.Policy about the name
// and the address: addresses for a probe of one check. ok is false when
// the check ends there, with result r.
func (c *Checker) address(ctx context.Context, target string, opts Options) (addr netip.AddrPort, dns time.Duration, r Result, ok bool) {
	var s Summary
	addrs, ok := c.addresses(ctx, target, opts, &s)
	if !ok {
		return addr, s.DNS, s.Failure, false
	}
	return addrs[0], s.DNS, Result{}, true
}

// refuse is the result of a check of addr that is not to be made: the
// unspecified address, or a context that has ended.
func refuse(ctx context.Context, addr netip.AddrPort) (Result, bool) {
	if err := refuseUnspecified(addr.Addr()); err != nil {
		return Result{Class: ClassResolve, Errno: syscall.EINVAL, Err: err, Mode: mode, Addr: addr}, true
	}
	if err := ctx.Err(); err != nil {
		r := contextFailure(err)
		r.Addr = addr
		return r, true
	}
	return Result{}, false
}
