package prober

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"syscall"
	"time"
)

// Plan says how many checks one probe makes and how they are judged
// together. The zero Plan is one check that must find the port open.
type Plan struct {
	// SYNCount is how many checks each address gets; 0 means 1.
	SYNCount int
	// SYNInterval spaces the rounds of checks: round k starts k intervals
	// after the first. 0 starts them all at once.
	SYNInterval time.Duration
	// AllAddresses checks every address the name resolves to (of the
	// families Options allow) instead of the one Options choose.
	AllAddresses bool
	// AddressLimit caps the addresses checked with AllAddresses; 0 means
	// no cap. The rest, in sorted order, are cut.
	AddressLimit int
	// Expect is the class every check should end in.
	Expect Expect
	// MinOpenRatio, with Expect open, is the share of checks that must
	// find the port open; 0 means any one.
	MinOpenRatio float64
}

// Expect is the outcome a probe wants from its checks.
type Expect uint8

// The expectations a module can set.
const (
	ExpectOpen        Expect = iota // a SYN-ACK
	ExpectClosed                    // anything but open, local and resolve: the port does not answer
	ExpectRefused                   // an RST
	ExpectTimeout                   // no answer: dropped on the way
	ExpectUnreachable               // an ICMP unreachable (or a remote reject)
	ExpectProhibited                // a local prohibit route or policy
)

var expectNames = [...]string{
	ExpectOpen:        "open",
	ExpectClosed:      "closed",
	ExpectRefused:     "refused",
	ExpectTimeout:     "timeout",
	ExpectUnreachable: "unreachable",
	ExpectProhibited:  "prohibited",
}

// ParseExpect reads an expectation by its name in the configuration.
func ParseExpect(s string) (Expect, error) {
	if i := slices.Index(expectNames[:], s); i >= 0 {
		return Expect(i), nil
	}
	return 0, fmt.Errorf("%q is not one of open, closed, refused, timeout, unreachable, prohibited", s)
}

// String returns the name the configuration uses.
func (e Expect) String() string {
	if int(e) < len(expectNames) {
		return expectNames[e]
	}
	return fmt.Sprintf("Expect(%d)", e)
}

// Met reports whether a check that ended in class c is what e wants.
// A check the prober could not make (local) or a name that did not
// resolve says nothing about the port, so it meets no expectation.
func (e Expect) Met(c Class) bool {
	switch e {
	case ExpectOpen:
		return c == ClassOpen
	case ExpectClosed:
		return c != ClassOpen && c != ClassLocal && c != ClassResolve
	case ExpectRefused:
		return c == ClassRefused
	case ExpectTimeout:
		return c == ClassTimeout
	case ExpectUnreachable:
		return c == ClassUnreachable
	case ExpectProhibited:
		return c == ClassProhibited
	}
	return false
}

// syns is the number of checks per address.
func (p Plan) syns() int { return max(p.SYNCount, 1) }

// CheckMany makes the checks plan asks for against target and sums them
// up. The checks run concurrently through the Checker's one loop: this
// goroutine sends each round's SYNs and then waits for every answer,
// with no goroutine per check. Each check ends at ctx's deadline, so a
// check started later has that much less time. A round that would start
// after half of the budget left at the first one is not started (see
// Summary.Results): its SYNs would have little time to be answered, and
// a late answer counts the same as a lost one.
func (c *Checker) CheckMany(ctx context.Context, target string, opts Options, plan Plan) Summary {
	if opts.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, opts.Timeout)
		defer cancel()
	}
	s := Summary{Plan: plan}
	if addrs, ok := c.addresses(ctx, target, opts, &s); ok {
		s.Results = c.rounds(ctx, addrs, opts, plan)
	}
	s.summarize()
	return s
}

// rounds starts plan's rounds of checks to addrs and returns every
// result, round by round, each round in the order of addrs.
func (c *Checker) rounds(ctx context.Context, addrs []netip.AddrPort, opts Options, plan Plan) []Result {
	results := make([]Result, plan.syns()*len(addrs))
	var wg sync.WaitGroup
	first := time.Now()
	last := time.Duration(-1) // the latest offset a round may start at; -1 is none
	if deadline, ok := ctx.Deadline(); ok {
		last = deadline.Sub(first) / 2
	}
	var timer *time.Timer
	started := 0
	for k := range plan.syns() {
		if k > 0 && plan.SYNInterval > 0 {
			offset := time.Duration(k) * plan.SYNInterval
			if last >= 0 && offset > last {
				break
			}
			wait := time.Until(first.Add(offset))
			if timer == nil {
				timer = time.NewTimer(wait)
				defer timer.Stop()
			} else {
				timer.Reset(wait)
			}
			select {
			case <-timer.C:
			case <-ctx.Done():
			}
		}
		if ctx.Err() != nil && k > 0 {
			break
		}
		for _, addr := range addrs {
			i := started
			started++
			wg.Add(1)
			r, ok := c.BeginAddr(ctx, addr, opts, func(r Result) {
				results[i] = r
				wg.Done()
			})
			if ok {
				results[i] = r
				wg.Done()
			}
		}
	}
	wg.Wait()
	return results[:started]
}

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
		if ip.IsValid() && allowsFamily(opts, familyOf(ip)) {
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
