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
	check(ctx context.Context, addr netip.AddrPort, opts Options) Result
	close() error
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

// Close stops the loop. Checks in flight end with ErrClosed, class local.
func (c *Checker) Close() error { return c.eng.close() }

// Check resolves target ("host:port") within ctx and checks the address
// chosen by opts. Resolution time counts against ctx's deadline.
func (c *Checker) Check(ctx context.Context, target string, opts Options) Result {
	host, port, err := ParseTarget(target)
	if err != nil {
		return Result{Class: ClassResolve, Errno: syscall.EINVAL, Err: err, Mode: mode}
	}
	if opts.Policy != nil {
		if err := opts.Policy.PermitName(host, port); err != nil {
			return denied(err)
		}
	}
	start := time.Now()
	ip, err := c.Resolve(ctx, host, opts)
	dns := time.Since(start)
	if err != nil {
		r := failure(ClassResolve, err)
		r.DNS = dns
		return r
	}
	addr := netip.AddrPortFrom(ip, port)
	var r Result
	if opts.Policy != nil {
		err = opts.Policy.PermitTarget(host, addr)
	}
	if err != nil {
		r = denied(err)
		r.Addr = addr
	} else {
		r = c.CheckAddr(ctx, addr, opts)
	}
	r.DNS = dns
	return r
}

// CheckAddr checks one address without resolving anything.
func (c *Checker) CheckAddr(ctx context.Context, addr netip.AddrPort, opts Options) Result {
	if err := ctx.Err(); err != nil {
		r := contextFailure(err)
		r.Addr = addr
		return r
	}
	return c.eng.check(ctx, addr, opts)
}
