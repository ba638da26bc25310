package prober

import (
	"context"
	"net/netip"
	"sync"
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
	ctx, cancel := opts.bound(ctx)
	defer cancel()
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
